// SPDX-License-Identifier: GPL-2.0
/* Cancels its delayed work at exit (cancel_delayed_work_sync). */
#define WORKQUEUE_SAFE
#include "workqueue.c"
