// SPDX-License-Identifier: GPL-2.0
/* No module reference at all: rmmod succeeds while open, the next read oopses. */
#define CHARDEV_UNSAFE
#include "chardev.c"
