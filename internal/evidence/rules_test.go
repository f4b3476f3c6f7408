package evidence

import (
	"path/filepath"
	"testing"
)

// TestRuleClasses checks each rule class that the corpus showed missing
// (issue 25) on one real log of testdata/corpus that needs it: the
// guilty-frame rule, the trace it reads, the prefix it strips or the
// architecture it tells. A failure names the class, so that a change
// that undoes one rule shows which.
func TestRuleClasses(t *testing.T) {
	for _, tc := range []struct {
		class string
		log   string
		i     int    // the report's index in the log
		kind  Kind   // wanted kind
		fn    string // the function the title names
		arch  string // wanted Report.Arch, "" when not checked
	}{
		// Guilty-frame policy (skiprules.go).
		{"PREEMPT_RT lock slow path is locking plumbing", "lkml-x86-6.19-sched-atomic-hv_ringbuffer_write.log", 0, KindAtomicSchedule, "hv_ringbuffer_write", ArchAMD64},
		{"debugobjects fixup callback named by the KASAN banner is skipped; __timer_delete is not", "syzbot-x86-6.8-kasan-global-oob-__timer_delete.log", 0, KindKASAN, "__timer_delete", ArchAMD64},
		{"a hung task keeps the page fault handler it waits in", "issue-x86-5.15-hung-rwsem-do_user_addr_fault.log", 0, KindHungTask, "do_user_addr_fault", ArchAMD64},
		{"only raw spin/read/write lock calls are skipped, not a module's _raw_ name", "issue-x86-4.18-kernel-bug-module-_raw_ram_load_all.log", 0, KindBug, "_raw_ram_load_all", ArchAMD64},
		{"lockdep's lock_class helpers are skipped", "lkml-arm-6.0-null-zs_map_object.log", 0, KindNullDeref, "zs_map_object", ArchARM},
		{"any kmalloc-named allocator acts for its caller", "syzbot-arm64-warning-diUnmount.log", 1, KindBug, "diUnmount", ArchARM64},
		{"powerpc's user copy, data access entry and interrupt frame", "lkml-ppc-5.13-warning-core_sys_select.log", 0, KindWarning, "core_sys_select", ArchPowerPC},
		// Trace attachment (body.go, attach.go).
		{"a soft lockup reads its first RIP and the <IRQ> frames in order", "syzbot-x86-6.12-soft-lockup-irqstamp-macvlan_handle_frame.log", 0, KindSoftLockup, "macvlan_handle_frame", ArchAMD64},
		{"frames after a \"...\" cut are the trace", "lkml-x86-6.5-odebug-elided-i915_active_fini.log", 0, KindODEBUG, "i915_active_fini", ArchAMD64},
		{"a dentry still in use and its umount_check WARNING are one report", "syzbot-x86-6.7-dentry-in-use-unmount.log", 0, KindBug, "unmount", ArchAMD64},
		{"a WARNING banner wrapped after \"at\"", "lkml-arm64-6.4-kernel-bug-dentry_unlink_inode.log", 2, KindWarning, "ct_kernel_exit", ArchARM64},
		{"a fault banner wrapped before its address", "lkml-arm64-6.6-null-mt7921_regd_notifier.log", 0, KindNullDeref, "mt7921_regd_notifier", ArchARM64},
		{"\"Call trace:\" glued to the end of a register line", "lkml-arm64-soft-lockup-netlink_sendmsg.log", 0, KindSoftLockup, "netlink_sendmsg", ArchARM64},
		{"a kernel BUG's module RIP with no trace", "issue-x86-4.18-kernel-bug-module-_raw_ram_load_all.log", 0, KindBug, "_raw_ram_load_all", ""},
		{"powerpc frames wrapped after their addresses, and unprefixed lines in the caller's stream", "lkml-ppc64le-6.16-kernel-bug-futex_hash_free.log", 0, KindBug, "futex_hash_free", ArchPowerPC},
		// Line prefixes (line.go).
		{"a bare journal \"kernel: \" prefix", "issue-x86-6.8-page-fault-nvDPAllocTimer.log", 0, KindPageFault, "nvDPAllocTimer", ArchAMD64},
		{"talosctl's \"host: kern: level: [time]: \" prefix", "issue-x86-6.12-warning-fortify-talosprefix-geneve_udp_encap_recv.log", 0, KindWarning, "geneve_udp_encap_recv", ArchAMD64},
		{"a mail's \"> \" before a syslog prefix", "issue-x86-6.18-null-deref-quoted-nvidia_vma_access.log", 0, KindNullDeref, "nvidia_vma_access", ArchAMD64},
		{"Android's \"[cpu: comm: pid]\" after the timestamp", "lkml-arm64-kasan-assign_work.log", 0, KindKASAN, "assign_work", ArchARM64},
		// Symbolized frames.
		{"decode_stacktrace.sh's \"f (file.c:123)\" in a KASAN banner and trace", "issue-x86-5.18-kasan-uaf-decoded-dst_destroy.log", 0, KindKASAN, "dst_destroy", ""},
		{"decoded \"PC is at f (file.c:0)\" and \"f from g (file.c:1)\" on arm", "lkml-arm-6.12-oops-edma_probe.log", 0, KindOops, "edma_probe", ArchARM},
		{"bare frame names, offsets dropped", "lkml-arm64-5.17-warning-bio_free.log", 1, KindPagingRequest, "bio_free", ArchARM64},
		// Architectures (arch.go).
		{"s390's pointer dereference banner and Krnl PSW", "lkml-s390x-6.0-paging-blk_rq_merge_ok.log", 0, KindPagingRequest, "blk_rq_merge_ok", ArchS390},
		{"MIPS's \"CPU 0 Unable to handle\" banner and epc", "lkml-mips-5.4-paging-kset_find_obj.log", 0, KindPagingRequest, "kset_find_obj", ArchMIPS},
		{"MIPS's die line \"trap[#1]:\"", "lkml-mips-5.10-oops-setup_sigcontext.log", 0, KindOops, "setup_sigcontext", ArchMIPS},
		{"LoongArch's banner and ERA", "lkml-loongarch-6.8-paging-efi_runtime_init.log", 0, KindPagingRequest, "efi_runtime_init", ArchLoong},
		{"32-bit x86's EIP lines", "satyr-i686-3.6-kernel-bug-wdev_priv.log", 0, KindBug, "wdev_priv", Arch386},
	} {
		in, _ := readLog(t, filepath.Join("testdata/corpus", tc.log))
		got := ParseBytes(in)
		if tc.i >= len(got) {
			t.Errorf("%s: %s has %d reports; want report %d", tc.class, tc.log, len(got), tc.i)
			continue
		}
		o := got[tc.i]
		if o.Kind != tc.kind || titleFunc(o.Title) != tc.fn || tc.arch != "" && o.Arch != tc.arch {
			t.Errorf("%s: %s[%d] = kind %q title %q arch %q; want kind %q, title naming %q, arch %q",
				tc.class, tc.log, tc.i, o.Kind, o.Title, o.Arch, tc.kind, tc.fn, tc.arch)
		}
	}
}

// TestSkipIndexMatchesRegexp holds skipIndex, reSkip split by the first
// letter past a name's underscores, to reSkip's own answers: on every
// name the test logs' frames and the corpus's hold, and on names made to
// sit on the edges of the split.
func TestSkipIndexMatchesRegexp(t *testing.T) {
	names := []string{"", "_", "__", "___x", "_kasan_x", "kasan_x", "__list_add_valid", "list_add", "atomic_read",
		"arch_atomic_read", "__set_bit", "set_bit", "v_printk", "vprintk", "printk", "_printk", "__raw_spin_lock",
		"_raw_ram_load_all", "timer_is_static_object", "free_large_kmalloc", "9p_x", "Zz", "do_user_addr_fault"}
	var logs []string
	for _, pat := range []string{"testdata/*.log", "testdata/real/*.log", "testdata/corpus/*.log", "testdata/classes/*.log"} {
		m, _ := filepath.Glob(pat)
		logs = append(logs, m...)
	}
	for _, log := range logs {
		in, _ := readLog(t, log)
		for _, o := range ParseBytes(in) {
			for _, fr := range append(append(append([]string{o.RIP}, o.CallTrace...), o.AllocStack...), o.FreeStack...) {
				names = append(names, funcName(fr))
			}
		}
	}
	for _, fn := range names {
		if got, want := skipIdx.match(fn), reSkip().MatchString(fn); got != want {
			t.Errorf("skipIdx.match(%q) = %v; reSkip says %v", fn, got, want)
		}
	}
}
