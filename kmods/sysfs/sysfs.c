// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs.c - a module with a sysfs attribute, "value", whose show() sleeps
 * delay_ms before it answers, in two variants:
 *
 * SYSFS_SAFE    the attribute sits on a kobject the module owns,
 *               /sys/kernel/sysfs_safe (kobject_create_and_add under
 *               kernel_kobj), released at exit with kobject_put(). The
 *               release removes the directory through kernfs, and
 *               kernfs_drain() waits until no show() is in flight (each
 *               read holds an active reference, kernfs_get_active): an
 *               rmmod during a read waits for it, D in kernfs_drain, and
 *               the read completes with its data. A read on the file still
 *               open afterwards finds the node deactivated and fails with
 *               ENODEV (kernfs_seq_start).
 *
 * SYSFS_UNSAFE  the attribute is added straight to a kobject the module
 *               does not own, kernel_kobj (/sys/kernel/sysfs_unsafe_value),
 *               and never removed. Nothing ties the file to the module: it
 *               outlives it, and a read after rmmod has sysfs call the
 *               attribute's show() through a kobj_attribute in freed
 *               module memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/sysfs.h>

static unsigned int delay_ms;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, "how long show() sleeps before it answers");

static ssize_t value_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	msleep(delay_ms);
	return sysfs_emit(buf, "%s: value\n", KBUILD_MODNAME);
}

#ifdef SYSFS_SAFE
static struct kobj_attribute value_attr = __ATTR_RO(value);
static struct kobject *kobj;

static int __init lab_sysfs_init(void)
{
	int err;

	kobj = kobject_create_and_add(KBUILD_MODNAME, kernel_kobj);
	if (!kobj)
		return -ENOMEM;
	err = sysfs_create_file(kobj, &value_attr.attr);
	if (err)
		kobject_put(kobj);
	return err;
}

static void __exit lab_sysfs_exit(void)
{
	kobject_put(kobj);
}
#else
static struct kobj_attribute value_attr = __ATTR(sysfs_unsafe_value, 0444, value_show, NULL);

static int __init lab_sysfs_init(void)
{
	return sysfs_create_file(kernel_kobj, &value_attr.attr);
}

static void __exit lab_sysfs_exit(void)
{
	/* sysfs_remove_file(kernel_kobj, &value_attr.attr) is missing. */
}
#endif

module_init(lab_sysfs_init);
module_exit(lab_sysfs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: a sysfs attribute on the module's own kobject or on kernel_kobj");
