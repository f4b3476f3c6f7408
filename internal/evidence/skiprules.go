package evidence

// The guilty-frame policy as data: skipRules are the functions every
// report looks past, kindRules (guilty_kinds.go) those one kind of
// report looks past besides.

// skipRule is one family of functions a title looks past when it names the
// guilty function: the frame a kernel engineer would blame is the first one
// that is not reporting machinery, a generic helper that checks on behalf
// of its caller, or scheduler and locking plumbing a task waits in.
//
// The idea of one table of skip patterns comes from syzkaller's
// pkg/report/linux.go (its stack "skip" regexps); the entries and their
// grouping here are our own.
type skipRule struct {
	re string // anchored at both ends, matched against the name without compiler suffixes
	// contains are substrings that put any name holding one in the
	// family, as syzkaller's patterns do ("kmalloc" in free_large_kmalloc):
	// a search for them is cheaper than a regexp that must try every
	// position.
	contains []string
	why      string
	// keep lists the policies that do not look past this family, even
	// for a name another family matches too: where the report's own kind
	// makes such a frame the one to blame (a hung task that waits in the
	// page fault handler hangs there).
	keep []policy
}

var skipRules = []skipRule{
	// Reporting machinery: it prints the report, it is never the bug.
	{re: `_*dump_stack(?:_lvl)?|show_stack|show_trace_log_lvl|show_regs|panic|__warn|warn_slowpath_\w+|warn_alloc|report_bug|handle_bug|fixup_bug|do_trap|do_error_trap|do_invalid_op|invalid_op|exc_invalid_op|asm_exc_invalid_op|die|__die|__die_body|oops_end|check_panic_on_warn`,
		why: "die(), __warn() and panic() print reports"},
	{re: `print_report|print_address_description\w*|describe_object\w*|end_report|start_report|_*kasan_\w+|kasan_\w+|__asan_\w+|asan_\w+|check_memory_region\w*|_*kmsan_\w+|__msan_\w+|_*kfence_\w+|kcsan_\w+|__kcsan_\w+|__tsan_\w+|__ubsan_handle_\w+|ubsan_\w+|handle_overflow|__sanitizer_\w+|write_comp_data`,
		why: "sanitizer runtime: KASAN/KMSAN/KFENCE/KCSAN/UBSAN hooks and their report code; KCOV's __sanitizer_cov_trace_pc"},
	{re: `nmi_cpu_backtrace|nmi_trigger_cpumask_backtrace|arch_trigger_cpumask_backtrace|trigger_single_cpu_backtrace|trigger_all_cpu_backtrace|dump_cpu_task|rcu_dump_cpu_stacks|print_cpu_stall|print_other_cpu_stall|check_cpu_stall|rcu_pending|rcu_sched_clock_irq|rcu_check_callbacks|watchdog_timer_fn|watchdog_overflow_callback|watchdog_hardlockup_check|hung_task\w*|check_hung_\w+|watchdog`,
		why: "stall, lockup and hung-task detectors: they run on the timer or NMI that caught the stall"},
	// Faults: the trap path that led to the report.
	{re: `page_fault_oops|no_context|_*bad_area_nosemaphore|do_user_addr_fault|do_kern_addr_fault|exc_page_fault|asm_exc_page_fault|kernelmode_fixup_or_oops|do_page_fault|page_fault|exc_general_protection|asm_exc_general_protection|general_protection|fixup_exception`,
		why:  "page fault and #GP entry: the trap path that led to an oops; a hung task keeps them, since one that blocks on the mmap lock while handling a user fault hangs in do_user_addr_fault (syzkaller skips no fault frame in hangs)",
		keep: []policy{policyHung}},
	// Interrupt and timer entry, for stalls and lockups caught in an IRQ.
	{re: `_*sysvec_\w+|asm_sysvec_\w+|asm_common_interrupt|common_interrupt|hrtimer_interrupt|__hrtimer_run_queues|__run_hrtimer|tick_sched_timer|tick_sched_handle|tick_nohz_\w+|update_process_times|__irq_exit_rcu|irq_exit_rcu|irq_exit|__do_softirq|do_softirq\w*|handle_softirqs|run_ksoftirqd|__perf_event_overflow|perf_event_overflow|handle_pmi_common|intel_pmu_handle_irq|perf_event_nmi_handler|nmi_handle|default_do_nmi|exc_nmi|asm_exc_nmi|end_repeat_nmi|nmi`,
		why: "interrupt, softirq and NMI entry"},
	// Checkers that WARN or BUG on behalf of their caller.
	{re: `refcount_warn_saturate|_*refcount_\w+|kref_\w+`, why: "refcount_t checks: the caller got the count wrong"},
	{re: `__list_(?:add|del)\w*_valid\w*|__list_del_entry\w*|__list_add\w*|list_(?:add|del|move|replace|splice)\w*|hlist_\w+|__hlist_\w+|rb_erase\w*|rb_insert\w*|__rb_\w+|rb_first|rb_next|rb_prev`,
		why: "CONFIG_DEBUG_LIST checks and list/rbtree helpers: the caller corrupted the list"},
	{re: `check_preemption_disabled|debug_smp_processor_id|__this_cpu_preempt_check|_*might_resched|_*might_sleep|__might_fault|might_fault|__cant_sleep|__cant_migrate|__schedule_bug|preempt_count_\w+`,
		why: "context checks: sleeping in atomic context, smp_processor_id() in preemptible code"},
	{re: `fortify_panic|__fortify_\w+|__read_overflow\w*|__write_overflow\w*|skb_panic|skb_over_panic|skb_under_panic|skb_put|skb_push|__skb_\w+_panic`,
		why: "bounds checks: fortify and skb_put/skb_push overflow"},
	{re: `debug_object\w*|debug_print_object|__debug_\w+|debug_check_no_obj_freed|free_obj_work|lookup_object_or_alloc`,
		contains: []string{"_is_static_object"},
		why:      "ODEBUG: the object's owner misused it; the per-type fixup callbacks (timer_is_static_object, work_is_static_object) run inside debugobjects, so a KASAN report in one is looked past even when its banner names it, as syzkaller does"},
	{re: `bad_page|free_page_is_bad\w*|free_pages_prepare|free_pcp_prepare|free_pages_check\w*|free_tail_page_prepare|_*free_unref_\w+|free_unref_\w+|__free_pages\w*|free_pages|__free_pages_ok|free_the_page|check_new_pages?|check_new_page_bad|__folio_put|folio_put\w*|put_page|release_pages|__put_page`,
		why: "bad page state is found where the page is freed or allocated"},
	// Memory and string helpers: the caller passed the bad pointer or size.
	{re: `_*mem(?:cpy|move|set|cmp|chr|scan)\w*|mem(?:cpy|move|set|cmp|chr)_\w+|_*str(?:len|nlen|cmp|ncmp|cpy|ncpy|scpy|cat|ncat|chr|rchr|str|lcpy)|sized_strscpy|str\w*_(?:user|pad)|_*copy_(?:to|from|tofrom|in)_user\w*|_copy_(?:to|from)_user|copy_user_\w+|raw_copy_(?:to|from|in)_user|_*copy_(?:to|from)_iter\w*|copy_page_(?:to|from)_iter\w*|copy_folio_to_iter|rep_movs_alternative|rep_stos_alternative|_*(?:get|put)_user\w*|__x86_indirect_thunk_\w+|__x86_return_thunk|__x86_indirect_call_thunk_\w+|__fentry__|__memcpy_\w+`,
		why: "mem*/str* and user-copy helpers (powerpc's __copy_tofrom_user backs both directions), retpoline thunks"},
	// Allocators: the caller leaked or freed twice.
	{re: `_*k[mvz]?alloc\w*|_*kvmalloc\w*|kmalloc_slab|kmalloc_trace\w*|_*kmem_cache_\w+|slab_\w+|__slab_\w+|___slab_alloc|_*kfree\w*|kvfree\w*|kfree_sensitive|krealloc\w*|kmemdup\w*|kstrdup\w*|kstrndup|_*vmalloc\w*|vzalloc\w*|vfree|__vfree|__vmalloc_node\w*|_*alloc_pages\w*|__get_free_pages|get_zeroed_page|alloc_slab_page|new_slab|allocate_slab|kmemleak_\w+|_*create_object`,
		contains: []string{"malloc", "zalloc", "calloc", "alloc_page"},
		why:      "allocators and free paths (and kmemleak's hook in them); like syzkaller, any name holding kmalloc, vmalloc, kzalloc, kcalloc or alloc_page is an allocator acting for its caller (free_large_kmalloc, __dma_direct_alloc_pages)"},
	// Locking: lockdep's report comes from inside the lock call; a hung or
	// lockup task spins or sleeps in it.
	{re: `_*lock_acquire\w*|lock_release|__lock_release|lock_acquired|lock_contended|lockdep_\w+|__lockdep_\w+|check_noncircular|check_prev_add|check_prevs_add|validate_chain|print_circular_bug\w*|print_deadlock_bug|print_usage_bug|print_irq_inversion_bug|mark_lock\w*|mark_usage|check_deadlock|lock_is_held_type|print_bad_irq_dependency|check_irq_usage|valid_state|print_unlock_imbalance_bug|__lock_is_held|debug_check_no_locks_\w+|spin_dump|spin_bug|do_raw_(?:spin|read|write)_\w+|_*raw_(?:spin|read|write)_\w+|queued_\w+_slowpath|native_queued_spin_lock_slowpath|__pv_queued_spin_lock_slowpath|pv_queued_spin_lock_slowpath|queued_spin_lock|arch_spin_lock|spin_lock\w*|spin_unlock\w*|_*rt_mutex\w*|_*lock_sock\w*|(?:reacquire|mark)_held_locks`,
		contains: []string{"lock_class"},
		why:      "lockdep, spinlock debugging and the lock calls they run in (lock_sock_nested is the socket lock's call; register_lock_class is lockdep's); only the raw spin, read and write lock calls, not every _raw_ name (a module's _raw_ram_load_all is its own code)"},
	{re: `rtlock_\w+|rt_(?:spin|read|write)_\w+|rwbase_\w+|__rwbase_\w+|rt_mutex_slowlock\w*|schedule_rtlock`,
		why: "PREEMPT_RT locks: spinlock_t and rwlock_t are rt_mutex based and sleep in their slow path (rt_spin_lock, rtlock_slowlock_locked, schedule_rtlock); the caller took the lock"},
	// Sleeping and waiting: a hung task always sleeps in __schedule;
	// what matters is who waited.
	{re: `_*schedule\w*|context_switch|__switch_to\w*|finish_task_switch\w*|preempt_schedule\w*|io_schedule\w*|wait_for_completion\w*|_*wait_for_common\w*|__mutex_lock\w*|mutex_lock\w*|mutex_unlock|rwsem_down_\w+|__rwsem_\w+|down_(?:read|write)\w*|_*down\w*|down|up_(?:read|write)|percpu_down_\w+|__percpu_down_\w+|percpu_rwsem_wait|bit_wait\w*|__wait_on_bit\w*|out_of_line_wait_on_bit\w*|wait_on_bit\w*|_*folio_wait_bit\w*|folio_wait_\w+|__folio_lock\w*|folio_lock\w*|__lock_page\w*|wait_on_page_bit\w*|_*wait_event\w*|prepare_to_wait\w*|finish_wait|wait_woken|_*flush_work\w*|_*wait_rcu_gp|synchronize_rcu\w*|__synchronize_srcu|synchronize_srcu\w*|rcu_barrier\w*|kthread_stop\w*|ret_from_fork\w*`,
		why: "scheduler, sleeping locks and wait primitives (timed sleeps, msleep and nanosleep, are the hung-task policy's: elsewhere the sleeper is the report's, as in scheduling while atomic in do_nanosleep)"},
	// Stack dumping itself, on every architecture.
	{re: `walk_stack\w*|dump_backtrace\w*|arch_stack_walk|stack_trace_save\w*|stack_trace_consume_entry|unwind_backtrace|print_tainted|get_taint|warn_bogus_irq_restore|__warn_printk|warn_printk|print_unlock_imbalance_bug|print_usage_bug\w*`,
		why: "the unwinder and the code that prints the trace run inside the report"},
	// Other architectures' trap paths: arm64 data aborts and BRK (BUG/WARN),
	// arm, powerpc program checks, riscv traps.
	{re: `do_(?:kernel|translation|bad_area|sea|tag_check)_fault|__do_kernel_fault|die_kernel_fault|do_mem_abort|do_bad_area|el1_abort|el1_da|el1_ia|el1_sync\w*|el1h_64_sync\w*|el1_dbg|el1_brk64|el1h_64_error\w*|do_debug_exception|call_break_hook|brk_handler|bug_brk_handler|bug_handler|do_undefinstr|arm64_\w+_panic|__do_page_fault|do_DataAbort|do_PrefetchAbort|__do_user_fault|__dabt_svc|__pabt_svc|do_alignment|program_check_exception|program_check_common|__program_check_exception|bad_page_fault|__bad_page_fault|do_page_fault|handle_page_fault|___do_page_fault|interrupt_return\w*|exc_page_fault|do_trap_\w+|handle_exception|ret_from_exception|do_exception|DataAccess\w*|InstructionAccess\w*|data_access_common\w*|instruction_access_common\w*`,
		why: "fault and trap entry on arm64, arm, powerpc and riscv"},
	// arm64 and powerpc interrupt entry, for stalls caught in an IRQ.
	{re: `el1h_64_irq\w*|el1_irq|el1_interrupt|__el1_irq|gic_handle_irq|handle_domain_irq|__handle_domain_irq|generic_handle_\w+|call_on_irq_stack|do_interrupt_handler|timer_interrupt|__do_irq|do_IRQ|handle_arch_irq|arch_timer_handler_\w+|handle_percpu_devid_irq|riscv_timer_interrupt|handle_riscv_irq`,
		why: "interrupt entry on arm64, arm, powerpc and riscv"},
	// Atomics, bit operations and MMIO accessors: the caller passed the pointer.
	{re: `(?:arch_)?atomic(?:64|_long)?_\w+|__atomic\w*|(?:__)?(?:set|clear|change|test)_bit\w*|test_and_\w+_bit\w*|(?:__raw_|io)?(?:read|write)[bwlq](?:_relaxed)?|logic_(?:in|out)\w*`,
		why: "atomics, bitops and MMIO accessors act on their caller's pointer"},
	// Formatting and printing: a bad %s or %p is the caller's.
	{re: `_*v?printk\w*|_printk|vprintk_\w+|_*v?s?n?printf|v?scnprintf|k?v?asprintf|va_format|string|string_nocheck|widen_string|pointer|symbol_string|_*dev_(?:info|notice|warn|err|alert|crit|emerg|printk)\w*|hex_dump_to_buffer|print_hex_dump\w*`,
		why: "printk and vsprintf: the caller's arguments are bad"},
	// Work, timer and kthread synchronisation: it waits for, or debugs,
	// the caller's object.
	{re: `_*flush_work\w*|__cancel_work\w*|cancel_work_sync|cancel_delayed_work_sync|try_to_grab_pending|_*flush_workqueue|drain_workqueue|destroy_workqueue|_*queue_work\w*|insert_work|__queue_delayed_work|queue_delayed_work_on|del_timer\w*|_*timer_delete_sync|timer_shutdown_sync|try_to_del_timer_sync|lock_timer_base|_*mod_timer|sk_stop_timer_sync|finish_wait|kthread_stop\w*|complete|complete_all|__wake_up\w*|cleanup_srcu_struct`,
		why: "workqueue, timer and completion plumbing act for their caller (the synchronous timer deletes wait for the caller's handler; __timer_delete itself is where a timer is touched, kept as syzkaller keeps it)"},
	// Device model and VFS reference helpers: the last put runs the
	// release of whoever dropped the reference.
	{re: `kobject_\w+|add_uevent_var|get_device_parent|device_(?:add|del|unregister|destroy|release|for_each_child|remove_file\w*)|put_device|devres_release_all|sysfs_remove\w*|klist_\w+|dput|fast_dput|iput|iput_final|ihold|drop_nlink|ida_free|ref_tracker\w*`,
		why: "device model and dentry/inode reference helpers act for their caller"},
	// Small lookups, checksums and softirq toggles that fault or WARN on
	// what their caller passed.
	{re: `__phys_addr|xas_(?:start|load|find)|find_lock_entries|rhashtable_lookup\w*|crc\d+\w*|crc_itu_t|_*local_bh_enable\w*|_*local_bh_disable\w*|trace_hardirqs_\w+|lockdep_(?:hard|soft)irqs_\w+|perf_trace\w*|osq_lock|osq_unlock|owner_on_cpu|read_word_at_a_time|check_heap_object|check_object\w*|__check_object_size|check_stack_object|usercopy_warn|usercopy_abort|__check_heap_object|seqprop_assert`,
		why: "small helpers and hardening checks that act on their caller's arguments"},
	// Page-cache lookups and truncation: they lock or allocate folios for
	// their caller, and a hang or fault in them is the caller's.
	{re: `__filemap_get_folio|filemap_alloc_folio\w*|find_or_create_page|do_read_cache_folio|read_cache_page\w*|pagecache_get_page|grab_cache_page_write_begin|folio_alloc\w*|folio_unlock|__alloc_frozen_pages\w*|truncate_inode_pages_range|_*lock_page|unlock_page`,
		why: "page-cache lookups and truncation act for the file system that called them"},
}
