package results

import (
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// TestKernelOrder: a matrix's columns go by version, number by number,
// whatever the names around the numbers; names that are not numbers go
// by their text, and a shorter name that is a prefix goes first.
func TestKernelOrder(t *testing.T) {
	got := sortKernels([]string{"debian-7.2", "debian-6.12", "debian-6.1-rt", "debian-6.1", "debian-5.10", "debian-6.2", "alpine-3.20", "debian-6.1-cloud", "debian-10.1"})
	want := []string{"alpine-3.20", "debian-5.10", "debian-6.1", "debian-6.1-cloud", "debian-6.1-rt", "debian-6.2", "debian-6.12", "debian-7.2", "debian-10.1"}
	if !slices.Equal(got, want) {
		t.Errorf("kernel order = %v; want %v", got, want)
	}
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"debian-6.1", "debian-6.1", false},
		{"debian-6.1", "debian-6.1-rt", true},
		{"debian-6.1-rt", "debian-6.1", false},
		{"debian-6.1-rt", "debian-6.1-cloud", false},
		{"debian-6.1-cloud", "debian-6.1-rt", true},
		{"debian-6.9", "debian-6.10", true},
		{"debian-6.10", "debian-6.9", false},
		{"a-9", "b-1", true},
		// The same number spelled two ways is the same version: neither
		// goes first.
		{"debian-6.01", "debian-6.1", false},
		{"debian-6.1", "debian-6.01", false},
	} {
		if got := versionLess(tc.a, tc.b); got != tc.less {
			t.Errorf("versionLess(%s, %s) = %v; want %v", tc.a, tc.b, got, tc.less)
		}
	}
}

// TestObservationWords: the few words a matrix cell says of what the
// kernel did, for each kind of thing worth a word.
func TestObservationWords(t *testing.T) {
	warn := evidence.Report{Kind: evidence.KindWarning, Title: "WARNING: CPU: 0 PID: 80 at fs/proc/generic.c:712 remove_proc_entry+0x1a0/0x1b0"}
	warn2 := evidence.Report{Kind: evidence.KindWarning, Title: "WARNING: second"}
	hungA := evidence.Report{Kind: evidence.KindHungTask, Title: "INFO: task rmmod:77 blocked", Comm: "rmmod"}
	hungB := evidence.Report{Kind: evidence.KindHungTask, Title: "INFO: task holder-A:76 blocked", Comm: "holder-A"}
	crash := evidence.Report{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault for address: ffffffffc0036090"}
	crash2 := evidence.Report{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault in filp_close"}
	for _, tc := range []struct {
		name string
		r    *Result
		want string
	}{
		{"rmmod refused", &Result{Verdict: Pass, Steps: []Step{{Action: "unload", Errno: "EBUSY"}, {Action: "unload", Errno: "EBUSY"}}}, "rmmod EBUSY"},
		{"rmmod failed without errno", &Result{Verdict: Pass, Steps: []Step{{Action: "unload", Error: "x"}}}, "as expected, nothing reported"},
		{"rmmod waited half a second", &Result{Verdict: Pass, Steps: []Step{{Action: "unload", OK: true, MS: 500}}}, "rmmod waited 0.5 s"},
		{"rmmod waited 2.6 s", &Result{Verdict: Pass, Steps: []Step{{Action: "unload", OK: true, MS: 2635}}}, "rmmod waited 2.6 s"},
		{"rmmod quick", &Result{Verdict: Pass, Steps: []Step{{Action: "unload", OK: true, MS: 499}}}, "as expected, nothing reported"},
		{"reads, seeks and opens that failed", &Result{Verdict: Pass, Steps: []Step{
			{Action: "open", Errno: "ENOENT"}, {Action: "read", Errno: "EIO"}, {Action: "seek", Errno: "ESPIPE"}, {Action: "write", Errno: "EIO"}, {Action: "read", OK: true, Errno: "EIO"},
		}}, "open ENOENT, read EIO, seek ESPIPE"},
		{"the first warning", &Result{Verdict: Pass, Oopses: []evidence.Report{crash2, warn, warn2}}, "WARNING: CPU: 0 PID: 80 at fs/proc/generic.c:712 remove_proc_entry+ADDR/ADDR, oops: page fault in filp_close"},
		{"hung tasks, each once", &Result{Verdict: Pass, Oopses: []evidence.Report{hungA, hungB, hungA}}, "hung task: rmmod, holder-A"},
		{"the first crash, its address hidden", &Result{Verdict: Pass, Oopses: []evidence.Report{hungA, crash, crash2}}, "hung task: rmmod, oops: page fault for address: ADDR"},
		{"a panic", &Result{Verdict: Pass, ErrorKind: KindKernelPanic, Panic: "Kernel panic - not syncing: Fatal exception in interrupt"}, "panic"},
		{"an error that is a panic", &Result{Verdict: Error, ErrorKind: KindKernelPanic, Panic: "Kernel panic - not syncing: x", Oopses: []evidence.Report{crash2}}, "oops: page fault in filp_close, panic"},
		{"an error", &Result{Verdict: Error, ErrorKind: KindGuestHang, Oopses: []evidence.Report{crash2}}, "error: guest-hang"},
		{"processes left blocked or dead", &Result{Verdict: Pass, Processes: []Process{
			{Comm: "holder-A", State: "D (disk sleep)"}, {Comm: "holder-B", State: "S (sleeping)"}, {Comm: "holder-C", State: "R (running)"},
			{Comm: "holder-D", State: "X (dead)"}, {Comm: "rmmod", State: "D", Exited: true}, {Comm: "holder-E"},
		}}, "holder-A D, holder-D X"},
	} {
		if got := Observation(tc.r); got != tc.want {
			t.Errorf("%s: Observation = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestBuildsFromASnapshot: a kernel fetched from the snapshot archive
// says so; one without lock provenance has no line.
func TestBuildsFromASnapshot(t *testing.T) {
	snap := &Result{Experiment: "e", Kernel: Kernel{Name: "debian-5.10", Release: "5.10.0-32-amd64", PackageVersion: "5.10.223-1"},
		Provenance: Provenance{Lock: &LockProvenance{Locked: map[string]string{"linux-image": "5.10.223-1"}, Snapshot: "20250101T000000Z"}}}
	unlocked := &Result{Experiment: "e", Kernel: Kernel{Name: "debian-6.1", Release: "6.1.0-57-amd64", PackageVersion: "6.1.192-3"},
		Provenance: Provenance{Lock: &LockProvenance{}}}
	none := &Result{Experiment: "e", Kernel: Kernel{Name: "debian-7.2"}}
	noLockFirst := &Result{Experiment: "a", Kernel: Kernel{Name: "debian-5.10"}}
	m := NewMatrix(&Run{RunID: "r"}, []*Result{noLockFirst, snap, unlocked, none})
	want := []string{
		"debian-5.10: 5.10.223-1 (5.10.0-32-amd64), as locked, from the snapshot archive 20250101T000000Z",
		"debian-6.1: 6.1.192-3 (6.1.0-57-amd64)",
	}
	if got := m.Builds(); !slices.Equal(got, want) {
		t.Errorf("Builds = %q; want %q", got, want)
	}
}

// TestCountsAndCells: a matrix counts every planned cell, the missing
// ones too, and a cell's text carries its repeats.
func TestCountsAndCells(t *testing.T) {
	a := &Result{Experiment: "e1", Kernel: Kernel{Name: "k1"}, Verdict: Fail}
	b := &Result{Experiment: "e2", Kernel: Kernel{Name: "k2"}, Verdict: Error, ErrorKind: KindBuild}
	m := NewMatrix(&Run{Kernels: []string{"k1", "k2"}, Experiments: []string{"e1", "e2", "e3"}}, []*Result{a, b})
	if c := m.Counts(); c[Fail] != 1 || c[Error] != 1 || c[Pass] != 0 || c["missing"] != 4 {
		t.Errorf("Counts = %v; want 1 fail, 1 error, 4 missing", c)
	}
	if m.Cell("e1", "k1") != a || m.Cell("e1", "k2") != nil || m.Cell("e9", "k1") != nil {
		t.Error("Cell does not find the results where they were put")
	}
	if got := cellText(nil); got != "-" {
		t.Errorf("cellText(nil) = %q", got)
	}
	steady := &Result{Verdict: Pass}
	steady.Repeats = Distribute([]*Result{steady, steady})
	if got := cellText(steady); got != "PASS: as expected, nothing reported [2/2 same]" {
		t.Errorf("cellText(2 same repeats) = %q", got)
	}
	var tb strings.Builder
	Table(&tb, m)
	if !strings.Contains(tb.String(), "\n0 pass, 1 fail, 1 error, 4 not run (incomplete run)\n") {
		t.Errorf("Table:\n%s", tb.String())
	}
}
