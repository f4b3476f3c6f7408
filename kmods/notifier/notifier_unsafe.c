// SPDX-License-Identifier: GPL-2.0
/* Leaves its module notifier registered at exit. */
#define NOTIFIER_UNSAFE
#include "notifier.c"
