// SPDX-License-Identifier: GPL-2.0
/* Leaves its delayed work pending at exit. */
#define WORKQUEUE_UNSAFE
#include "workqueue.c"
