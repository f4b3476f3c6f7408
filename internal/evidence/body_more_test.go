package evidence

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// openReport feeds lines to a parser and returns the report still open.
func openReport(t *testing.T, log string) *report {
	t.Helper()
	p := parser{emit: func(Report) {}}
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		p.line(l)
	}
	if p.main.cur == nil {
		t.Fatalf("no report open after %q", log)
	}
	return p.main.cur
}

// TestTaskFramesOutsideIRQ: an RCU stall's NMI backtrace (from
// testdata/6.1-rcu-stall-kmemleak.log): the frames inside <IRQ> are the
// timer's, the task's are after </IRQ>.
func TestTaskFramesOutsideIRQ(t *testing.T) {
	r := openReport(t, `[   84.517104] rcu: INFO: rcu_preempt self-detected stall on CPU
[   84.518706] NMI backtrace for cpu 0
[   84.519004] CPU: 0 PID: 91 Comm: cat Tainted: G           OEL     6.1.0-56-amd64 #1  Debian 6.1.192-2
[   84.520201] Call Trace:
[   84.520404]  <IRQ>
[   84.520602]  dump_stack_lvl+0x44/0x5c
[   84.524202]  sysvec_apic_timer_interrupt+0x69/0x90
[   84.524503]  </IRQ>
[   84.524802]  <TASK>
[   84.525103]  asm_sysvec_apic_timer_interrupt+0x16/0x20
[   84.528103]  vfs_read+0xb0/0x2e0
[   84.528402]  ksys_read+0x6b/0xf0`)
	want := []string{"asm_sysvec_apic_timer_interrupt+0x16/0x20", "vfs_read+0xb0/0x2e0", "ksys_read+0x6b/0xf0"}
	if !reflect.DeepEqual(r.taskFrames, want) || r.irq != 0 || r.depth != 1 || r.frames != 5 {
		t.Errorf("taskFrames = %q, irq %d, depth %d, frames %d; want %q, 0, 1, 5", r.taskFrames, r.irq, r.depth, r.frames, want)
	}
}

// TestArmFramesAreTaskFrames: arm's "from" backtrace (testdata/classes/arm.log)
// has no markers: every frame is the task's.
func TestArmFramesAreTaskFrames(t *testing.T) {
	r := openReport(t, `[   20.100000] Unable to handle kernel NULL pointer dereference at virtual address 00000000
[   20.100300] Internal error: Oops: 5 [#1] PREEMPT SMP ARM
[   20.101800] Stack: (0xc783bee0 to 0xc783c000)
[   20.102000] [<bf000010>] (bad_read [bad]) from [<c0123456>] (vfs_read+0x90/0x130)
[   20.102100] [<c0123456>] (vfs_read) from [<c0123500>] (SyS_read+0x48/0x90)`)
	if r.frames != 2 || len(r.taskFrames) != 2 || len(r.o.CallTrace) != 2 {
		t.Errorf("frames %d, taskFrames %q, CallTrace %q; want 2 of each", r.frames, r.taskFrames, r.o.CallTrace)
	}
}

// TestKMSANStackIsTaskFrames: KMSAN prints the access stack right after
// its banner (testdata/6.6-kfence-kmsan-kcsan.log): those frames are the
// trace; "Uninit was created at:" frames are not.
func TestKMSANStackIsTaskFrames(t *testing.T) {
	r := openReport(t, `[   50.100402] BUG: KMSAN: uninit-value in lab_checksum+0x1a5/0x2e0 [lab_kmsan]
[   50.100871]  lab_checksum+0x1a5/0x2e0 [lab_kmsan]
[   50.101195]  lab_write+0x9c/0x150 [lab_kmsan]
[   50.101497]  vfs_write+0x44f/0x1720
[   50.102833] 
[   50.102943] Uninit was created at:
[   50.103167]  __kmem_cache_alloc_node+0x5d5/0x9b0
[   50.103478]  kmalloc_trace+0x51/0x200`)
	if r.frames != 3 || len(r.taskFrames) != 3 || len(r.o.CallTrace) != 3 {
		t.Errorf("frames %d, taskFrames %q, CallTrace %q; want 3 of each", r.frames, r.taskFrames, r.o.CallTrace)
	}
}

// TestPFErrorCodeWithoutDie: a log cut before die()'s "Oops:" line keeps
// the #PF error code, the first one printed.
func TestPFErrorCodeWithoutDie(t *testing.T) {
	got := ParseBytes([]byte(`[   12.300001] BUG: kernel NULL pointer dereference, address: 0000000000000008
[   12.300402] #PF: supervisor read access in kernel mode
[   12.300803] #PF: error_code(0x0000) - not-present page
[   12.300900] #PF: error_code(0x0002) - not-present page
[   12.301204] PGD 0 P4D 0
`))
	if len(got) != 1 || got[0].ErrorCode != "0000" {
		t.Errorf("ParseBytes(cut page fault) = %+v; want error code 0000", got)
	}
}

// TestUnknownLineBounds: runs of lines a report does not know (another
// program's output) end it after maxUnknown in a row, or maxLenient for a
// sanitizer's body; fewer are kept once a known line follows.
func TestUnknownLineBounds(t *testing.T) {
	junk := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "[   10.%06d] lab-agent: tick %d\n", 500000+i, i)
		}
		return b.String()
	}
	warn := "[   10.000001] ------------[ cut here ]------------\n" +
		"[   10.000402] WARNING: CPU: 0 PID: 101 at fs/proc/generic.c:725 remove_proc_entry+0x123/0x1b0\n"
	trace := "[   10.900000] Call Trace:\n[   10.900001]  proc_forced_exit+0x1c/0x1000 [proc_forced]\n" +
		"[   10.900002] ---[ end trace 0000000000000000 ]---\n"
	for _, tc := range []struct {
		n        int
		complete bool
	}{{maxUnknown, true}, {maxUnknown + 1, false}} {
		got := ParseBytes([]byte(warn + junk(tc.n) + trace))
		if len(got) != 1 || got[0].Complete != tc.complete {
			t.Errorf("ParseBytes(WARNING, %d unknown lines, trace) = %+v; want complete %v", tc.n, got, tc.complete)
		}
	}
	// Inside <TASK>: another task's lines between two frames.
	inTask := warn + "[   10.100000] Call Trace:\n[   10.100001]  <TASK>\n[   10.100002]  proc_forced_exit+0x1c/0x1000 [proc_forced]\n"
	tail := "[   10.900001]  do_syscall_64+0x5d/0xb0\n[   10.900002]  </TASK>\n[   10.900003] ---[ end trace 0000000000000000 ]---\n"
	for _, tc := range []struct {
		n, frames int
	}{{maxUnknown, 2}, {maxUnknown + 1, 1}} {
		got := ParseBytes([]byte(inTask + junk(tc.n) + tail))
		if len(got) != 1 || len(got[0].CallTrace) != tc.frames {
			t.Errorf("ParseBytes(<TASK>, %d unknown lines, frames) = %+v; want %d frames", tc.n, got, tc.frames)
		}
	}
	// A sanitizer's body.
	kasan := "[   10.000001] ==================================================================\n" +
		"[   10.000002] BUG: KASAN: slab-use-after-free in lab_read+0x1e/0x50 [lab_uaf]\n"
	sep := "[   10.990000] ==================================================================\n"
	for _, tc := range []struct {
		n        int
		complete bool
	}{{maxLenient, true}, {maxLenient + 1, false}} {
		got := ParseBytes([]byte(kasan + junk(tc.n) + sep))
		if len(got) != 1 || got[0].Complete != tc.complete {
			t.Errorf("ParseBytes(KASAN, %d unknown lines, separator) complete = %v; want %v", tc.n, len(got) == 1 && got[0].Complete, tc.complete)
		}
	}
	// Unknown lines at the end of a sanitizer's report are not its text
	// unless more than maxUnknown of them came.
	for _, tc := range []struct {
		n    int
		kept bool
	}{{3, false}, {maxUnknown, false}, {maxUnknown + 1, true}} {
		got := ParseBytes([]byte(kasan + junk(tc.n)))
		if len(got) != 1 || strings.Contains(strings.Join(got[0].Text, "\n"), "lab-agent: tick 0") != tc.kept {
			t.Errorf("ParseBytes(KASAN, %d unknown lines) text = %q; want them kept: %v", tc.n, got[0].Text, tc.kept)
		}
	}
}

// TestTextBounded: Report.Text holds maxText lines of a long report.
func TestTextBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("WARNING: CPU: 0 PID: 101 at fs/proc/generic.c:725 remove_proc_entry+0x123/0x1b0\nCall Trace:\n")
	for i := 0; i < 2*maxText; i++ {
		fmt.Fprintf(&b, " f%d+0x1c/0x100\n", i)
	}
	got := ParseBytes([]byte(b.String()))
	if len(got) != 1 || len(got[0].Text) != maxText {
		t.Errorf("ParseBytes(long trace) text = %d lines; want %d", len(got[0].Text), maxText)
	}
}

// TestHungTaskEnds: a hung task's dump ends at </TASK>, or where its
// frames do; with no frame it is incomplete.
func TestHungTaskEnds(t *testing.T) {
	head := `[  243.100001] INFO: task cat:101 blocked for more than 120 seconds.
[  243.100402]       Not tainted 6.1.0-56-amd64 #1 Debian 6.1.192-2
[  243.100803] task:cat             state:D stack:0     pid:101   ppid:95     flags:0x00004002
[  243.101204] Call Trace:
`
	next := "[  243.200000] Showing all locks held in the system:\n"
	got := ParseBytes([]byte(head + next))
	if len(got) != 1 || got[0].Complete {
		t.Errorf("ParseBytes(hung task without frames) = %+v; want an incomplete report", briefs(got))
	}
	// The next dump's header was lost: its frames are not this task's.
	full := head + "[  243.101605]  <TASK>\n[  243.102006]  __schedule+0x2f1/0x8a0\n[  243.102407]  </TASK>\n" +
		"[  243.110000]  <TASK>\n[  243.110001]  worker_thread+0x2f1/0x8a0\n[  243.110002]  </TASK>\n"
	got = ParseBytes([]byte(full))
	if len(got) != 1 || !got[0].Complete || len(got[0].CallTrace) != 1 {
		t.Errorf("ParseBytes(hung task, stray frames) = %+v; want one complete report of 1 frame", got)
	}
}

// TestBareFrames: a symbolizer that drops offsets prints bare names
// ("bio_free"); the first is a frame too.
func TestBareFrames(t *testing.T) {
	got := ParseBytes([]byte(`WARNING: CPU: 0 PID: 101 at block/bio.c:250 bio_free+0x1c/0x100
Call Trace:
 bio_free
 bio_put
 submit_bio_wait
---[ end trace 0000000000000000 ]---
`))
	if len(got) != 1 || !reflect.DeepEqual(got[0].CallTrace, []string{"bio_free", "bio_put", "submit_bio_wait"}) {
		t.Errorf("ParseBytes(bare frames) = %+v", got)
	}
}

// TestPowerpcTrace: powerpc's exception frame in a trace, and a frame a
// mailer wrapped after its addresses (testdata/classes/ppc.log's form).
func TestPowerpcTrace(t *testing.T) {
	got := ParseBytes([]byte(`[   30.100000] BUG: Kernel NULL pointer dereference on read at 0x00000000
[   30.100200] Oops: Kernel access of bad area, sig: 11 [#1]
[   30.101200] NIP [c0000000008b4b4c] bad_show+0x3c/0x90
[   30.101400] Call Trace:
[   30.101500] [c00000000b1e7d10] [c0000000008b4b40] bad_show+0x30/0x90 (unreliable)
[   30.101600] [c00000000b1e7d40] [c0000000004a1234]
seq_read_iter+0x1f4/0x690
[   30.101700] [c00000000b1e7e10] [c000000000412345] vfs_read+0x2a4/0x2f0
[   30.101800] --- interrupt: 300 at __copy_tofrom_user+0x110/0x20c
[   30.101900] [c00000000b1e7e80] [c000000000412abc] ksys_read+0x7c/0x140
[   30.102400] ---[ end trace 0123456789abcdef ]---
`))
	want := []string{"seq_read_iter+0x1f4/0x690", "vfs_read+0x2a4/0x2f0", "__copy_tofrom_user+0x110/0x20c", "ksys_read+0x7c/0x140"}
	if len(got) != 1 || !reflect.DeepEqual(got[0].CallTrace, want) {
		t.Errorf("ParseBytes(powerpc trace) = %+v; want trace %q", got, want)
	}
}

// TestStackMarkers: the markers x86 puts in a trace, and lines that only
// look like one.
func TestStackMarkers(t *testing.T) {
	for _, s := range []string{"<TASK>", "</TASK>", "<IRQ>", "</IRQ>", "<NMI>", "<EOI>", "<#DF>", "<SOFTIRQ>", "<IRQ_STACK>"} {
		if !isMarker(s) {
			t.Errorf("isMarker(%q) = false", s)
		}
	}
	for _, s := range []string{"<snip>", "<4>", "<>", "</>", "<Task>", "<ffffffff81000000>"} {
		if isMarker(s) {
			t.Errorf("isMarker(%q) = true", s)
		}
	}
	if !isSeparator(strings.Repeat("=", 20)) || isSeparator(strings.Repeat("=", 19)) {
		t.Errorf("isSeparator: 20 '=' are a separator, 19 not")
	}
}

// TestRunningTaskLine: an RCU stall shows the stalled task with
// sched_show_task's line for a task on a CPU ("state:R  running task
// stack:…"), which names its pid (corpus/syzbot-x86-rcu-stall-sys_socket.log).
func TestRunningTaskLine(t *testing.T) {
	in, err := os.ReadFile("testdata/corpus/syzbot-x86-rcu-stall-sys_socket.log")
	if err != nil {
		t.Fatal(err)
	}
	got := ParseBytes(in)
	if len(got) == 0 || got[0].Kind != KindRCUStall {
		t.Fatalf("no RCU stall: %+v", got)
	}
	if got[0].PID != 5851 || got[0].TaskState != "R" {
		t.Errorf("the stalled task: pid %d state %q; want 5851 R", got[0].PID, got[0].TaskState)
	}
}
