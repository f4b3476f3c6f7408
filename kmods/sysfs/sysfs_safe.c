// SPDX-License-Identifier: GPL-2.0
/* An attribute on a kobject the module owns, released at exit. */
#define SYSFS_SAFE
#include "sysfs.c"
