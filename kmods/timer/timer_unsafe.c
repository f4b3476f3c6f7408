// SPDX-License-Identifier: GPL-2.0
/* Leaves its timer armed at exit: the next tick runs on freed memory. */
#define TIMER_UNSAFE
#include "timer.c"
