// SPDX-License-Identifier: GPL-2.0
/* Stops its timer at exit: timer_shutdown_sync (6.2+) or del_timer_sync. */
#define TIMER_SAFE
#include "timer.c"
