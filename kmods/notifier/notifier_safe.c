// SPDX-License-Identifier: GPL-2.0
/* Unregisters its module notifier at exit. */
#define NOTIFIER_SAFE
#include "notifier.c"
