package evidence

import (
	"strings"
	"testing"
)

// parseOne parses a log that holds one report and returns it.
func parseOne(t *testing.T, log string) Report {
	t.Helper()
	got := ParseBytes([]byte(log))
	if len(got) != 1 {
		var titles []string
		for _, o := range got {
			titles = append(titles, o.Title)
		}
		t.Fatalf("got %d reports %q; want one", len(got), titles)
	}
	return got[0]
}

func TestIsCrashIsWarningByOopsNumber(t *testing.T) {
	tests := []struct {
		o              Report
		crash, warning bool
	}{
		// list_del corruption as a WARNING (CONFIG_DEBUG_LIST, 6.x)
		{Report{Kind: KindListCorruption}, false, true},
		// and as a kernel BUG that went through die(): "invalid
		// opcode: 0000 [#1]" (lkml-arm64-6.16-list-corruption-ti_csi2rx_dma_callback)
		{Report{Kind: KindListCorruption, OopsNumber: 1}, true, false},
		{Report{Kind: KindRefcount}, false, true},
		{Report{Kind: KindKASAN}, false, false},
		{Report{Kind: KindKASAN, OopsNumber: 2}, true, false},
		{Report{Kind: KindPageFault, OopsNumber: 1}, true, false},
	}
	for _, tt := range tests {
		if got := tt.o.IsCrash(); got != tt.crash {
			t.Errorf("%s #%d: IsCrash = %v", tt.o.Kind, tt.o.OopsNumber, got)
		}
		if got := tt.o.IsWarning(); got != tt.warning {
			t.Errorf("%s #%d: IsWarning = %v", tt.o.Kind, tt.o.OopsNumber, got)
		}
	}
}

func TestPanicLineAtStart(t *testing.T) {
	if got := PanicLine("Kernel panic - not syncing: Fatal exception\n---[ end Kernel panic - not syncing: Fatal exception ]---\n"); got != "Kernel panic - not syncing: Fatal exception" {
		t.Errorf("panic line first: %q", got)
	}
	if got := PanicLine("[    3.3] Oops: 0000 [#1] PREEMPT SMP NOPTI\n"); got != "" {
		t.Errorf("no panic: %q", got)
	}
}

// Taint bits past the ones the kernel documents are not letters lab
// knows; they are left out rather than guessed.
func TestTaintStringUnknownBit(t *testing.T) {
	if got := TaintString(1<<12 | 1<<20); got != "G O" {
		t.Errorf("TaintString(O and bit 20) = %q; want %q", got, "G O")
	}
}

// The skip memo remembers what it was asked, up to its bound.
func TestSkipCacheBound(t *testing.T) {
	var c skipCache
	if !c.skipped("dump_stack") || c.skipped("remove_proc_entry") {
		t.Fatal("skip answers wrong")
	}
	if len(c) != 2 {
		t.Errorf("the memo holds %d names after two; want 2", len(c))
	}
	for i := 0; i < 2*maxSkipCache; i++ {
		c.skipped("lab_fn_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
		if len(c) > maxSkipCache {
			t.Fatalf("the memo grew to %d names; bound %d", len(c), maxSkipCache)
		}
	}
}

// A WARNING whose banner named no function (3.x powerpc prints "WARNING:
// at file:line" alone) is told a refcount or ODEBUG warning by its RIP.
func TestClassifyWarnByRIP(t *testing.T) {
	for rip, kind := range map[string]Kind{
		"refcount_warn_saturate+0x9c/0x140": KindRefcount,
		"debug_print_object+0x8c/0xb0":      KindODEBUG,
		"remove_proc_entry+0xf1/0x180":      KindWarning,
	} {
		r := newReport(KindWarning, endTrace, "WARNING: at lib/refcount.c:25", "WARNING")
		r.o.RIP = rip
		classifyWarn(r)
		if r.o.Kind != kind {
			t.Errorf("RIP %s: kind %s; want %s", rip, r.o.Kind, kind)
		}
	}
	// The banner's function comes first: a WARNING raised in
	// refcount_warn_saturate whose RIP line is some other frame.
	r := newReport(KindWarning, endTrace, "WARNING: CPU: 0 PID: 1 at lib/refcount.c:25 refcount_warn_saturate+0x9c/0x140", "WARNING")
	r.culprit = "refcount_warn_saturate+0x9c/0x140"
	r.o.RIP = "lab_put+0x10/0x20 [lab]"
	classifyWarn(r)
	if r.o.Kind != KindRefcount {
		t.Errorf("banner refcount_warn_saturate: kind %s", r.o.Kind)
	}
}

// A recursive-locking report cut before its "at:" lines (the quoter kept
// the banner and the stack) is titled from the stack.
func TestLockdepRecursiveWithoutAt(t *testing.T) {
	o := parseOne(t, `============================================
WARNING: possible recursive locking detected
6.1.0-56-amd64 #1 Tainted: G           OE
--------------------------------------------
Call Trace:
 <TASK>
 dump_stack_lvl+0x44/0x5c
 __lock_acquire.cold+0x1b3/0x1c1
 lock_acquire+0xd2/0x300
 _raw_spin_lock+0x2f/0x40
 lab_lock_twice+0x1d/0x40 [lab]
 lab_write+0x2a/0x60 [lab]
 vfs_write+0xb9/0x270
 ksys_write+0x5f/0xe0
 do_syscall_64+0x5d/0xb0
 entry_SYSCALL_64_after_hwframe+0x6e/0xd8
 </TASK>
`)
	if o.Kind != KindLockdep || o.Title != "possible deadlock in lab_lock_twice" {
		t.Errorf("got %s %q", o.Kind, o.Title)
	}
}

// A kernel BUG raised by an skb helper on its caller's skb (__skb_pull's
// BUG_ON(skb->len < skb->data_len), inlined in skb_pull) blames the
// caller: skb helpers that plain reports do not look past are looked
// past in a kernel BUG.
func TestKernelBugPastSkbHelpers(t *testing.T) {
	o := parseOne(t, `------------[ cut here ]------------
kernel BUG at include/linux/skbuff.h:2620!
invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
CPU: 0 PID: 91 Comm: lab-net Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
RIP: 0010:skb_pull+0x3c/0x50
RSP: 0018:ff6d18970063fd20 EFLAGS: 00010246
Call Trace:
 <TASK>
 lab_strip_header+0x1c/0x40 [lab_net]
 lab_rx+0x2a/0x80 [lab_net]
 __netif_receive_skb_one_core+0x89/0xa0
 process_backlog+0x81/0x120
 __napi_poll+0x2b/0x160
 net_rx_action+0x29e/0x350
 __do_softirq+0xc5/0x2c8
 do_softirq+0x5b/0x70
 </TASK>
Modules linked in: lab_net(OE)
---[ end trace 0000000000000000 ]---
`)
	if o.Kind != KindBug || o.Title != "kernel BUG in lab_strip_header" {
		t.Errorf("got %s %q", o.Kind, o.Title)
	}
}

// syzbot strips a syscall wrapper's prefix; a name that is the prefix
// alone keeps it, so that a title never blames an empty name.
func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"__x64_sys_sendto": "sys_sendto",
		"ksys_read":        "read",
		"__do_sys_mount":   "mount",
		"compat_SyS_ioctl": "ioctl",
		"sys_":             "sys_",
		"ksys_":            "ksys_",
		"vfs_read":         "vfs_read",
		"sysfs_remove_dir": "sysfs_remove_dir",
		"do_syscall_64":    "do_syscall_64",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%q) = %q; want %q", in, got, want)
		}
	}
}
