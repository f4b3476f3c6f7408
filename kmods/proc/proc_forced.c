// SPDX-License-Identifier: GPL-2.0
/* The raw permanent bit (1U << 0) the header hides from modules: unsafe. */
#define PROC_FORCED
#include "proc.c"
