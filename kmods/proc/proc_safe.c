// SPDX-License-Identifier: GPL-2.0
/* Plain proc_ops, no module reference: procfs itself makes rmmod safe. */
#define PROC_SAFE
#include "proc.c"
