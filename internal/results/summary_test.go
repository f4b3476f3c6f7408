package results

import (
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

func summaryOf(t *testing.T, path string) string {
	t.Helper()
	r, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	PrintSummary(&b, r, "results/x/"+r.Kernel.Name+"/"+r.Experiment)
	return b.String()
}

// TestSummaryOfRealRecords: what `lab run` prints for real records, line
// for line: each step's outcome and time, the kernel's reports under the
// step they came in with the addresses they resolved, the processes'
// fates, the verdict's reason and the timings.
func TestSummaryOfRealRecords(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"testdata/cells/chardev-unsafe-pass/result.json", `
chardev-unsafe on debian-6.1 (6.1.0-56-amd64, tcg): PASS
  rmmod succeeds while a process holds the device open; the next read calls into freed module memory
   1 load     chardev_unsafe   ok  (27 ms)
   2 open     A                ok  (38 ms)
   3 read     A                ok "I already told you 0 times Hello world!"  (4 ms)
   4 unload   chardev_unsafe   ok  (30 ms)
   5 read     A                no answer: no answer within 3s; state X (dead)  (3016 ms)
       kernel: BUG: unable to handle page fault in vfs_read (RIP vfs_read+0x8a/0x310, CR2 ffffffffc04ef190, task holder-A/91, last unloaded chardev_unsafe)
         CR2 ffffffffc04ef190 = chardev_unsafe:fops+0x10 (module unloaded 0.03 s before)
         RCX ffffffffc04ef180 = chardev_unsafe:fops (module unloaded 0.03 s before)
       kernel: BUG: unable to handle page fault in filp_close (RIP filp_close+0x1d/0x70, CR2 ffffffffc04ef1f8, task holder-A/91, last unloaded chardev_unsafe, recursive fault)
         CR2 ffffffffc04ef1f8 = chardev_unsafe:fops+0x78 (module unloaded 0.04 s before)
         RSI ffffffffc04ef180 = chardev_unsafe:fops (module unloaded 0.04 s before)
   6 observe  A                ok; state X (dead)  (6 ms)
  process holder-A (pid 91, A): X (dead): dead and never reaped, a parent waiting for it would hang
  kernel reports: 2
  note: KVM booted nothing (debian-6.1: the kernel printed nothing within 20s (accel kvm); the console is empty); retried with TCG
  time: boot 6.6 s, total 30.5 s
  result: results/x/debian-6.1/chardev-unsafe
`},
		{"testdata/runs/20261204-143940-79b870/debian-5.10/sysfs-safe/result.json", `
sysfs-safe on debian-5.10 (5.10.0-32-amd64, tcg): FAIL
  rmmod during a sysfs read waits for the read (kernfs active references); the read completes, and the open file then reads ENODEV
   1 load     sysfs_safe       ok  (45 ms)
   2 open     A                ok  (1 ms)
   3 read     A                ok  (1 ms)
   4 sleep    500ms            ok  (500 ms)
   5 unload   sysfs_safe       ok  (7 ms)
   6 sleep    1s               ok  (1000 ms)
   7 observe  u                ok; state D (disk sleep)  (17 ms)
   8 await    r                ok "sysfs_safe: value"  (3147 ms)
   9 await    u                ok  (2635 ms)
  10 read     A                failed ENODEV  (3 ms)
  11 exists   /sys/kernel/sysfs_safe ok exists=false  (1 ms)
  process holder-A (pid 76, A): S (sleeping)
  process rmmod (pid 77, u (unload sysfs_safe)): gone, reaped: exit 0
  note: KVM unusable (the kernel printed nothing within 2.5s under KVM); running on TCG (probed 53m54s ago, remembered in the cache; lab doctor --reprobe asks again)
  note: restored from snapshot 07fd8b4ba013f60d688a1d7a.snap
  why: step 7: kernel stack: want a frame "kernfs_drain", got [<0>] __kernfs_remove.part.0+0x22c/0x2b0 < [<0>] kernfs_remove+0x33/0x40 < [<0>] __kobject_del+0x2e/0x80 < [<0>] kobject_put+0x109/0x1e0 < [<0>] __do_sys_delete_module+0x194/0x300 < [<0>] do_syscall_64+0x33/0x80 < [<0>] entry_SYSCALL_64_after_hwframe+0x67/0xd1
  time: boot 0.0 s, total 3.4 s
  result: results/x/debian-5.10/sysfs-safe
`},
		{"testdata/cells/chardev-safe-qemu-exited/result.json", `
chardev-safe on debian-6.1 (6.1.0-56-amd64, kvm): ERROR
  with .owner set, rmmod is refused while the device is open, and succeeds after close
  error (qemu-exited): qmp: read unix @->/tmp/lab-vm-3052252747/qmp.sock: read: connection reset by peer: qemu said: qemu: could not open kernel file '/work/labcache/images/debian-6.1/root/boot/vmlinuz-6.1.0-56-amd64': No such file or directory
  time: boot 0.0 s, total 0.1 s
  result: results/x/debian-6.1/chardev-safe
`},
	} {
		if got := summaryOf(t, tc.path); got != tc.want {
			t.Errorf("summary of %s:\n%s\nwant\n%s\n%s", tc.path, got, tc.want, firstDiff(got, tc.want))
		}
	}
}

// TestSummaryOfRepeats: a real cell of ten repeats, flaky, that lab
// counts an error: the distribution a line per signature, with intervals.
func TestSummaryOfRepeats(t *testing.T) {
	got := summaryOf(t, "testdata/runs/20261204-143403-b0b311/debian-6.1/timer-unsafe/result.json")
	for _, want := range []string{
		"\ntimer-unsafe on debian-6.1 (6.1.0-57-amd64, tcg): ERROR\n",
		"\n  kernel reports: 2\n  repeats: 5/10 page fault in __run_timers, Kernel panic - not syncing: Fatal exception in interrupt, 3/10 fail: page fault in enqueue_timer, 2/10 error (guest-hang); 5 of 10 passed; FLAKY: more than one behaviour\n" +
			"     5/10  rate 0.50, 95% interval 0.24–0.76  page fault in __run_timers, Kernel panic - not syncing: Fatal exception in interrupt\n" +
			"     3/10  rate 0.30, 95% interval 0.11–0.60  fail: page fault in enqueue_timer\n" +
			"     2/10  rate 0.20, 95% interval 0.06–0.51  error (guest-hang)\n  note: ",
		"\n  error (guest-hang): 2 of 10 repeats could not complete: repeat 2: guest-hang: step 3 (unload timer_unsafe)",
		"\n  time: boot 0.9 s, total 1.6 s\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "expected rate") || strings.Contains(got, "why:") {
		t.Errorf("summary of an error without an expected rate says one, or a reason:\n%s", got)
	}
	// A steady cell is not flaky; its one signature is "same".
	same := &Result{Experiment: "e", Kernel: Kernel{Name: "k"}, Verdict: Pass}
	same.Repeats = Distribute([]*Result{same, same, same})
	var b strings.Builder
	PrintSummary(&b, same, "")
	if want := "  repeats: 3/3 same; 3 of 3 passed\n     3/3  rate 1.00, 95% interval 0.44–1.00  no report\n"; !strings.Contains(b.String(), want) || strings.Contains(b.String(), "FLAKY") || strings.Contains(b.String(), "result:") {
		t.Errorf("summary of 3 same repeats:\n%s\nwant %q, no FLAKY and no result path", b.String(), want)
	}
}

// TestSummaryProcessesAndSteps: how a summary words each process fate and
// step outcome; a step's report index past the reports is skipped.
func TestSummaryProcessesAndSteps(t *testing.T) {
	yes := true
	r := &Result{Experiment: "e", Kernel: Kernel{Name: "k", Release: "r"}, Accel: "kvm", Verdict: Fail, Reason: "step 2: errno: want EIO, got EBUSY",
		Steps: []Step{
			{Index: 1, Action: "open", Target: "A", Errno: "ENOENT", Error: "open /dev/x: no such file", MS: 2},
			{Index: 2, Action: "write", Target: "A", Error: "short write", MS: 3, Oopses: []int{0, 1}},
			{Index: 3, Action: "exists", Target: "/dev/x", OK: true, Exists: &yes, MS: 1},
			{Index: 4, Action: "observe", Target: "B", OK: true, MS: 7, Process: &StepProcess{State: "D (disk sleep)", Wchan: "lab_wait"}},
			{Index: 5, Action: "read", Target: "C", NoAnswer: true, Error: "no answer within 3s", MS: 3001, Process: &StepProcess{State: "S (sleeping)", Wchan: "0"}},
			{Index: 6, Action: "read", Target: "D", OK: true, MS: 4, Process: &StepProcess{State: "R (running)", Wchan: "x"}},
		},
		Oopses: []evidence.Report{{Kind: evidence.KindWarning, Title: "WARNING: CPU: 0 PID: 7 at f+0x1/0x2", Comm: "rmmod", PID: 7,
			Resolved: []evidence.Resolved{{What: "RIP", Address: "ffffffff81000000", Symbol: "f+0x1"}, {What: "RAX", Address: "ffffffffc0000010", Symbol: "g+0x10", Module: "m"}}}},
		Processes: []Process{
			{Comm: "holder-A", PID: 1, Holder: "A", State: "D (disk sleep)", HungTaskReport: "INFO: task holder-A:1 blocked for more than 120 seconds.\n      Not tainted"},
			{Comm: "holder-B", PID: 2, Holder: "B", State: "D (disk sleep)"},
			{Comm: "holder-C", PID: 3, Holder: "C", State: "X (dead)"},
			{Comm: "sh", PID: 4, Holder: "c", State: "gone", Exited: true, ExitStatus: "killed by SIGKILL"},
			{Comm: "holder-D", PID: 5, Holder: "D", State: "S (sleeping)"},
		},
		TimingsMS: map[string]int64{"boot": 1250, "total": 9949},
	}
	var b strings.Builder
	PrintSummary(&b, r, "")
	want := `
e on k (r, kvm): FAIL
   1 open     A                failed ENOENT  (2 ms)
   2 write    A                failed: short write  (3 ms)
       kernel: WARNING: CPU: 0 PID: 7 at f+0x1/0x2 (task rmmod/7)
         RAX ffffffffc0000010 = m:g+0x10
   3 exists   /dev/x           ok exists=true  (1 ms)
   4 observe  B                ok; state D (disk sleep), wchan lab_wait  (7 ms)
   5 read     C                no answer: no answer within 3s; state S (sleeping)  (3001 ms)
   6 read     D                ok  (4 ms)
  process holder-A (pid 1, A): D (disk sleep): uninterruptible; the kernel's hung-task detector reported it
    kernel: INFO: task holder-A:1 blocked for more than 120 seconds.
  process holder-B (pid 2, B): D (disk sleep): uninterruptible, no signal can reach it (the hung-task detector did not report it)
  process holder-C (pid 3, C): X (dead): dead and never reaped, a parent waiting for it would hang
  process sh (pid 4, c): gone, reaped: killed by SIGKILL
  process holder-D (pid 5, D): S (sleeping)
  kernel reports: 1
  why: step 2: errno: want EIO, got EBUSY
  time: boot 1.2 s, total 9.9 s
`
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant\n%s\n%s", b.String(), want, firstDiff(b.String(), want))
	}
}

// TestOopsLine: a report in one line, with what is known of where it hit.
func TestOopsLine(t *testing.T) {
	for _, tc := range []struct {
		o    evidence.Report
		want string
	}{
		{evidence.Report{Title: "BUG: kernel NULL pointer dereference, address: 0000000000000000"}, "BUG: kernel NULL pointer dereference, address: 0000000000000000"},
		{evidence.Report{Title: "t", CR2: "0"}, "t (CR2 0)"},
		{evidence.Report{Title: "t", RIP: "f+0x1/0x2", LastUnloaded: "m"}, "t (RIP f+0x1/0x2, last unloaded m)"},
		{evidence.Report{Title: "t", Comm: "swapper/0", PID: 0, RecursiveFault: true}, "t (task swapper/0/0, recursive fault)"},
	} {
		if got := OopsLine(tc.o); got != tc.want {
			t.Errorf("OopsLine(%+v) = %q; want %q", tc.o, got, tc.want)
		}
	}
}
