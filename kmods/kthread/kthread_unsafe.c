// SPDX-License-Identifier: GPL-2.0
/* Leaves its thread running at exit. */
#define KTHREAD_UNSAFE
#include "kthread.c"
