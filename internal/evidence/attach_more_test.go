package evidence

import (
	"strings"
	"testing"
)

// mailWrappedWarning is a WARNING whose banner a mailer wrapped after
// "at", from testdata/corpus/lkml-arm64-6.4-kernel-bug-dentry_unlink_inode.log
// (lkml, arm64 6.4-rc2-next), cut to its banner, CPU line and trace.
const mailWrappedWarning = `<4>[  800.435635] ------------[ cut here ]------------
<4>[  800.436529] WARNING: CPU: 0 PID: 0 at
kernel/context_tracking.c:128 ct_kernel_exit.constprop.0+0xe0/0xe8
<4>[  800.439070] Modules linked in:
<4>[  800.440326] CPU: 0 PID: 0 Comm: swapper/0 Tainted: G    B D W
<4>[  800.445031] pc : ct_kernel_exit.constprop.0+0xe0/0xe8
<4>[  800.469981] Call trace:
<4>[  800.470946]  ct_kernel_exit.constprop.0+0xe0/0xe8
<4>[  800.472535]  ct_idle_enter+0x10/0x20
<4>[  800.473923]  default_idle_call+0x58/0x90
<4>[  800.475213]  do_idle+0x304/0x388
<4>[  800.483086] ---[ end trace 0000000000000000 ]---
`

// mailWrappedFault is an arm64 fault banner a mailer wrapped, from
// testdata/corpus/lkml-arm64-6.6-null-mt7921_regd_notifier.log.
const mailWrappedFault = `<1>[   19.442078] Unable to handle kernel NULL pointer dereference at
virtual address 0000000000000014
<1>[   19.457535] Mem abort info:
<0>[   19.558429] Internal error: Oops: 0000000096000004 [#1] PREEMPT SMP
<4>[   19.614237] CPU: 1 PID: 105 Comm: kworker/1:1 Not tainted 6.6.0-rc6-next-20231017+ #324
<4>[   19.658281] pc : mt7921_regd_notifier+0x180/0x290 [mt7921_common]
<4>[   19.767150] Call trace:
<4>[   19.772500]  mt7921_regd_notifier+0x180/0x290 [mt7921_common]
<4>[   19.781312]  wiphy_update_regulatory+0x2bc/0xa08 [cfg80211]
<4>[   19.790131]  process_one_work+0x148/0x3b8
<4>[   19.831350] ---[ end trace 0000000000000000 ]---
`

func TestBannerRest(t *testing.T) {
	got := ParseBytes([]byte(mailWrappedWarning))
	if len(got) != 1 {
		t.Fatalf("ParseBytes(wrapped WARNING) = %+v; want one report", briefs(got))
	}
	if w := got[0]; w.Kind != KindWarning || w.Location != "kernel/context_tracking.c:128" ||
		w.Title != "WARNING in ct_kernel_exit" {
		t.Errorf("wrapped WARNING = kind %s, location %q, title %q; want warning at kernel/context_tracking.c:128 in ct_kernel_exit",
			w.Kind, w.Location, w.Title)
	}
	// "at" with the location on the banner and only the function wrapped.
	one := strings.Replace(mailWrappedWarning, "0 at\nkernel/context_tracking.c:128 ", "0 at kernel/context_tracking.c:128\n", 1)
	if got := ParseBytes([]byte(one)); len(got) != 1 || got[0].Location != "kernel/context_tracking.c:128" ||
		got[0].Title != "WARNING in ct_kernel_exit" {
		t.Errorf("ParseBytes(WARNING wrapped before the function) = %+v", got)
	}
	// A next line that is not the banner's rest is taken as a body line.
	notRest := strings.Replace(mailWrappedWarning, "kernel/context_tracking.c:128 ct_kernel_exit.constprop.0+0xe0/0xe8\n",
		"<4>[  800.437000] Modules linked in: fuse\n", 1)
	if got := ParseBytes([]byte(notRest)); len(got) != 1 || got[0].Location != "" ||
		len(got[0].ModulesLinkedIn) != 1 || got[0].ModulesLinkedIn[0] != "fuse" {
		t.Errorf("ParseBytes(WARNING whose rest never came) = %+v", got)
	}

	got = ParseBytes([]byte(mailWrappedFault))
	if len(got) != 1 {
		t.Fatalf("ParseBytes(wrapped fault) = %+v; want one report", briefs(got))
	}
	if f := got[0]; f.Address != "0000000000000014" || f.Location != "" ||
		f.Title != "BUG: kernel NULL pointer dereference in mt7921_regd_notifier" {
		t.Errorf("wrapped fault = address %q, location %q, title %q", f.Address, f.Location, f.Title)
	}
	// 32-bit arm wraps as "...at\naddress 00000144" when "virtual" was cut.
	short := strings.Replace(mailWrappedFault, "virtual address 0000000000000014", "address 00000144,", 1)
	if got := ParseBytes([]byte(short)); len(got) != 1 || got[0].Address != "00000144" {
		t.Errorf("ParseBytes(fault wrapped before address) = %+v", got)
	}
}

// dentryInUse is umount_check's pair, from
// testdata/corpus/syzbot-x86-6.7-dentry-in-use-unmount.log (syzbot,
// 6.7-rc5), cut to its banner, CPU line and the trace's head.
const dentryInUse = `------------[ cut here ]------------
BUG: Dentry ffff88807d684a48{i=1a,n=#3}  still in use (1) [unmount of f2fs loop0]
WARNING: CPU: 0 PID: 5411 at fs/dcache.c:1675 umount_check+0x189/0x1e0 fs/dcache.c:1667
Modules linked in:
CPU: 0 PID: 5411 Comm: syz-executor.0 Not tainted 6.7.0-rc5-syzkaller-00200-g3bd7d7488169-dirty #0
RIP: 0010:umount_check+0x189/0x1e0 fs/dcache.c:1667
Call Trace:
 <TASK>
 d_walk+0x1f6/0x6e0 fs/dcache.c:1386
 do_one_tree+0x35/0xe0 fs/dcache.c:1682
 shrink_dcache_for_umount+0x7d/0x130 fs/dcache.c:1698
 </TASK>
---[ end trace 0000000000000000 ]---
`

func TestDentryJoins(t *testing.T) {
	got := ParseBytes([]byte(dentryInUse))
	if len(got) != 1 {
		t.Fatalf("ParseBytes(dentry) = %+v; want one report", briefs(got))
	}
	if d := got[0]; d.Title != "BUG: Dentry still in use in unmount" || d.CPU != 0 || d.PID != 5411 ||
		d.Comm != "syz-executor.0" || d.Location != "fs/dcache.c:1675" || !d.Complete {
		t.Errorf("dentry = %+v", d)
	}
	// The WARNING's CPU and PID, where the banner came on another CPU.
	cpu1 := strings.Replace(dentryInUse, "WARNING: CPU: 0 PID: 5411", "WARNING: CPU: 1 PID: 5411", 1)
	cpu1 = strings.Replace(cpu1, "CPU: 0 PID: 5411 Comm", "CPU: 1 PID: 5411 Comm", 1)
	if got := ParseBytes([]byte(cpu1)); len(got) != 1 || got[0].CPU != 1 || got[0].PID != 5411 {
		t.Errorf("ParseBytes(dentry on CPU 1) = %+v", got)
	}
	// A CPU line between the banner and its WARNING (another record
	// of the same task): what it names stays.
	between := strings.Replace(cpu1, "loop0]\n", "loop0]\nCPU: 0 PID: 77 Comm: umount Not tainted 6.7.0-rc5 #0\n", 1)
	if got := ParseBytes([]byte(between)); len(got) != 1 || got[0].CPU != 0 || got[0].PID != 77 || got[0].Comm != "umount" {
		t.Errorf("ParseBytes(dentry, CPU line, WARNING) = %+v", got)
	}
	// A BUG() in place of the WARN: the same report.
	bug := strings.Replace(dentryInUse, "WARNING: CPU: 0 PID: 5411 at fs/dcache.c:1675 umount_check+0x189/0x1e0 fs/dcache.c:1667",
		"kernel BUG at fs/dcache.c:1675!\ninvalid opcode: 0000 [#1] PREEMPT SMP KASAN", 1)
	if got := ParseBytes([]byte(bug)); len(got) != 1 || got[0].Title != "BUG: Dentry still in use in unmount" ||
		got[0].Location != "fs/dcache.c:1675" {
		t.Errorf("ParseBytes(dentry, kernel BUG) = %+v", got)
	}
	// Another BUG after the banner is a report of its own.
	other := strings.Replace(dentryInUse, "WARNING: CPU: 0 PID: 5411 at fs/dcache.c:1675 umount_check+0x189/0x1e0 fs/dcache.c:1667",
		"BUG: Bad rss-counter state mm:ffff88801e7b8000 type:MM_FILEPAGES val:1", 1)
	if got := ParseBytes([]byte(other)); len(got) != 2 {
		t.Errorf("ParseBytes(dentry, another BUG) = %+v; want two reports", briefs(got))
	}
}
