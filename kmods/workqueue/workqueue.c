// SPDX-License-Identifier: GPL-2.0
/*
 * workqueue.c - a module with a self-requeueing delayed work (struct
 * delayed_work in the module's .bss: a work_struct and the timer_list that
 * queues it), rescheduled every period_ms on the system workqueue, in two
 * variants that differ only in the exit function:
 *
 * WORKQUEUE_SAFE    cancel_delayed_work_sync(): it marks the work as being
 *                   cancelled (WORK_OFFQ_CANCELING, so the function's own
 *                   requeue fails), deletes the pending timer, and waits
 *                   for a run in progress to finish. After exit returns no
 *                   worker runs the function and neither the timer wheel
 *                   nor a worklist holds a pointer into the module.
 *
 * WORKQUEUE_UNSAFE  forgets it. The delayed work is, almost all of the
 *                   time, waiting on its timer, so the timer wheel links a
 *                   timer_list in freed (unmapped) module memory, and the
 *                   next timer softirq faults walking it, in interrupt
 *                   context: the kernel panics, as with kmods/timer. (Were
 *                   it caught queued, a kworker would fault in
 *                   process_one_work instead.)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/workqueue.h>

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "how often the work runs");

static void work_fn(struct work_struct *w);
static DECLARE_DELAYED_WORK(work, work_fn);
static unsigned long runs;

static void work_fn(struct work_struct *w)
{
	if (++runs == 1)
		pr_info("first run\n");
	schedule_delayed_work(&work, msecs_to_jiffies(period_ms));
}

static int __init lab_wq_init(void)
{
	schedule_delayed_work(&work, msecs_to_jiffies(period_ms));
	pr_info("loaded, the work runs every %u ms\n", period_ms);
	return 0;
}

static void __exit lab_wq_exit(void)
{
#ifdef WORKQUEUE_SAFE
	cancel_delayed_work_sync(&work);
#endif
	pr_info("exit after %lu runs\n", runs);
}

module_init(lab_wq_init);
module_exit(lab_wq_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: a self-requeueing delayed work, cancelled at exit or not");
