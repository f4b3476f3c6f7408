package evidence

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOldTraceCutByMessage: before <TASK> markers (5.x and older) a call
// trace has no end line; the first line that is not a frame or a
// register dump ends it, and the report keeps the frames it had. What
// follows (here another CPU's backtrace, whose CPU line a hung-task report
// would otherwise take) is not the report's.
func TestOldTraceCutByMessage(t *testing.T) {
	log := `[  246.118223] INFO: task rmmod:88 blocked for more than 120 seconds.
[  246.118754]       Tainted: G           OE     5.10.0-32-amd64 #1 Debian 5.10.223-1
[  246.119816] task:rmmod           state:D stack:    0 pid:   88 ppid:    70 flags:0x00004000
[  246.120347] Call Trace:
[  246.120878]  __schedule+0x282/0x870
[  246.121409]  schedule+0x46/0xb0
[  246.123533]  proc_entry_rundown+0x6c/0xb0
[  246.124064]  remove_proc_entry+0x8f/0x170
[  246.124595]  proc_unsafe_exit+0x15/0x1000 [proc_unsafe]
[  246.130967] proc_unsafe: slow read done
[  246.131000] NMI backtrace for cpu 1
[  246.131001] CPU: 1 PID: 0 Comm: swapper/1 Tainted: G           OE     5.10.0-32-amd64 #1 Debian 5.10.223-1
[  246.131002] RIP: 0010:default_idle+0xe/0x20
`
	got := ParseBytes([]byte(log))
	if len(got) != 1 {
		t.Fatalf("ParseBytes = %d reports; want 1", len(got))
	}
	o := got[0]
	if !o.Complete || len(o.CallTrace) != 5 || o.Guilty != "proc_entry_rundown" || o.CPU != -1 {
		t.Errorf("report complete %v, frames %q, guilty %q, cpu %d; want complete, 5 frames, proc_entry_rundown, no cpu",
			o.Complete, o.CallTrace, o.Guilty, o.CPU)
	}
	for _, l := range o.Text {
		if strings.Contains(l, "slow read done") || strings.Contains(l, "swapper") {
			t.Errorf("report text has %q, printed after its trace", l)
		}
	}
}

// kasanReport is a KASAN report as 6.6 prints it, up to its closing
// separator.
const kasanReport = `[   41.201733] ==================================================================
[   41.202210] BUG: KASAN: slab-use-after-free in lab_release+0x4e/0x90 [lab_uaf]
[   41.202638] Read of size 8 at addr ffff888005a3c010 by task holder-A/91
[   41.203141] CPU: 0 PID: 91 Comm: holder-A Tainted: G           OE      6.6.13-amd64 #1  Debian 6.6.13-1
[   41.204227] Call Trace:
[   41.204391]  <TASK>
[   41.204531]  dump_stack_lvl+0x48/0x70
[   41.204771]  print_report+0xcf/0x670
[   41.205298]  kasan_report+0xd7/0x110
[   41.205819]  lab_release+0x4e/0x90 [lab_uaf]
[   41.206101]  __fput+0x1f5/0x4c0
[   41.210905]  </TASK>
[   41.211043] 
[   41.217025] The buggy address belongs to the object at ffff888005a3c000
[   41.218000] ==================================================================
`

// TestSanitizerEndsAtSeparator: a sanitizer report ends at its closing
// line of '=': it is complete, and what follows is not part of it.
func TestSanitizerEndsAtSeparator(t *testing.T) {
	log := kasanReport + "[   41.219000] lab_uaf: released\n[   41.219001] lab-agent: step 4 observe\n"
	got := ParseBytes([]byte(log))
	if len(got) != 1 {
		t.Fatalf("ParseBytes = %d reports; want 1", len(got))
	}
	o := got[0]
	if !o.Complete || !isSeparator(o.Text[len(o.Text)-1]) {
		t.Errorf("KASAN report complete %v, last text line %q; want complete, ending at the separator", o.Complete, o.Text[len(o.Text)-1])
	}
}

// TestPanicJoinsHeldKASAN: KASAN's report is over at its separator and
// held back; the panic_on_warn panic that follows joins it (one report)
// rather than standing alone.
func TestPanicJoinsHeldKASAN(t *testing.T) {
	log := kasanReport + `[   41.219000] Kernel panic - not syncing: KASAN: panic_on_warn set ...
[   41.219100] CPU: 0 PID: 91 Comm: holder-A Tainted: G    B      OE      6.6.13-amd64 #1  Debian 6.6.13-1
[   41.219200] Call Trace:
[   41.219300]  <TASK>
[   41.219400]  dump_stack_lvl+0x48/0x70
[   41.219500]  panic+0x33e/0x380
[   41.219600]  end_report+0x10d/0x110
[   41.219700]  kasan_report+0xe3/0x110
[   41.219800]  lab_release+0x4e/0x90 [lab_uaf]
[   41.219900]  </TASK>
[   41.220000] ---[ end Kernel panic - not syncing: KASAN: panic_on_warn set ... ]---
`
	got := ParseBytes([]byte(log))
	if len(got) != 1 {
		var k []Kind
		for _, o := range got {
			k = append(k, o.Kind)
		}
		t.Fatalf("ParseBytes = %d reports %q; want 1, the KASAN report with its panic", len(got), k)
	}
	o := got[0]
	if o.Kind != KindKASAN || o.Panic != "Kernel panic - not syncing: KASAN: panic_on_warn set ..." || o.Guilty != "lab_release" || !o.Complete {
		t.Errorf("report kind %q panic %q guilty %q complete %v; want kasan with its panic, lab_release, complete", o.Kind, o.Panic, o.Guilty, o.Complete)
	}
}

// TestODEBUGByMessage: a WARNING is an ODEBUG report by its message even
// where debug_print_object was inlined and the WARNING names its caller.
func TestODEBUGByMessage(t *testing.T) {
	log := `[   14.000401] ------------[ cut here ]------------
[   14.000402] ODEBUG: free active (active state 0) object: ffff9d0b41a4e400 object type: timer_list hint: lab_timer_fn+0x0/0x20 [lab_odebug]
[   14.000403] WARNING: CPU: 1 PID: 99 at lib/debugobjects.c:509 debug_check_no_obj_freed+0x1b9/0x200
[   14.000404] Modules linked in: lab_odebug(OE-) virtio_net
[   14.000405] CPU: 1 PID: 99 Comm: rmmod Tainted: G        W  OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[   14.000406] RIP: 0010:debug_check_no_obj_freed+0x1b9/0x200
[   14.000407] Call Trace:
[   14.000408]  <TASK>
[   14.000409]  kfree+0x7e/0x150
[   14.000410]  lab_exit+0x1c/0x30 [lab_odebug]
[   14.000411]  __do_sys_delete_module+0x1d5/0x320
[   14.000412]  </TASK>
[   14.000413] ---[ end trace 0000000000000000 ]---
`
	got := ParseBytes([]byte(log))
	if len(got) != 1 {
		t.Fatalf("ParseBytes = %d reports; want 1", len(got))
	}
	if o := got[0]; o.Kind != KindODEBUG || o.Title != "WARNING: ODEBUG bug in lab_exit" {
		t.Errorf("report kind %q title %q; want odebug, WARNING: ODEBUG bug in lab_exit", o.Kind, o.Title)
	}
}

// reRegs is the regexp the register scan replaced: the scan must read
// the same.
var reRegs = regexp.MustCompile(`\b(R[ABCD]X|R[SD]I|RBP|RSP|R0[89]|R1[0-5]|EFLAGS): ?(?:[0-9a-f]{4}:)?([0-9a-f]+)`)

// TestFastPathsMatchRegexps checks the hand scans that replaced
// regexps and strconv on the hot path against them, on every line of the
// test logs and some odd ones.
func TestFastPathsMatchRegexps(t *testing.T) {
	lines := []string{
		"RSP: 0018:ffffaf2d40177ed8 EFLAGS: 00000287", "RSP:0018:ab", "RAX: abcd:zz", "ORIG_RAX: 01 RAX:", "xRAX: 1",
		"RBX: 0018: R08:1", "f+0x1/0x2 [m]]", "f+0x1/0x2 [", "f+0x1/0x2 []", "f+0x1/0x2 [m] x.c:1", "f+0x1/0x2x",
		"f x.c:3 [inline]", "0xffff", "f.cold+0x1/0x2", "+0x1/0x2", "f+0x/0x2", "f+0x1/0x2 [m] [n]",
	}
	for _, log := range logFiles(t) {
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = splitPrefix(l).msg
			l = strings.TrimSpace(l)
			lines = append(lines, l, stripAddr(l), strings.TrimPrefix(stripAddr(l), "? "))
		}
	}
	for _, l := range lines {
		if got, want := isFrame(l), reFrame.MatchString(l); got != want {
			t.Errorf("isFrame(%q) = %v; reFrame says %v", l, got, want)
		}
		var r report
		r.registers(l)
		want := map[string]string{}
		for _, m := range reRegs.FindAllStringSubmatch(l, -1) {
			want[m[1]] = m[2]
		}
		if len(r.o.Registers) != len(want) {
			t.Errorf("registers(%q) = %v; reRegs says %v", l, r.o.Registers, want)
		}
		for k, v := range want {
			if r.o.Registers[k] != v {
				t.Errorf("registers(%q) = %v; reRegs says %v", l, r.o.Registers, want)
			}
		}
	}
	for _, s := range []string{"0.000000", "2.886914", "246.118223", "12.5", "99999.999999", "123456789.123456", "1.23456789012345678"} {
		i := strings.IndexByte(s, '.')
		want, _ := strconv.ParseFloat(s, 64)
		if got, ok := parseSeconds(s, i); !ok || got != want {
			t.Errorf("parseSeconds(%q) = %v; ParseFloat says %v", s, got, want)
		}
	}
}

// TestLineTime: lab bench reads boot phases off these forms of a console
// line.
func TestLineTime(t *testing.T) {
	for _, tc := range []struct {
		line, msg string
		t         float64
		ok        bool
	}{
		{"[    1.816758] Run /init as init process", "Run /init as init process", 1.816758, true},
		{"<6>[   12.5] lab-agent: ready", "lab-agent: ready", 12.5, true},
		{"[    3.1][  T88] lab-agent: ready\r", "lab-agent: ready", 3.1, true},
		{"[    0.000000] Linux version 6.1.0-57-amd64", "Linux version 6.1.0-57-amd64", 0, false},
		{"holder: no timestamp", "holder: no timestamp", 0, false},
	} {
		msg, ts, ok := LineTime(tc.line)
		if ok != tc.ok || (ok && (msg != tc.msg || ts != tc.t)) {
			t.Errorf("LineTime(%q) = %q, %v, %v; want %q, %v, %v", tc.line, msg, ts, ok, tc.msg, tc.t, tc.ok)
		}
	}
}
