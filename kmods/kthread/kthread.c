// SPDX-License-Identifier: GPL-2.0
/*
 * kthread.c - a module that starts a kernel thread (named after the
 * module) looping "while (!kthread_should_stop()) msleep(period_ms)", in
 * two variants that differ only in the exit function:
 *
 * KTHREAD_SAFE    kthread_stop(): sets the thread's should-stop flag, wakes
 *                 it and waits until the thread function has returned. The
 *                 thread runs no module code after exit returns.
 *
 * KTHREAD_UNSAFE  forgets it. The thread sleeps in msleep(), kernel code,
 *                 while delete_module() frees and unmaps the module's text.
 *                 When its sleep ends, msleep() returns into the loop that
 *                 is no longer there: an instruction fetch from unmapped
 *                 memory, a page fault in the thread's own (process)
 *                 context. The oops kills the thread; the kernel goes on.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "how long the thread sleeps per loop");

static struct task_struct *thread;
static unsigned long loops;

static int loop(void *data)
{
	pr_info("thread %s/%d running\n", current->comm, task_pid_nr(current));
	while (!kthread_should_stop()) {
		msleep(period_ms);
		loops++;
	}
	return 0;
}

static int __init lab_kthread_init(void)
{
	thread = kthread_run(loop, NULL, "%s", KBUILD_MODNAME);
	if (IS_ERR(thread))
		return PTR_ERR(thread);
	return 0;
}

static void __exit lab_kthread_exit(void)
{
#ifdef KTHREAD_SAFE
	kthread_stop(thread);
#endif
	pr_info("exit after %lu loops\n", loops);
}

module_init(lab_kthread_init);
module_exit(lab_kthread_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: a kernel thread, stopped at exit or not");
