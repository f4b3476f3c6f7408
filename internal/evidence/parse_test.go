package evidence

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// brief is the part of a Report that the table tests look at.
type brief struct {
	Kind           Kind
	Title          string
	Line           int
	Complete       bool
	RecursiveFault bool
	RIP            string
	Comm           string
	PID            int
	CPU            int
}

func briefs(oo []Report) []brief {
	var out []brief
	for _, o := range oo {
		out = append(out, brief{o.Kind, o.Title, o.Line, o.Complete, o.RecursiveFault, o.RIP, o.Comm, o.PID, o.CPU})
	}
	return out
}

// pf61 is a complete 6.1 page fault oops (chardev-unsafe's first one).
const pf61 = `[    3.280641] BUG: unable to handle page fault for address: ffffffffc0483190
[    3.280959] #PF: supervisor read access in kernel mode
[    3.281115] #PF: error_code(0x0000) - not-present page
[    3.281301] PGD 9014067 P4D 9015067 PUD 9017067 PMD 1e71d067 PTE 0
[    3.281763] Oops: 0000 [#1] PREEMPT SMP NOPTI
[    3.281982] CPU: 0 PID: 91 Comm: holder-A Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    3.282738] RIP: 0010:vfs_read+0x8a/0x310
[    3.283876] RSP: 0018:ff6d18970063fd20 EFLAGS: 00000287
[    3.286133] Call Trace:
[    3.286682]  <TASK>
[    3.287211]  ksys_read+0x6b/0xf0
[    3.287326]  do_syscall_64+0x5d/0xb0
[    3.288515]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[    3.290840]  </TASK>
[    3.290941] Modules linked in: virtio_net [last unloaded: chardev_unsafe(OE)]
[    3.291572] CR2: ffffffffc0483190
[    3.291893] ---[ end trace 0000000000000000 ]---
`

func TestParse(t *testing.T) {
	pfBrief := brief{KindPageFault, "BUG: unable to handle page fault in vfs_read", 1, true, false, "vfs_read+0x8a/0x310", "holder-A", 91, 0}
	shifted := func(b brief, n int) brief { b.Line += n; return b }
	incomplete := func(b brief) brief { b.Complete = false; return b }
	tests := []struct {
		name string
		in   string
		want []brief
	}{
		{"empty", "", nil},
		{"boot chatter only", "[    0.000000] Linux version 6.1.0-56-amd64\n[    1.161764] PCI: ... report a bug\n", nil},
		{"page fault", pf61, []brief{pfBrief}},
		{
			"userspace line inside a report is not part of it",
			strings.Replace(pf61, "[    3.287326]", "lab-agent: step 6\n[    3.287326]", 1),
			[]brief{pfBrief},
		},
		{
			"header glued behind userspace output",
			"lab-agent: reading" + pf61,
			[]brief{pfBrief},
		},
		{
			"unmarked log keeps every line",
			regexp.MustCompile(`(?m)^\[[ 0-9.]+\] `).ReplaceAllString(pf61, ""),
			[]brief{pfBrief},
		},
		{
			"report cut short at end of input",
			pf61[:strings.Index(pf61, "[    3.290941]")],
			[]brief{incomplete(pfBrief)},
		},
		{
			"report cut short by unrecognised lines does not take the next CPU line",
			pf61[:strings.Index(pf61, "[    3.281982]")] +
				strings.Repeat("[    4.000000] virtio_net virtio0 eth0: link up\n", maxUnknown+1) +
				"[    5.000000] CPU: 1 PID: 7 Comm: other Not tainted 6.1.0-56-amd64 #1\n",
			[]brief{{KindPageFault, "BUG: unable to handle page fault for address: ffffffffc0483190", 1, false, false, "", "", 0, -1}},
		},
		{
			"recursive fault after notes belongs to the last report",
			pf61 + "[    3.294572] note: holder-A[91] exited with irqs disabled\n[    3.300000] IPv6: eth0: link becomes ready\n[    3.311327] Fixing recursive fault but reboot is needed!\n",
			[]brief{{KindPageFault, pfBrief.Title, 1, true, true, pfBrief.RIP, "holder-A", 91, 0}},
		},
		{"recursive fault with no report", "[    3.311327] Fixing recursive fault but reboot is needed!\n", nil},
		{
			"two reports",
			pf61 + strings.ReplaceAll(pf61, "[    3.", "[    4."),
			[]brief{pfBrief, shifted(pfBrief, 17)},
		},
		{
			"the same report printed again (console, then a dmesg dump) is one",
			pf61 + "[    5.000000] lab-agent: dmesg\n" + pf61,
			[]brief{pfBrief},
		},
		{
			"die line with no BUG line before it",
			"[   10.000000] int3: 0000 [#1] PREEMPT SMP NOPTI\n[   10.000001] CPU: 1 PID: 5 Comm: kworker/1:0 Not tainted 6.1.0-56-amd64 #1\n[   10.000002] RIP: 0010:foo_fn+0x1/0x10 [foo]\n[   10.000003] ---[ end trace 0000000000000000 ]---\n",
			[]brief{{KindOops, "int3 in foo_fn", 1, true, false, "foo_fn+0x1/0x10 [foo]", "kworker/1:0", 5, 1}},
		},
		{
			"BUG() without a kernel BUG line",
			"invalid opcode: 0000 [#1] SMP NOPTI\nCPU: 0 PID: 1 Comm: init Not tainted 5.10.0-32-amd64 #1\nRIP: 0010:bar+0x5/0x9\n",
			[]brief{{KindBug, "invalid opcode in bar", 1, false, false, "bar+0x5/0x9", "init", 1, 0}},
		},
		{
			"pre-4.17 NULL pointer wording",
			"[    5.1] BUG: unable to handle kernel NULL pointer dereference at           (null)\n[    5.2] IP: [<ffffffffa0000010>] nullread+0x10/0x30 [nr]\n[    5.3] Oops: 0000 [#1] SMP\n",
			[]brief{{KindNullDeref, "BUG: unable to handle kernel NULL pointer dereference in nullread", 1, false, false, "nullread+0x10/0x30 [nr]", "", 0, -1}},
		},
		{
			"KASAN names its function in the banner",
			"[    9.0] BUG: KASAN: slab-use-after-free in lab_release+0x12/0x40 [lab]\n[    9.1] Read of size 8 at addr ffff888003a1b2c8 by task rmmod/90\n",
			[]brief{{KindKASAN, "KASAN: slab-use-after-free Read in lab_release", 1, false, false, "", "", 0, -1}},
		},
		{
			"scheduling while atomic",
			"[    9.0] BUG: scheduling while atomic: holder-A/88/0x00000002\n[    9.1] CPU: 0 PID: 88 Comm: holder-A Tainted: G           OE      6.1.0-56-amd64 #1\n[    9.2] Call Trace:\n[    9.3]  <TASK>\n[    9.4]  dump_stack_lvl+0x44/0x5c\n[    9.5]  __schedule_bug.cold+0x83/0x90\n[    9.6]  __schedule+0x6e1/0x8d0\n[    9.7]  schedule+0x5a/0xd0\n[    9.8]  msleep+0x2b/0x40\n[    9.9]  holder_read+0x2c/0x60 [holder]\n[   10.0]  </TASK>\n",
			// msleep is the sleeper, not a primitive to look past: syzkaller
			// skips only "schedule" here (see testdata/classes/sched-atomic.log).
			[]brief{{KindAtomicSchedule, "BUG: scheduling while atomic in msleep", 1, true, false, "", "holder-A", 88, 0}},
		},
		{
			"a task quoting a report in the kernel log is not one",
			"[    5.0] lab-agent: expect watchdog: BUG: soft lockup - CPU#0 stuck for 1s! [a:1]\n[    5.1] lab-agent: Watchdog detected hard LOCKUP on cpu 1 expected\n",
			nil,
		},
		{
			"lockdep WARNING is not a __warn report",
			"[    9.0] WARNING: possible circular locking dependency detected\n",
			[]brief{{KindLockdep, "WARNING: possible circular locking dependency detected", 1, false, false, "", "", 0, -1}},
		},
		{
			"WARNING without a source location",
			"[    9.0] WARNING: CPU: 1 PID: 7 at foo_fn+0x1/0x10 [foo]\n",
			[]brief{{KindWarning, "WARNING in foo_fn", 1, false, false, "", "", 7, 1}},
		},
		{
			"2.6 WARNING",
			"WARNING: at fs/proc/generic.c:850 remove_proc_entry+0x1a0/0x1c0()\n",
			[]brief{{KindWarning, "WARNING in remove_proc_entry", 1, false, false, "", "", 0, -1}},
		},
		{
			"hung task with no frames yet",
			"[   20.0] INFO: task rmmod:88 blocked for more than 5 seconds.\n[   20.1]       Not tainted 6.1.0-56-amd64 #1 Debian 6.1.192-2\n",
			[]brief{{KindHungTask, "INFO: task rmmod:88 blocked for more than 5 seconds.", 1, false, false, "", "rmmod", 88, -1}},
		},
		{
			"another task's message inside a hung task's trace",
			"[   20.0] INFO: task rmmod:88 blocked for more than 5 seconds.\n[   20.1] Call Trace:\n[   20.2]  <TASK>\n[   20.3]  __schedule+0x34d/0x9e0\n[   20.4] lab-agent: step 6 observe\n[   20.5]  proc_entry_rundown+0x8f/0xd0\n[   20.6]  </TASK>\n",
			[]brief{{KindHungTask, "INFO: task rmmod blocked in proc_entry_rundown", 1, true, false, "", "rmmod", 88, -1}},
		},
		{
			"hung task of a comm with a colon",
			"[   20.0] INFO: task kworker/u8:0:11 blocked for more than 147 seconds.\n",
			[]brief{{KindHungTask, "INFO: task kworker/u8:0:11 blocked for more than 147 seconds.", 1, false, false, "", "kworker/u8:0", 11, -1}},
		},
		{
			"panic on its own",
			"[    0.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n[    0.9] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2\n[    0.9] Call Trace:\n[    0.9]  <TASK>\n[    0.9]  dump_stack_lvl+0x44/0x5c\n[    0.9]  panic+0x118/0x2ed\n[    0.9]  mount_block_root+0x1d3/0x1e6\n[    0.9]  </TASK>\n[    0.9] Kernel Offset: 0x1000000 from 0xffffffff81000000\n[    0.9] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---\n",
			[]brief{{KindPanic, "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", 1, true, false, "", "swapper/0", 1, 0}},
		},
		{
			"hard lockup with the newer prefix",
			"[   50.0] watchdog: CPU1: Watchdog detected hard LOCKUP on cpu 1\n",
			[]brief{{KindHardLockup, "watchdog: CPU1: Watchdog detected hard LOCKUP on cpu 1", 1, false, false, "", "", 0, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q) error = %v; want nil", tt.name, err)
			}
			if g := briefs(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Parse(%q) = %+v; want %+v", tt.name, g, tt.want)
			}
		})
	}
}

// TestParseFields checks the fields of the 6.1 page fault one by one.
func TestParseFields(t *testing.T) {
	got := ParseBytes([]byte(pf61))
	if len(got) != 1 {
		t.Fatalf("ParseBytes(pf61) = %d reports; want 1", len(got))
	}
	o := got[0]
	want := Report{
		Kind:            KindPageFault,
		Arch:            ArchAMD64,
		Title:           "BUG: unable to handle page fault in vfs_read",
		Message:         "BUG: unable to handle page fault for address: ffffffffc0483190",
		Address:         "ffffffffc0483190",
		RIP:             "vfs_read+0x8a/0x310",
		RIPFunction:     "vfs_read",
		Guilty:          "vfs_read",
		Comm:            "holder-A",
		PID:             91,
		CPU:             0,
		Tainted:         "G OE",
		TaintFlags:      []string{"G: only GPL-compatible modules loaded", "O: out-of-tree module loaded", "E: unsigned module loaded"},
		KernelRelease:   "6.1.0-56-amd64",
		OopsNumber:      1,
		ErrorCode:       "0000",
		CR2:             "ffffffffc0483190",
		Registers:       map[string]string{"RSP": "ff6d18970063fd20", "EFLAGS": "00000287"},
		CallTrace:       []string{"ksys_read+0x6b/0xf0", "do_syscall_64+0x5d/0xb0", "entry_SYSCALL_64_after_hwframe+0x6e/0xd8"},
		ModulesLinkedIn: []string{"virtio_net"},
		LastUnloaded:    "chardev_unsafe",
		Complete:        true,
		Line:            1,
		Time:            3.280641,
	}
	for _, l := range strings.Split(strings.TrimSpace(pf61), "\n") {
		want.Text = append(want.Text, l[len("[    3.280641] "):])
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("ParseBytes(pf61) = %+v; want %+v", o, want)
	}
}

// TestPrefixes feeds one log in every line format a console or a dump
// may have and expects the same records, less what the format cannot
// carry (timestamps).
func TestPrefixes(t *testing.T) {
	base, _ := readLog(t, "testdata/6.1-chardev-unsafe.log")
	want := ParseBytes(base)
	if len(want) != 2 {
		t.Fatalf("ParseBytes(6.1-chardev-unsafe.log) = %d reports; want 2", len(want))
	}
	reTS := regexp.MustCompile(`^\[ *(\d+)\.(\d+)\] `)
	// each rewrites one kernel line (userspace lines pass unchanged).
	variants := []struct {
		name   string
		line   func(l string, m []string) string
		noTime bool
	}{
		{"CRLF", func(l string, m []string) string { return l + "\r" }, false},
		{"dmesg without timestamps", func(l string, m []string) string { return l[len(m[0]):] }, true},
		{"dmesg -T", func(l string, m []string) string { return "[Sun Nov 23 09:09:0" + m[1] + " 2026] " + l[len(m[0]):] }, true},
		{"level prefix", func(l string, m []string) string { return "<4>" + l }, false},
		{"level prefix only", func(l string, m []string) string { return "<1>" + l[len(m[0]):] }, true},
		{"caller id", func(l string, m []string) string { return m[0][:len(m[0])-1] + "[    T88] " + l[len(m[0]):] }, false},
		{"kmsg records", func(l string, m []string) string {
			return fmt.Sprintf("4,%s,%s%s,-,caller=T88;%s", m[2][:3], m[1], m[2], l[len(m[0]):])
		}, false},
		{"journal", func(l string, m []string) string { return "Nov 23 09:09:05 lab kernel: " + l[len(m[0]):] }, true},
		{"syslog with timestamps", func(l string, m []string) string {
			return "2026-11-23T09:09:05.438905+00:00 lab kernel: " + l
		}, false},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			var b bytes.Buffer
			for _, l := range strings.Split(strings.TrimSuffix(string(base), "\n"), "\n") {
				if m := reTS.FindStringSubmatch(l); m != nil {
					l = v.line(l, m)
				} else if v.name == "dmesg without timestamps" {
					continue // an unmarked log cannot tell userspace lines apart
				}
				b.WriteString(l + "\n")
			}
			got := ParseBytes(b.Bytes())
			if len(got) != len(want) {
				t.Fatalf("ParseBytes(%s) = %d reports; want %d", v.name, len(got), len(want))
			}
			for i := range got {
				w := want[i]
				if v.noTime {
					w.Time = 0
				}
				if v.name == "dmesg without timestamps" {
					w.Line = got[i].Line // the userspace lines were dropped
				}
				if !reflect.DeepEqual(got[i], w) {
					t.Errorf("ParseBytes(%s)[%d] = %+v; want %+v", v.name, i, got[i], w)
				}
			}
		})
	}
}

func TestOverlongLine(t *testing.T) {
	in := strings.Repeat("x", 3*maxLine+5) + "\n" + pf61
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse(overlong line) error = %v; want nil", err)
	}
	if len(got) != 1 || got[0].Line != 2 {
		t.Errorf("Parse(overlong line) = %+v; want one report at line 2", briefs(got))
	}
}

func TestDecodeTaint(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"G           OE     ", []string{"G: only GPL-compatible modules loaded", "O: out-of-tree module loaded", "E: unsigned module loaded"}},
		{"P      D W", []string{"P: proprietary module loaded", "D: kernel died recently (oops or BUG)", "W: warning issued"}},
		{"G Q", []string{"G: only GPL-compatible modules loaded", "Q: unknown taint flag"}},
	}
	for _, tt := range tests {
		if got := DecodeTaint(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DecodeTaint(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestTaintString(t *testing.T) {
	tests := []struct {
		mask uint64
		want string
	}{
		{0, ""},
		{12288, "G OE"},         // O+E: an unsigned out-of-tree module
		{12288 | 128, "G D OE"}, // and an oops
		{1 | 2, "PF"},
		{512 | 16384, "G W L"},
		{1 << 19, "G J"},
	}
	for _, tt := range tests {
		if got := TaintString(tt.mask); got != tt.want {
			t.Errorf("TaintString(%d) = %q; want %q", tt.mask, got, tt.want)
		}
	}
}

func TestGuilty(t *testing.T) {
	tests := []struct {
		name  string
		rip   string
		trace []string
		want  string
	}{
		{"symbolic RIP", "vfs_read+0x7f/0x2e0", []string{"ksys_read+0x6f/0xf0"}, "vfs_read"},
		{"RIP in freed module memory", "0xffffffffc05b3198", []string{"ksys_read+0x6f/0xf0"}, "ksys_read"},
		{"module frame with compiler suffix", "", []string{"device_read.cold+0x5/0x9 [chardev]"}, "device_read"},
		{"hung task waits", "", []string{"__schedule+0x34d/0x9e0", "schedule+0x5a/0xd0", "schedule_timeout+0x118/0x150", "wait_for_completion_state+0x1/0x2", "proc_entry_rundown+0x8f/0xd0"}, "proc_entry_rundown"},
		{"nothing to blame", "0xffffffffc05b3198", nil, ""},
	}
	for _, tt := range tests {
		if got := guilty(skipped, []string{tt.rip}, tt.trace); got != tt.want {
			t.Errorf("guilty(%q, %q) = %q; want %q", tt.rip, tt.trace, got, tt.want)
		}
	}
}
