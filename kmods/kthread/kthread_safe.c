// SPDX-License-Identifier: GPL-2.0
/* Stops its thread at exit (kthread_stop). */
#define KTHREAD_SAFE
#include "kthread.c"
