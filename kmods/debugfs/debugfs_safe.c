// SPDX-License-Identifier: GPL-2.0
/* debugfs_create_file: the full proxy protects each call. */
#define DEBUGFS_SAFE
#include "debugfs.c"
