// SPDX-License-Identifier: GPL-2.0
/* .owner = THIS_MODULE: rmmod fails while the device is open. */
#define CHARDEV_SAFE
#include "chardev.c"
