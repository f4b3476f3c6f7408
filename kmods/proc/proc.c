// SPDX-License-Identifier: GPL-2.0
/*
 * proc.c - a /proc file, /proc/<module name>, in five variants that ask one
 * question: what keeps a module's procfs callbacks from running after rmmod?
 * It is built once per variant through a proc_<variant>.c wrapper that
 * defines exactly one of:
 *
 * PROC_SAFE       ordinary struct proc_ops, no owner (proc_ops has no .owner
 *                 field) and no try_module_get(). rmmod succeeds while a file
 *                 is open, and that is safe: see "How procfs protects a
 *                 module" below.
 *
 * PROC_PERMANENT  .proc_flags = PROC_ENTRY_PERMANENT, the flag that tells
 *                 procfs "this entry is never removed, skip the protection".
 *                 include/linux/proc_fs.h defines it as 0U when MODULE is
 *                 defined (it is, for every out-of-tree module), so this
 *                 variant sets no bit at all and behaves exactly like SAFE.
 *
 * PROC_FORCED     sets the raw bit (1U << 0) that the header hides from
 *                 modules. procfs believes the entry is permanent: no
 *                 protection, and remove_proc_entry() refuses to remove it
 *                 (two WARNINGs), so the entry stays while the module and
 *                 its proc_ops go. The next call through an open file (or
 *                 its close) reads the freed proc_ops and oopses.
 *
 * PROC_LEAK       forgets remove_proc_entry() in its exit function. Nothing
 *                 stops rmmod, the entry stays in /proc and points at freed
 *                 proc_ops: the next call on an open file oopses, and so does
 *                 a fresh open.
 *
 * PROC_SLOW       like SAFE, but read sleeps delay_ms (a module parameter,
 *                 default 3000) before it answers, so that rmmod can be
 *                 issued while a read is in flight: rmmod then waits
 *                 (uninterruptibly) until the read has returned.
 *
 * How procfs protects a module (fs/proc/inode.c and generic.c, 5.6 to 7.x).
 * A struct file of a /proc entry never points at the module's callbacks:
 * its f_op is procfs's own proc_reg_file_ops (built into the kernel), and
 * every proc_reg_*() wrapper brackets the call into the module with
 * use_pde()/unuse_pde(), a counter of calls in flight on the entry
 * (pde->in_use). remove_proc_entry() first unhooks the entry (no new
 * lookup finds it: open fails with ENOENT), then proc_entry_rundown():
 *   1. adds a large negative BIAS to in_use: from then on use_pde() fails,
 *      and the wrappers return an error instead of calling us (read: EIO,
 *      llseek: EINVAL, a second open of an already looked-up inode: ENOENT);
 *   2. waits (wait_for_completion, state D) until the calls in flight have
 *      returned; the last unuse_pde() completes it;
 *   3. calls our ->proc_release for every file that is still open
 *      (close_pdeo), and marks each closed so that the later close() of
 *      that file does not call us again.
 * So once remove_proc_entry() has returned, no module code can be reached
 * through the entry: the module's exit may finish and its memory be freed.
 * A module reference would not add anything, which is why proc_ops has no
 * .owner (file_operations, see kmods/chardev, needs one).
 *
 * Read returns "<module>: read N\n", N counting the reads that started at
 * offset 0 (the first one reads 1). It honours *ppos: the second read
 * returns 0 (end of file) until the file is seeked back to 0.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/build_bug.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/proc_fs.h>

#if defined(PROC_SAFE) + defined(PROC_PERMANENT) + defined(PROC_FORCED) + \
	defined(PROC_LEAK) + defined(PROC_SLOW) != 1
#error "define exactly one of PROC_SAFE, PROC_PERMANENT, PROC_FORCED, PROC_LEAK, PROC_SLOW"
#endif

#if defined(PROC_SAFE)
#define VARIANT "safe: plain proc_ops, procfs runs the entry down on removal"
#elif defined(PROC_PERMANENT)
#define VARIANT "permanent: PROC_ENTRY_PERMANENT, which is 0 in a module"
#elif defined(PROC_FORCED)
#define VARIANT "forced: raw permanent bit 1U << 0, no rundown"
#elif defined(PROC_LEAK)
#define VARIANT "leak: no remove_proc_entry() on exit"
#else
#define VARIANT "slow: read sleeps delay_ms before answering"
#endif

#ifdef PROC_SLOW
static unsigned int delay_ms = 3000;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, "how long each read sleeps before it answers (ms)");
#endif

static atomic_t reads = ATOMIC_INIT(0);

static ssize_t lab_read(struct file *file, char __user *buf, size_t len,
			 loff_t *ppos)
{
	char line[64];
	int n, size;

#ifdef PROC_SLOW
	/*
	 * msleep() sleeps TASK_UNINTERRUPTIBLE: the reader is D with wchan
	 * msleep, and a signal does not cut it short. We got here through
	 * use_pde(), so a remove_proc_entry() issued now waits in
	 * proc_entry_rundown() (D as well) until we return: the module cannot
	 * be freed under this sleep. With a long delay and a lowered
	 * kernel.hung_task_timeout_secs the hung-task checker reports both.
	 */
	msleep(delay_ms);
#endif
	/* A new count for each read from the start, not for each chunk. */
	n = *ppos == 0 ? atomic_inc_return(&reads) : atomic_read(&reads);
	size = scnprintf(line, sizeof(line), "%s: read %d\n", KBUILD_MODNAME, n);
	return simple_read_from_buffer(buf, len, ppos, line, size);
}

/*
 * procfs calls ->proc_release for each open file either when the file is
 * closed or, if the entry is removed first, from proc_entry_rundown() inside
 * rmmod: the console shows this line during rmmod for every file still
 * open. For a permanent entry (FORCED) release is called directly from
 * proc_reg_release() at close, whenever that is, module or no module.
 */
static int lab_release(struct inode *inode, struct file *file)
{
	pr_info("release (pid %d, %s)\n", task_pid_nr(current), current->comm);
	return 0;
}

/*
 * Lives in the module's read-only data and dies with it. After rmmod, the
 * struct proc_dir_entry of a FORCED or LEAK entry still points here
 * (pde->proc_ops): every proc_reg_*() wrapper reads a member of this struct
 * first, and that read faults.
 */
static const struct proc_ops lab_proc_ops = {
#if defined(PROC_PERMANENT)
	/*
	 * include/linux/proc_fs.h:
	 *	#ifdef MODULE
	 *		PROC_ENTRY_PERMANENT = 0U,
	 *	#else
	 *		PROC_ENTRY_PERMANENT = 1U << 0,
	 *	#endif
	 * A module cannot be "never removed", so the header turns the flag
	 * off for modules and this line sets nothing (checked at build time
	 * in lab_proc_init). The entry keeps the use_pde() protection.
	 */
	.proc_flags = PROC_ENTRY_PERMANENT,
#elif defined(PROC_FORCED)
	/*
	 * The value the kernel itself uses for PROC_ENTRY_PERMANENT, written
	 * out to get around the header. proc_create() copies it into
	 * pde->flags and pde_is_permanent() becomes true: the proc_reg_*()
	 * wrappers call us without use_pde(), and remove_proc_entry()
	 * refuses to remove the entry (WARNING "removing permanent /proc
	 * entry", then WARNING "name 'proc_forced'") and returns without
	 * running it down. Nothing then stands between an open file and the
	 * freed proc_ops.
	 */
	.proc_flags = 1U << 0,
#endif
	.proc_read = lab_read,
	.proc_lseek = default_llseek,
	.proc_release = lab_release,
};

static int __init lab_proc_init(void)
{
	/* The whole point of PROC_PERMANENT: the flag is nothing in a module. */
	BUILD_BUG_ON(PROC_ENTRY_PERMANENT != 0);

	/* No owner to pass: procfs guards the calls itself (see the top). */
	if (!proc_create(KBUILD_MODNAME, 0444, NULL, &lab_proc_ops))
		return -ENOMEM;
#ifdef PROC_SLOW
	pr_info("created /proc/%s, reads sleep %u ms (%s)\n", KBUILD_MODNAME,
		delay_ms, VARIANT);
#else
	pr_info("created /proc/%s (%s)\n", KBUILD_MODNAME, VARIANT);
#endif
	return 0;
}

static void __exit lab_proc_exit(void)
{
#ifdef PROC_LEAK
	/*
	 * The bug: remove_proc_entry() is missing. The entry stays in /proc
	 * with pde->proc_ops pointing into this module, which is freed when
	 * we return; procfs has no module reference to notice with.
	 */
	pr_info("exit without remove_proc_entry(): /proc/%s stays\n",
		KBUILD_MODNAME);
#else
	/*
	 * Unhooks the entry, waits for reads in flight, calls proc_release
	 * for every open file (see the top). For FORCED it WARNs twice and
	 * does nothing.
	 */
	remove_proc_entry(KBUILD_MODNAME, NULL);
	pr_info("remove_proc_entry() returned, module memory goes next\n");
#endif
}

module_init(lab_proc_init);
module_exit(lab_proc_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab procfs entry, " VARIANT);
