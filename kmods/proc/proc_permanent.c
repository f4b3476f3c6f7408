// SPDX-License-Identifier: GPL-2.0
/* .proc_flags = PROC_ENTRY_PERMANENT, which is 0 in a module: still safe. */
#define PROC_PERMANENT
#include "proc.c"
