// SPDX-License-Identifier: GPL-2.0
/* debugfs_create_file_unsafe without debugfs_file_get/put. */
#define DEBUGFS_UNSAFE
#include "debugfs.c"
