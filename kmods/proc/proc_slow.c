// SPDX-License-Identifier: GPL-2.0
/* read sleeps delay_ms first, so rmmod can meet a read in flight. */
#define PROC_SLOW
#include "proc.c"
