// SPDX-License-Identifier: GPL-2.0
/* LKMPG style: try_module_get() in open, module_put() in release. */
#define CHARDEV_GETPUT
#include "chardev.c"
