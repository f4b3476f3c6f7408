// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs.c - a module with one debugfs file, /sys/kernel/debug/<module
 * name>, whose read returns a line; its file_operations have no .owner (a
 * debugfs user rarely sets it), and the exit function removes the file.
 * Two variants differ in how the file is created:
 *
 * DEBUGFS_SAFE    debugfs_create_file(): every open file gets debugfs's
 *                 full proxy file_operations (fs/debugfs/file.c), and each
 *                 call goes through debugfs_file_get(), which counts the
 *                 callers in; debugfs_remove() marks the file removed and
 *                 waits for the callers in flight. After the module is
 *                 gone the proxy calls nothing of it: a read on a file
 *                 still open fails with EIO.
 *
 * DEBUGFS_UNSAFE  debugfs_create_file_unsafe(), which says the file's
 *                 operations protect themselves (debugfs_file_get/put,
 *                 which these do not call): open swaps the file's f_op
 *                 for the module's own, as a character device does. rmmod
 *                 succeeds while the file is open; the next read follows
 *                 f_op into the freed module and oopses, like
 *                 chardev-unsafe.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>

static const char line[] = KBUILD_MODNAME ": hello\n";

static ssize_t lab_read(struct file *file, char __user *buf, size_t len, loff_t *pos)
{
	return simple_read_from_buffer(buf, len, pos, line, sizeof(line) - 1);
}

static const struct file_operations lab_fops = {
	.read = lab_read,
	.llseek = default_llseek,
};

static struct dentry *file;

static int __init lab_debugfs_init(void)
{
#ifdef DEBUGFS_SAFE
	file = debugfs_create_file(KBUILD_MODNAME, 0444, NULL, NULL, &lab_fops);
#else
	file = debugfs_create_file_unsafe(KBUILD_MODNAME, 0444, NULL, NULL, &lab_fops);
#endif
	return PTR_ERR_OR_ZERO(file);
}

static void __exit lab_debugfs_exit(void)
{
	debugfs_remove(file);
}

module_init(lab_debugfs_init);
module_exit(lab_debugfs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: a debugfs file, through debugfs's proxy or not");
