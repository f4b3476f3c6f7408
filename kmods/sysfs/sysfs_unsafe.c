// SPDX-License-Identifier: GPL-2.0
/* An attribute on kernel_kobj, never removed. */
#define SYSFS_UNSAFE
#include "sysfs.c"
