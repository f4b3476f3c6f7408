// SPDX-License-Identifier: GPL-2.0
/*
 * chardev.c - the device of "Kernel Segfaults for Fun" (Stephen Brennan,
 * 2016, after the Linux Kernel Module Programming Guide), in three variants
 * that differ only in what keeps the module in memory while a file is open.
 * It is built once per variant through a chardev_<variant>.c wrapper that
 * defines exactly one of:
 *
 * CHARDEV_SAFE    .owner = THIS_MODULE. chrdev_open() takes two module
 *                 references before it calls us: cdev_get() (register_chrdev
 *                 copies fops->owner into the cdev) and fops_get(). __fput()
 *                 drops them after the last close, after our release has
 *                 returned. While any file is open, delete_module() sees a
 *                 non-zero refcount and rmmod fails (EWOULDBLOCK/EBUSY); no
 *                 module code can run after the module is gone.
 *
 * CHARDEV_UNSAFE  no .owner, no try_module_get(). rmmod succeeds while a file
 *                 is open, yet that struct file still points at our fops,
 *                 which lived in the freed module image. The next read
 *                 follows file->f_op into unmapped memory and oopses; closing
 *                 the file (even by the dying task) oopses again.
 *
 * CHARDEV_GETPUT  the LKMPG / seed style: no .owner, try_module_get() in open
 *                 and module_put() in release. Usually this works like SAFE,
 *                 but it has a race, because a module cannot pin itself from
 *                 inside its own code:
 *                 - open: the VFS fetched &fops and calls device_open()
 *                   holding no reference; if rmmod finishes in between, the
 *                   call lands in freed memory before try_module_get() runs.
 *                   A failing try_module_get() (module going away) is also
 *                   executed by code that may be freed under it.
 *                 - release: after module_put() the count may drop to zero
 *                   and rmmod may free the module while device_release() is
 *                   still returning, and __fput() reads file->f_op->owner
 *                   (fops_put) after release: both touch freed memory.
 *                 .owner closes these windows because the reference is taken
 *                 and dropped by the VFS, outside the module.
 *
 * Every open bumps a counter; read returns
 * "I already told you N times Hello world!\n", N being the count before that
 * open (the first open reads 0). Each open has its own copy of the message
 * in file->private_data, so opens do not exclude each other (the seed's
 * Device_Open/-EBUSY check is gone) and lseek to 0 lets it be read again.
 * A class + device_create() make devtmpfs show /dev/<module name>.
 *
 * For lab's write, ioctl and mmap steps (none of the rmmod experiments use
 * them): a write replaces this open's message (read it back after seeking to
 * 0); ioctl CHARDEV_IOC_OPENS returns the open count, CHARDEV_IOC_GET_OPENS
 * stores it as an int at its argument; mmap maps one page, shared by all
 * opens, that starts as "chardev page\n".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>

#if defined(CHARDEV_SAFE) + defined(CHARDEV_UNSAFE) + defined(CHARDEV_GETPUT) != 1
#error "define exactly one of CHARDEV_SAFE, CHARDEV_UNSAFE, CHARDEV_GETPUT"
#endif

#if defined(CHARDEV_SAFE)
#define VARIANT "safe: fops.owner = THIS_MODULE"
#elif defined(CHARDEV_UNSAFE)
#define VARIANT "unsafe: no module reference while open"
#else
#define VARIANT "getput: try_module_get in open, module_put in release"
#endif

static int major;
static struct class *cls;
static atomic_t opens = ATOMIC_INIT(0);
static unsigned long page;

#define CHARDEV_IOC_OPENS _IO('c', 1)
#define CHARDEV_IOC_GET_OPENS _IOR('c', 2, int)

static int device_open(struct inode *inode, struct file *file)
{
	int n;

#ifdef CHARDEV_GETPUT
	/* Fails once rmmod has begun (MODULE_STATE_GOING). */
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;
#endif
	n = atomic_inc_return(&opens) - 1;
	file->private_data = kasprintf(GFP_KERNEL,
				       "I already told you %d times Hello world!\n",
				       n);
	if (!file->private_data) {
#ifdef CHARDEV_GETPUT
		module_put(THIS_MODULE);
#endif
		return -ENOMEM;
	}
	return 0;
}

static int device_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
#ifdef CHARDEV_GETPUT
	/* Last thing we do, and still racy: see the top of this file. */
	module_put(THIS_MODULE);
#endif
	return 0;
}

static ssize_t device_read(struct file *file, char __user *buf, size_t len,
			   loff_t *ppos)
{
	const char *msg = file->private_data;

	/* Honours and advances *ppos: returns 0 at the end of the message. */
	return simple_read_from_buffer(buf, len, ppos, msg, strlen(msg));
}

static ssize_t device_write(struct file *file, const char __user *buf,
			    size_t len, loff_t *ppos)
{
	char *msg;

	if (len > 256)
		return -EINVAL;
	msg = memdup_user_nul(buf, len);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	kfree(file->private_data);
	file->private_data = msg;
	return len;
}

static long device_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case CHARDEV_IOC_OPENS:
		return atomic_read(&opens);
	case CHARDEV_IOC_GET_OPENS:
		return put_user(atomic_read(&opens), (int __user *)arg);
	}
	return -ENOTTY;
}

static int device_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start > PAGE_SIZE)
		return -EINVAL;
	return remap_pfn_range(vma, vma->vm_start, page_to_pfn(virt_to_page((void *)page)),
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

/*
 * In the UNSAFE and GETPUT variants nothing outside this module knows that
 * this table belongs to it: open files point here whether or not the module
 * is still loaded.
 */
static const struct file_operations fops = {
#ifdef CHARDEV_SAFE
	.owner = THIS_MODULE,
#endif
	.open = device_open,
	.release = device_release,
	.read = device_read,
	.write = device_write,
	.unlocked_ioctl = device_ioctl,
	.mmap = device_mmap,
	.llseek = default_llseek,
};

static int __init chardev_init(void)
{
	struct device *dev;
	int err;

	page = get_zeroed_page(GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	strscpy((char *)page, "chardev page\n", PAGE_SIZE);

	major = register_chrdev(0, KBUILD_MODNAME, &fops);
	if (major < 0) {
		free_page(page);
		return major;
	}

	/* class_create() lost its owner argument in 6.4. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	cls = class_create(KBUILD_MODNAME);
#else
	cls = class_create(THIS_MODULE, KBUILD_MODNAME);
#endif
	if (IS_ERR(cls)) {
		err = PTR_ERR(cls);
		goto out_chrdev;
	}

	dev = device_create(cls, NULL, MKDEV(major, 0), NULL, KBUILD_MODNAME);
	if (IS_ERR(dev)) {
		err = PTR_ERR(dev);
		goto out_class;
	}

	pr_info("registered with major number %d as /dev/%s (%s)\n",
		major, KBUILD_MODNAME, VARIANT);
	return 0;

out_class:
	class_destroy(cls);
out_chrdev:
	unregister_chrdev(major, KBUILD_MODNAME);
	free_page(page);
	return err;
}

static void __exit chardev_exit(void)
{
	/*
	 * Removes the device node and the cdev, so no new open can find us.
	 * Files that are already open are not touched: only a module
	 * reference (SAFE, GETPUT) keeps us from getting here while they exist.
	 */
	device_destroy(cls, MKDEV(major, 0));
	class_destroy(cls);
	unregister_chrdev(major, KBUILD_MODNAME);
	free_page(page);
	pr_info("unregistered major number %d\n", major);
}

module_init(chardev_init);
module_exit(chardev_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab chardev, " VARIANT);
