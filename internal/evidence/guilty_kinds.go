package evidence

import (
	"regexp"
	"strings"
)

// policy is how one class of report picks its guilty frame: functions it
// looks past besides skipRules, and how it picks among the rest.
type policy uint8

const (
	policyPlain       policy = iota // the first frame past the skip rules
	policyHung                      // hung task: the caller that waits, not what it waits in
	policySpinlock                  // spinlock debugging: the caller of the lock call
	policyStall                     // soft lockup, RCU stall, stack overflow: the frame above the entry point
	policyODEBUG                    // a debugobjects WARNING: the object's user
	policyUsercopy                  // hardened usercopy: the copy's caller
	policyRefcount                  // refcount_t WARNING: the code that got the count wrong
	policyKobject                   // kobject WARNING: the kobject's user
	policyKmalloc                   // an allocator's WARNING: the allocation's caller
	policyLeak                      // kmemleak: the allocation's caller
	policySchedAtomic               // scheduling while atomic: who scheduled
	policyKernelBug                 // kernel BUG: past skb helpers that BUG on their caller's skb
	policyUBSAN                     // UBSAN: past the overflow helpers
	policyRCUUsage                  // suspicious RCU usage: past the RCU accessors
	policyKASAN                     // KASAN: past arm64's tag-check fault path (HW tags mode)
	policyBadPage                   // bad page state: past the page free and put paths
	nPolicies
)

// kindRule is what one policy looks past besides skipRules, with why.
type kindRule struct {
	re  string // anchored like skipRules
	why string
}

// kindRules are the extra skips of each policy. They follow syzkaller's
// per-format skip lists (pkg/report/linux.go), which are substring
// matches; here they are anchored patterns with \w* where a substring
// was meant.
var kindRules = [nPolicies]kindRule{
	policyHung: {`\w*(?:sched|_slowlock|_slowpath|rwsem|completion|wait|synchronize|context_switch|__switch_to|cancel_delayed_work|rcu_barrier|kthread)\w*|\w*_lock(?:_\w+)?|\w*_down(?:_\w+)?|down(?:_\w+)?|_*mutex_\w+|_*rt_mutex_\w+|\w*msleep\w*|schedule_timeout\w*|do_nanosleep|hrtimer_nanosleep|\w*_sleep\w*|usleep_range\w*|ldsem_\w+|__ldsem_\w+|io_schedule\w*|__filemap_fdatawait_range|filemap_fdatawait\w*|folio_wait\w*|__folio_lock\w*`,
		"a hung task sleeps in a lock or wait primitive; the frame that called it is the one that hangs"},
	policySpinlock: {`\w*spin_\w*|\w*_lock(?:_\w+)?|\w*_unlock(?:_\w+)?|__task_rq_lock|task_rq_lock|spin_dump|spin_bug|rq_lock\w*`,
		"a spinlock report is printed from inside the lock call; the caller took the lock"},
	policyStall: {`\w*rcu\w*|\w*apic_timer_interrupt\w*`,
		"a stall's trace runs through the detector and the timer interrupt that caught it"},
	policyODEBUG: {`\w*(?:debug_|rcu|hrtimer_|timer_|work_|percpu_|vunmap|vfree|__free_|kobject_)\w*`,
		"debugobjects is called from the timer, work and free paths of the object's user"},
	policyUsercopy: {`\w*(?:usercopy|__check)\w*`,
		"hardened usercopy checks run inside the copy; the caller passed the buffer"},
	policyRefcount: {`\w*(?:refcount|kobject_)\w*`,
		"refcount and kobject helpers WARN on behalf of the code that got the count wrong"},
	policyKobject: {`\w*kobject_\w*`,
		"kobject helpers WARN on behalf of the kobject's user"},
	policyKmalloc: {`\w*(?:kmalloc|krealloc|slab|kmem)\w*`,
		"an allocator WARNs about a size its caller asked for"},
	policyLeak: {`\w*(?:kmemleak|mmap|kmem|slab|alloc|create_object|idr_get|list_lru_init|kasprintf|kvasprintf|pcpu_create|strdup|strndup|memdup)\w*`,
		"a leak's backtrace starts in the allocator; the leaking caller is below it"},
	policySchedAtomic: {`\w*schedule\w*`,
		"the scheduler only noticed; the caller slept while atomic"},
	policyKernelBug: {`skb_\w+`,
		"skb helpers BUG_ON their caller's skb"},
	policyUBSAN: {`\w*(?:ubsan|overflow)\w*`,
		"UBSAN's handlers and overflow helpers report for their caller"},
	policyRCUUsage: {`\w*(?:rcu|kmem|slab)\w*`,
		"RCU accessors and allocators are where the check runs, not the bug"},
	policyKASAN: {`\w*kernel_fault\w*|\w*tag_check\w*|\w*mem_abort\w*|el1_\w+|el1h_\w+`,
		"KASAN hardware tags report from arm64's fault path"},
	policyBadPage: {`\w*(?:free|put|get|update|release)_page\w*|\w*free_unref\w*|_*folio\w*|\w*truncate_inode_pages\w*|\w*page_frag_free\w*|\w*alloc\w*|\w*vmap\w*|\w*page_owner\w*`,
		"a bad page is found where some helper frees, puts or gets it (check_free_page_bad, folios_put_refs, free_pages_and_swap_cache); the page's user called that helper"},
}

// reKind holds kindRules compiled, nil for policies without extra skips.
var reKind = func() (out [nPolicies]*regexp.Regexp) {
	for i, r := range kindRules {
		if r.re != "" {
			out[i] = regexp.MustCompile(`^(?:` + r.re + `)$`)
		}
	}
	return out
}()

// hungAnchors name the waits that syzkaller files together whoever the
// caller: every hang in synchronize_rcu and its kin is one RCU problem,
// and every hang in rtnl_lock one RTNL problem.
var hungAnchors = []struct{ prefix, title string }{
	{"rtnl_lock", "rtnl_lock"},
	{"synchronize_rcu", "synchronize_rcu"},
	{"synchronize_srcu", "synchronize_rcu"},
	{"synchronize_net", "synchronize_rcu"},
	{"synchronize_sched", "synchronize_rcu"},
}

// reStallAnchor matches the entry points a stall's blame stops above:
// the stall loops somewhere below one of them, so the frame just above
// the first one names the stall more stably than the top frame (after
// syzkaller's linuxStallAnchorFrames). Names are canonical (syscall
// wrappers stripped).
var reStallAnchor = regexp.MustCompile(`^(?:process_one_work|do_syscall_\w+|do_fast_syscall_\w+|sysenter_dispatch|tracesys_phase2|el0_svc_handler|invoke_syscall|ret_fast_syscall|\w*netif_receive_skb\w*|\w*do_softirq\w*|call_timer_fn|\w*_run_timers|run_timer_softirq|hrtimer_run\w*|run_ksoftirqd|smpboot_thread_fn|kthread|start_secondary|cpu_startup_entry|ret_from_fork\w*|vfs_write|vfs_read|vfs_iter_read|vfs_iter_write|do_iter_read|do_iter_write|call_read_iter|call_write_iter|new_sync_read|new_sync_write|vfs_ioctl|ioctl|compat_ioctl|compat_sys_ioctl|blkdev_driver_ioctl|blkdev_ioctl|do_iter_readv_writev|call_mmap|mmap_region|do_mmap\w*|do_dentry_open|vfs_open|sock_sendmsg\w*|sock_recvmsg\w*|sock_release|__sock_release|setsockopt|kernel_setsockopt|sock_common_setsockopt|listen|kernel_listen|sk_common_release|sock_mmap|accept|kernel_accept|sock_do_ioctl|sock_ioctl|compat_sock_ioctl|nfnetlink_rcv_msg|rtnetlink_rcv_msg|netlink_dump\w*|socketpair|connect|__do_fault|do_page_fault|page_fault|__fput|task_work_run|exit_to_user\w*|smp_call_function\w*|tasklet_action|tasklet_hi_action)$`)

// syscallPrefixes are the wrappers the kernel puts around a syscall's
// body, per architecture and era. syzbot strips them so that one bug
// reads the same on every architecture, by one rule: each prefix is cut
// from the name as printed, and the shortest result wins. So
// "__se_sys_ioctl", "__do_sys_ioctl", "ksys_ioctl" and "sys_ioctl" are
// "ioctl", while the per-architecture entry "__x64_sys_ioctl" (and
// arm64's "__arm64_sys_ioctl") keeps "sys_ioctl": the dashboard's "INFO:
// rcu detected stall in sys_socket" is such a title.
var syscallPrefixes = []string{
	"SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "__riscv_", "__powerpc_",
	"____sys_", "___sys_", "__sys_", "__se_", "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_",
}

// canonical strips a syscall wrapper's prefix the way syzbot does (see
// syscallPrefixes).
func canonical(fn string) string {
	if !strings.Contains(fn, "sys_") && !strings.Contains(fn, "SyS_") && !strings.Contains(fn, "SYSC_") {
		return fn // nearly every name: no search through the prefixes
	}
	out := fn
	for _, p := range syscallPrefixes {
		if len(fn) > len(p) && strings.HasPrefix(fn, p) && len(fn)-len(p) < len(out) {
			out = fn[len(p):]
		}
	}
	return out
}

// policyOf picks the guilty-frame policy of a report from its kind, and
// for WARNINGs and BUGs from the file that raised them.
func (r *report) policyOf() policy {
	loc := r.o.Location
	switch r.o.Kind {
	case KindHungTask:
		return policyHung
	case KindSpinlock:
		return policySpinlock
	case KindSoftLockup, KindRCUStall:
		return policyStall
	case KindODEBUG:
		return policyODEBUG
	case KindRefcount:
		return policyRefcount
	case KindMemoryLeak:
		return policyLeak
	case KindAtomicSchedule:
		return policySchedAtomic
	case KindUBSAN:
		return policyUBSAN
	case KindKASAN:
		return policyKASAN
	case KindBadPage:
		return policyBadPage
	case KindLockdep:
		if strings.Contains(r.o.Message, "suspicious RCU usage") {
			return policyRCUUsage
		}
	case KindBug:
		if r.base == "BUG: stack guard page was hit" {
			return policyStall
		}
	}
	switch {
	case strings.HasPrefix(loc, "lib/debugobjects.c"):
		return policyODEBUG
	case strings.HasPrefix(loc, "mm/usercopy.c"):
		return policyUsercopy
	case strings.HasPrefix(loc, "lib/refcount.c"):
		return policyRefcount
	case strings.HasPrefix(loc, "lib/kobject.c"):
		return policyKobject
	case strings.HasPrefix(loc, "mm/") && strings.Contains(funcName(r.culprit), "alloc"):
		return policyKmalloc
	case r.o.Kind == KindBug && strings.HasPrefix(r.base, "kernel BUG"):
		return policyKernelBug
	}
	return policyPlain
}

// hungGuilty is a hung task's blame: an anchored wait (rtnl_lock,
// synchronize_rcu) anywhere in the trace, else the first frame that is
// neither skipped nor a wait.
func hungGuilty(skip func(string) bool, frames []string) string {
	for _, fr := range frames {
		f := funcName(fr)
		for _, a := range hungAnchors {
			if strings.HasPrefix(f, a.prefix) {
				return a.title
			}
		}
	}
	return guilty(skip, frames)
}

// stallGuilty is a stall's blame: among the candidates that are not
// skipped, the one just above the first entry point (the first itself
// when it is one), else the first.
func stallGuilty(skip func(string) bool, cands ...[]string) string {
	prev := ""
	for _, list := range cands {
		for _, fr := range list {
			if isInlineFrame(fr) {
				continue
			}
			f := funcName(fr)
			if f == "" || skip(f) {
				continue
			}
			if reStallAnchor.MatchString(canonical(f)) {
				if prev == "" {
					return f
				}
				return prev
			}
			prev = f
		}
	}
	return guilty(skip, cands...)
}
