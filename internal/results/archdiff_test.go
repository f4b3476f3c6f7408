package results

import (
	"slices"
	"strings"
	"testing"
)

// TestArchDifferencesOnARealRun: every experiment on debian-6.1 and
// debian-6.1-arm64 (one build, 6.1.192-3). What each line says was read
// off the two consoles by hand: x86 words a fault "page fault", arm64
// "kernel paging request"; a holder killed by its oops dies of SIGKILL on
// x86 (page_fault_oops) and SIGSEGV on arm64 (die); with the pc in the
// freed kthread function arm64's report names its caller (lr: kthread),
// x86's frames there are all unreliable and its title names no function.
func TestArchDifferencesOnARealRun(t *testing.T) {
	_, run, rs := loadRealRun(t, "20261204-193440-977972")
	m := NewMatrix(run, rs)
	got := map[string][]string{}
	var differ []string
	for _, d := range m.Differences() {
		differ = append(differ, d.Experiment)
		got[d.Experiment] = d.Arch
	}
	// The safe experiments and those whose outcome reads the same
	// (chardev-safe's refusal, proc-slow's EIO …) do not differ at all.
	wantDiffer := []string{"chardev-unsafe", "debugfs-unsafe", "kthread-unsafe", "notifier-unsafe", "proc-forced", "proc-leak", "sysfs-unsafe", "timer-unsafe", "workqueue-unsafe"}
	if !slices.Equal(differ, wantDiffer) {
		t.Errorf("experiments that differ: %q\nwant %q", differ, wantDiffer)
	}
	const pair = "debian-6.1 (amd64) and debian-6.1-arm64 (arm64), one build (6.1.192-3): "
	same := pair + "the same behaviour, reports worded by each architecture"
	signal := same + "; a task killed by its oops dies of SIGKILL on amd64, of SIGSEGV on arm64"
	for e, want := range map[string]string{
		"chardev-unsafe":   same,
		"debugfs-unsafe":   same,
		"proc-forced":      same,
		"timer-unsafe":     same,
		"workqueue-unsafe": same,
		"kthread-unsafe":   same + "; only arm64's report 1 names a function (kthread)",
		"notifier-unsafe":  same + "; only arm64's report 1 names a function (load_module)",
		"proc-leak":        signal,
		"sysfs-unsafe":     signal,
	} {
		if len(got[e]) != 1 || !strings.HasPrefix(got[e][0], want) {
			t.Errorf("%s: %q\nwant one line starting %q", e, got[e], want)
		}
		if e == "chardev-unsafe" && got[e][0] != want {
			t.Errorf("%s: %q has more than %q", e, got[e][0], want)
		}
	}
}

// TestCompareArches: what makes two architectures' behaviour differ, and
// what is only words.
func TestCompareArches(t *testing.T) {
	base := Signature{
		Verdict:   Pass,
		Steps:     []StepOutcome{{Index: 5, Action: "read", Target: "A", Outcome: "no answer"}},
		Reports:   []ReportIdentity{{Kind: "page-fault", Title: "BUG: unable to handle page fault in vfs_read", Guilty: "vfs_read"}},
		Processes: []ProcessEnd{{Holder: "A", State: "exited killed by SIGKILL"}},
	}
	arm := func(f func(*Signature)) Signature {
		s := base
		s.Steps = slices.Clone(base.Steps)
		s.Reports = []ReportIdentity{{Kind: "paging-request", Title: "BUG: unable to handle kernel paging request in vfs_read", Guilty: "vfs_read"}}
		s.Processes = []ProcessEnd{{Holder: "A", State: "exited killed by SIGSEGV"}}
		if f != nil {
			f(&s)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		b    Signature
		want string
	}{
		{"words and signal", arm(nil), "the same behaviour, reports worded by each architecture; a task killed by its oops dies of SIGKILL on amd64, of SIGSEGV on arm64"},
		{"another state", arm(func(s *Signature) { s.Processes[0].State = "D" }), "the architectures differ: A is exited killed by SIGKILL on amd64, D on arm64"},
		{"each other's signal", arm(func(s *Signature) { s.Processes[0].State = "exited killed by SIGBUS" }), "the architectures differ: A is exited killed by SIGKILL on amd64, exited killed by SIGBUS on arm64"},
		{"a panic", arm(func(s *Signature) { s.Panic = true }), "the architectures differ: whether the kernel panicked"},
		{"a step", arm(func(s *Signature) { s.Steps[0].Outcome = "ok" }), "the architectures differ: step outcomes"},
		{"another kind", arm(func(s *Signature) { s.Reports[0].Kind = "null-deref" }), "the architectures differ: report 1 is page-fault on amd64, null-deref on arm64"},
		{"another function", arm(func(s *Signature) { s.Reports[0].Guilty = "filp_close" }), "the architectures differ: report 1 is in vfs_read on amd64, in filp_close on arm64"},
		{"a report more", arm(func(s *Signature) { s.Reports = append(s.Reports, s.Reports[0]) }), "the architectures differ: 1 kernel reports on amd64, 2 on arm64"},
		{"a process more", arm(func(s *Signature) { s.Processes = append(s.Processes, ProcessEnd{Holder: "B", State: "S"}) }), "the architectures differ: which processes the experiment left"},
		{"another holder", arm(func(s *Signature) { s.Processes[0].Holder = "B" }), "the architectures differ: which processes the experiment left"},
		{"an error", arm(func(s *Signature) { s.Verdict, s.ErrorKind = Error, "guest-hang" }), "the architectures differ: verdict pass on amd64, error (guest-hang) on arm64"},
		{"one names no function", arm(func(s *Signature) { s.Reports[0].Guilty = "" }), "the same behaviour, reports worded by each architecture; only amd64's report 1 names a function (vfs_read); a task"},
	} {
		if got := compareArches("amd64", base, "arm64", tc.b); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q…", tc.name, got, tc.want)
		}
	}
}
