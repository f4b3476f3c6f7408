// SPDX-License-Identifier: GPL-2.0
/*
 * fault_inject.c - a misc device /dev/fault_inject whose read breaks the
 * guest in the way its "mode" parameter names. lab's tests use it to check
 * that the lab survives a guest that does each of these for real:
 *
 * mode=hang         the reading CPU disables interrupts and spins: with one
 *                   vCPU the whole guest stops answering, and nothing (not
 *                   even the soft-lockup watchdog, which needs interrupts)
 *                   prints a word. QEMU itself stays responsive to QMP.
 * mode=kill_parent  SIGKILL to the reader's parent: for a lab holder that is
 *                   the agent, so the SSH connection drops mid-step.
 * mode=oops         a NULL pointer dereference (with oops=panic on the
 *                   kernel command line this becomes a panic).
 * mode=flaky        the oops of mode=oops on a coin toss (get_random_u32()),
 *                   else the read returns "lucky": a cell whose outcome
 *                   differs from run to run, for --repeat's rates.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>

static char *mode = "hang";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "what a read does: hang, kill_parent, oops or flaky");

static ssize_t fault_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	if (!strcmp(mode, "hang")) {
		pr_emerg("hanging this CPU with interrupts off\n");
		local_irq_disable();
		for (;;)
			cpu_relax();
	}
	if (!strcmp(mode, "kill_parent")) {
		struct task_struct *parent;

		rcu_read_lock();
		parent = rcu_dereference(current->real_parent);
		get_task_struct(parent);
		rcu_read_unlock();
		pr_info("killing %s[%d], the parent of %s[%d]\n",
			parent->comm, task_pid_nr(parent), current->comm, task_pid_nr(current));
		send_sig(SIGKILL, parent, 1);
		put_task_struct(parent);
		return 0;
	}
	if (!strcmp(mode, "oops") || (!strcmp(mode, "flaky") && (get_random_u32() & 1))) {
		int *volatile p = NULL;

		return *p;
	}
	if (!strcmp(mode, "flaky"))
		return simple_read_from_buffer(buf, len, ppos, "lucky\n", 6);
	return -EINVAL;
}

static const struct file_operations fault_fops = {
	.owner = THIS_MODULE,
	.read = fault_read,
};

static struct miscdevice fault_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "fault_inject",
	.fops = &fault_fops,
	.mode = 0444,
};

static int __init fault_init(void)
{
	pr_info("loaded, mode=%s\n", mode);
	return misc_register(&fault_dev);
}

static void __exit fault_exit(void)
{
	misc_deregister(&fault_dev);
}

module_init(fault_init);
module_exit(fault_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: break the guest on purpose (hang, kill the agent, oops)");
