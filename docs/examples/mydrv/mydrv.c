// SPDX-License-Identifier: GPL-2.0
/*
 * mydrv: a misc device whose file_operations forget .owner, the bug lab's
 * "your own module" example is about. Reading /dev/mydrv returns a
 * greeting; nothing keeps the module in memory while the file is open, so
 * rmmod succeeds and the next read jumps into freed memory.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static const char greeting[] = "hello from mydrv\n";

static ssize_t mydrv_read(struct file *file, char __user *buf, size_t len, loff_t *pos)
{
	return simple_read_from_buffer(buf, len, pos, greeting, sizeof(greeting) - 1);
}

static const struct file_operations mydrv_fops = {
	/* .owner = THIS_MODULE is missing: that is the bug. */
	.read = mydrv_read,
	.llseek = default_llseek,
};

static struct miscdevice mydrv_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mydrv",
	.fops = &mydrv_fops,
};

module_misc_device(mydrv_dev);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("a misc device without .owner, for lab's example");
