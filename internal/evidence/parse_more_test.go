package evidence

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// TestStreamChunked: a console read as it arrives (a serial port, a pipe)
// hands the scanner partial lines; the reports are those of the whole
// log read at once.
func TestStreamChunked(t *testing.T) {
	for _, name := range []string{"testdata/6.1-debug-checks.log", "testdata/6.12-chardev-unsafe-crlf.log"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		want := ParseBytes(b)
		for _, how := range []string{"one byte", "half"} {
			var got []Report
			src := strings.NewReader(string(b))
			rd := iotest.OneByteReader(src)
			if how == "half" {
				rd = iotest.HalfReader(src)
			}
			if err := Stream(rd, func(o Report) { got = append(got, o) }); err != nil {
				t.Fatalf("Stream(%s, %s) error = %v", name, how, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Stream(%s, %s reads) = %+v; want %+v", name, how, briefs(got), briefs(want))
			}
		}
	}
}

// TestSameLineReportsKeepOrder: two reports glued on one console line
// come out in the order they were printed.
func TestSameLineReportsKeepOrder(t *testing.T) {
	in := "[   10.000001] BUG: Bad rss-counter state mm:00000000c5a4b1ce type:MM_ANONPAGES val:1" +
		"[   10.000002] BUG: Bad rss-counter state mm:00000000c5a4b1ce type:MM_SWAPENTS val:2\n"
	got := ParseBytes([]byte(in))
	if len(got) != 2 || got[0].Line != 1 || got[1].Line != 1 ||
		!strings.Contains(got[0].Message, "MM_ANONPAGES") || !strings.Contains(got[1].Message, "MM_SWAPENTS") {
		t.Errorf("ParseBytes(two glued reports) = %+v; want ANONPAGES then SWAPENTS, both at line 1", got)
	}
}

func TestSplitGluedEdges(t *testing.T) {
	for _, tc := range []struct{ s, head, rest string }{
		// arm64's register dump line with the trace header glued on.
		{"x1 : 0000000000000000 x0 : 0000000000000300 Call trace:", "x1 : 0000000000000000 x0 : 0000000000000300 ", "Call trace:"},
		// An indented header, or one after a label, is no glue.
		{"   Call trace:", "   Call trace:", ""},
		{"    Call Trace:", "    Call Trace:", ""},
		{"lr : Call trace:", "lr : Call trace:", ""},
		// A second record right after a one-character message.
		{".[   12.200000] BUG: kernel NULL pointer dereference", ".", "[   12.200000] BUG: kernel NULL pointer dereference"},
		{"lab-agent: step 3 done[   12.200000] BUG: kernel NULL pointer dereference",
			"lab-agent: step 3 done", "[   12.200000] BUG: kernel NULL pointer dereference"},
		// dmesg -T's date is no second record.
		{"foo[Sat Nov 23 08:55:01 2024] bar", "foo[Sat Nov 23 08:55:01 2024] bar", ""},
		// A longer word ending in a capital: "KMSAN: ...", "ODEBUG: ".
		{"mydriver: DMA_ABUG: x", "mydriver: DMA_ABUG: x", ""},
		{"mydriver: ZWARNING: x", "mydriver: ZWARNING: x", ""},
		{"mydriver: done.WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", "mydriver: done.", "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"},
	} {
		if h, r := splitGlued(tc.s); h != tc.head || r != tc.rest {
			t.Errorf("splitGlued(%q) = %q, %q; want %q, %q", tc.s, h, r, tc.head, tc.rest)
		}
	}
}

// TestFirstGlueIsIndex: firstGlue gives what strings.Index gives, for
// lines that repeat a glue point too.
func TestFirstGlueIsIndex(t *testing.T) {
	for _, s := range []string{
		"BUG: scheduling while atomic: swapper/0/0/0x00000002BUG: scheduling while atomic: kworker/1:1/46/0x00000002",
		"WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2 WARNING: again",
		"general protection fault, probably for non-canonical address 0xdffffc0000000000general protection fault",
		"Call Trace:Call Trace: BUG: WARNING: Kernel panic - not syncing: ------------[ cut here ]------------",
		"no glue here", "",
	} {
		var first [len(gluePoints)]int
		firstGlue(s, &first)
		for i, g := range gluePoints {
			if want := strings.Index(s, g); first[i] != want {
				t.Errorf("firstGlue(%q)[%q] = %d; strings.Index says %d", s, g, first[i], want)
			}
		}
	}
}

// listDelBUG is CONFIG_DEBUG_LIST's report, from
// testdata/6.1-debug-checks.log: the corruption line comes before "cut
// here".
const listDelBUG = `[   15.000001] list_del corruption. prev->next should be ffff9d0b41a4e510, but was dead000000000100. (prev=ffff9d0b41a4e500)
[   15.000402] ------------[ cut here ]------------
[   15.000803] kernel BUG at lib/list_debug.c:62!
[   15.001204] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI
[   15.001605] CPU: 0 PID: 100 Comm: rmmod Tainted: G        W  OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   15.002407] RIP: 0010:__list_del_entry_valid.cold+0x4b/0x6f
[   15.003209] Call Trace:
[   15.003610]  <TASK>
[   15.004011]  lab_remove+0x1e/0x50 [lab_list]
[   15.004412]  lab_exit+0x11/0x1000 [lab_list]
[   15.006016]  </TASK>
[   15.006818] ---[ end trace 0000000000000000 ]---
`

func TestBugDetailFromPrelude(t *testing.T) {
	got := ParseBytes([]byte(listDelBUG))
	if len(got) != 1 || !strings.HasPrefix(got[0].Detail, "list_del corruption. prev->next should be") {
		t.Errorf("ParseBytes(list_del BUG) = %+v; want its Detail the corruption line", got)
	}
}

// TestManyCallers: with CONFIG_PRINTK_CALLER a busy log names hundreds of
// tasks; idle ones are forgotten, but not a task whose report is open or
// whose "cut here" waits for its WARNING, nor one below the bound.
func TestManyCallers(t *testing.T) {
	others := func(b *strings.Builder, from, n int) {
		for i := 0; i < n; i++ {
			fmt.Fprintf(b, "[   20.%06d][ T%d] audit: type=1400 audit(1700000000.%03d:%d): apparmor=\"STATUS\"\n", i, 1000+from+i, i%1000, i)
		}
	}
	// 256 streams in all: T100 and 255 others, then a 257th.
	var b strings.Builder
	b.WriteString("[   19.000001][  T100] list_del corruption. prev->next should be ffff9d0b41a4e510, but was dead000000000100. (prev=ffff9d0b41a4e500)\n")
	others(&b, 0, 256)
	for _, l := range strings.Split(strings.TrimSuffix(listDelBUG, "\n"), "\n")[1:] {
		b.WriteString(l[:len("[   15.000402]")] + "[  T100]" + l[len("[   15.000402]"):] + "\n")
	}
	got := ParseBytes([]byte(b.String()))
	if len(got) != 1 || !strings.HasPrefix(got[0].Detail, "list_del corruption.") {
		t.Errorf("ParseBytes(list_del BUG after 256 callers) = %+v; want the corruption line kept", got)
	}

	// A WARN's message waiting after "cut here" while 300 tasks print.
	b.Reset()
	b.WriteString("[    8.100001][  T101] ------------[ cut here ]------------\n")
	b.WriteString("[    8.100402][  T101] remove_proc_entry: removing non-empty directory 'lab', leaking at least 'slow'\n")
	others(&b, 0, 300)
	b.WriteString("[    8.100803][  T101] WARNING: CPU: 0 PID: 101 at fs/proc/generic.c:725 remove_proc_entry+0x123/0x1b0\n")
	b.WriteString("[    8.103209][  T101] Call Trace:\n[    8.104011][  T101]  proc_forced_exit+0x1c/0x1000 [proc_forced]\n")
	b.WriteString("[    8.106016][  T101] ---[ end trace 0000000000000000 ]---\n")
	got = ParseBytes([]byte(b.String()))
	if len(got) != 1 || !strings.HasPrefix(got[0].Detail, "remove_proc_entry: removing non-empty directory") {
		t.Errorf("ParseBytes(WARN message, 300 callers, WARNING) = %+v; want the message kept", got)
	}

	// An open report while 300 tasks print.
	b.Reset()
	b.WriteString("[    8.100803][  T101] WARNING: CPU: 0 PID: 101 at fs/proc/generic.c:725 remove_proc_entry+0x123/0x1b0\n")
	b.WriteString("[    8.103209][  T101] Call Trace:\n")
	others(&b, 0, 300)
	b.WriteString("[    8.104011][  T101]  proc_forced_exit+0x1c/0x1000 [proc_forced]\n")
	b.WriteString("[    8.106016][  T101] ---[ end trace 0000000000000000 ]---\n")
	got = ParseBytes([]byte(b.String()))
	if len(got) != 1 || !got[0].Complete || len(got[0].CallTrace) != 1 {
		t.Errorf("ParseBytes(WARNING, 300 callers, its trace) = %+v; want one complete report", got)
	}
}

// TestPanicOnWarnOldTrace: 4.9's warn_slowpath panics before printing the
// WARNING's trace (from testdata/6.1-panic-on-warn.log, with a frame
// pointer unwinder's reliable frames): the panic's trace is the
// WARNING's. A log cut inside that trace leaves the report incomplete.
func TestPanicOnWarnOldTrace(t *testing.T) {
	log := `[    9.000001] ------------[ cut here ]------------
[    9.000402] WARNING: CPU: 1 PID: 120 at /build/lab/modules/lab_warn.c:12 lab_check+0x15/0x20 [lab_warn]()
[    9.000803] Modules linked in: lab_warn(O)
[    9.001204] Kernel panic - not syncing: panic_on_warn set ...
[    9.001605] CPU: 1 PID: 120 Comm: cat Tainted: G           O    4.9.0-19-amd64 #1 Debian 4.9.320-2
[    9.002808] Call Trace:
[    9.003209]  [<ffffffff8132e5a4>] dump_stack+0x5c/0x78
[    9.003610]  [<ffffffff8117a5d2>] panic+0xe4/0x226
[    9.004011]  [<ffffffff81078c64>] __warn+0xe4/0xf0
[    9.004412]  [<ffffffff81078d4d>] warn_slowpath_null+0x1d/0x20
[    9.004813]  [<ffffffffc0410015>] lab_check+0x15/0x20 [lab_warn]
[    9.005214]  [<ffffffffc0410040>] lab_read+0x20/0x30 [lab_warn]
`
	end := "[    9.006417] ---[ end Kernel panic - not syncing: panic_on_warn set ...\n"
	got := ParseBytes([]byte(log + end))
	if len(got) != 1 || len(got[0].CallTrace) != 6 || !got[0].Complete || got[0].Title != "WARNING in lab_check" {
		t.Errorf("ParseBytes(4.9 panic_on_warn) = %+v; want one complete WARNING with the panic's 6 frames", got)
	}
	got = ParseBytes([]byte(log))
	if len(got) != 1 || got[0].Complete {
		t.Errorf("ParseBytes(4.9 panic_on_warn, cut) = %+v; want one incomplete report", got)
	}
}

// TestRepeatsWithoutTimestamps: without timestamps a WARN that fires
// twice is two reports; with them, a dump of the same record again is
// one, but records a few milliseconds apart are two.
func TestRepeatsWithoutTimestamps(t *testing.T) {
	warn := `------------[ cut here ]------------
WARNING: CPU: 0 PID: 101 at fs/proc/generic.c:725 remove_proc_entry+0x123/0x1b0
RIP: 0010:remove_proc_entry+0x123/0x1b0
Call Trace:
 <TASK>
 proc_forced_exit+0x1c/0x1000 [proc_forced]
 </TASK>
---[ end trace 0000000000000000 ]---
`
	if got := ParseBytes([]byte(warn + warn)); len(got) != 2 {
		t.Errorf("ParseBytes(same WARNING twice, no timestamps) = %d reports; want 2", len(got))
	}
	stamp := func(ts string) string {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSuffix(warn, "\n"), "\n") {
			b.WriteString("[    8." + ts + "] " + l + "\n")
		}
		return b.String()
	}
	if got := ParseBytes([]byte(stamp("100001") + stamp("140001"))); len(got) != 2 {
		t.Errorf("ParseBytes(same WARNING at 8.100001 and 8.140001) = %d reports; want 2", len(got))
	}
	if got := ParseBytes([]byte(stamp("100001") + stamp("100001"))); len(got) != 1 {
		t.Errorf("ParseBytes(same record twice) = %d reports; want 1", len(got))
	}
}

// TestSanitizerBannerPerInlineLevel: syzbot's symbolizer prints KMSAN's
// and KFENCE's banner once per inline level, as KASAN's
// (testdata/corpus/syzbot-x86-kasan-tls_encrypt_done.log): one report.
func TestSanitizerBannerPerInlineLevel(t *testing.T) {
	for _, tc := range []struct{ log, title string }{
		{`=====================================================
BUG: KMSAN: uninit-value in __hsr_get_node net/hsr/hsr_framereg.c:202 [inline]
BUG: KMSAN: uninit-value in hsr_get_node+0x9f8/0xad0 net/hsr/hsr_framereg.c:228
 __hsr_get_node net/hsr/hsr_framereg.c:202 [inline]
 hsr_get_node+0x9f8/0xad0 net/hsr/hsr_framereg.c:228
 fill_frame_info net/hsr/hsr_forward.c:577 [inline]
 hsr_forward_skb+0x4f1/0x3b10 net/hsr/hsr_forward.c:615

CPU: 0 PID: 5096 Comm: syz-executor.0 Not tainted 6.3.0-syzkaller #0
=====================================================
`, "KMSAN: uninit-value in hsr_get_node"},
		{`==================================================================
BUG: KFENCE: use-after-free read in kfree_skb_list_reason include/linux/skbuff.h:1234 [inline]
BUG: KFENCE: use-after-free read in skb_release_data+0x1f0/0x240 net/core/skbuff.c:830

Use-after-free read at 0x00000000a4b1c2d3 (in kfence-#12):
 kfree_skb_list_reason include/linux/skbuff.h:1234 [inline]
 skb_release_data+0x1f0/0x240 net/core/skbuff.c:830

CPU: 1 PID: 43 Comm: kworker/1:1 Not tainted 6.3.0-syzkaller #0
==================================================================
`, "KFENCE: use-after-free read in skb_release_data"},
	} {
		got := ParseBytes([]byte(tc.log))
		if len(got) != 1 || got[0].Title != tc.title {
			t.Errorf("ParseBytes(%s) = %+v; want one report titled %q", tc.title, briefs(got), tc.title)
		}
	}
}
