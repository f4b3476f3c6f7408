// SPDX-License-Identifier: GPL-2.0
/*
 * timer.c - a module with a periodic kernel timer (struct timer_list in the
 * module's own .bss, its handler re-arming it every period_ms), in two
 * variants that differ only in what the exit function does:
 *
 * TIMER_SAFE    stops the timer for good before the module goes:
 *               timer_shutdown_sync() from 6.2 on (it also makes any later
 *               re-arm a no-op), del_timer_sync() before (it loops until
 *               the timer is neither pending nor running, so a handler that
 *               re-arms itself is caught on its next try). After exit
 *               returns, no CPU runs the handler and the timer wheel holds
 *               no pointer into the module.
 *
 * TIMER_UNSAFE  forgets it. delete_module() frees the module's memory (its
 *               text and .bss are vmalloc'ed and unmapped at once,
 *               VM_FLUSH_RESET_PERMS) while the timer wheel still links
 *               the timer_list that lived in .bss. The next timer softirq
 *               walks that list (__run_timers / expire_timers) into
 *               unmapped memory and faults in interrupt context: "Fatal
 *               exception in interrupt", the kernel panics.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/timer.h>
#include <linux/version.h>

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "the timer's period");

static struct timer_list tick;
static unsigned long ticks;

static void tick_fn(struct timer_list *t)
{
	if (++ticks == 1)
		pr_info("first tick\n");
	mod_timer(t, jiffies + msecs_to_jiffies(period_ms));
}

static int __init lab_timer_init(void)
{
	timer_setup(&tick, tick_fn, 0);
	mod_timer(&tick, jiffies + msecs_to_jiffies(period_ms));
	pr_info("loaded, a tick every %u ms\n", period_ms);
	return 0;
}

static void __exit lab_timer_exit(void)
{
#ifdef TIMER_SAFE
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	timer_shutdown_sync(&tick);
#else
	del_timer_sync(&tick);
#endif
#endif
	pr_info("exit after %lu ticks\n", ticks);
}

module_init(lab_timer_init);
module_exit(lab_timer_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: a periodic timer, stopped at exit or not");
