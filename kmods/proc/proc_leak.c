// SPDX-License-Identifier: GPL-2.0
/* Forgets remove_proc_entry(): the entry outlives its proc_ops. */
#define PROC_LEAK
#include "proc.c"
