// SPDX-License-Identifier: GPL-2.0
/*
 * notifier.c - a module that registers a module notifier
 * (register_module_notifier: told of every other module's load and
 * unload), its notifier_block in the module's own .data, in two variants
 * that differ only in the exit function:
 *
 * NOTIFIER_SAFE    unregister_module_notifier(): takes the block off
 *                  module_notify_list under the chain's rwsem for writing,
 *                  so no call chain is walking it when the module goes.
 *
 * NOTIFIER_UNSAFE  forgets it. The chain (a blocking notifier head in the
 *                  core kernel) still links the freed block. The next
 *                  module load calls the chain (prepare_coming_module →
 *                  blocking_notifier_call_chain) and notifier_call_chain
 *                  reads the block's notifier_call from unmapped memory: a
 *                  page fault in the loading task, holding the chain's
 *                  rwsem for reading, which is then never released.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/notifier.h>

static int lab_module_event(struct notifier_block *nb, unsigned long action, void *data)
{
	struct module *mod = data;

	if (action == MODULE_STATE_COMING)
		pr_info("%s is coming\n", mod->name);
	return NOTIFY_DONE;
}

static struct notifier_block lab_nb = {
	.notifier_call = lab_module_event,
};

static int __init lab_notifier_init(void)
{
	return register_module_notifier(&lab_nb);
}

static void __exit lab_notifier_exit(void)
{
#ifdef NOTIFIER_SAFE
	unregister_module_notifier(&lab_nb);
#endif
	pr_info("exit\n");
}

module_init(lab_notifier_init);
module_exit(lab_notifier_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lab: a module notifier, unregistered at exit or not");
