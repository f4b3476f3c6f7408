package results

import (
	"slices"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// TestSignatureProcessesAndPanic: each process's end in a signature and
// its summary; a panic report makes the signature a panic even when the
// record has no panic line.
func TestSignatureProcessesAndPanic(t *testing.T) {
	r := &Result{Verdict: Pass, ErrorKind: KindKernelPanic,
		Oopses: []evidence.Report{
			{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault in __run_timers.part.0", Guilty: "__run_timers.part.0"},
			{Kind: evidence.KindPanic, Title: "Kernel panic - not syncing: Fatal exception in interrupt"},
			{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault in __run_timers", Guilty: "__run_timers"},
		},
		Processes: []Process{
			{Holder: "A", Comm: "holder-A", State: "D (disk sleep)"},
			{Comm: "rmmod", State: "gone", Exited: true, ExitStatus: "exit 0"},
			{Holder: "c", Comm: "sh", Exited: true},
			{Holder: "B", Comm: "holder-B"},
			{Holder: "C", State: "gone"},
		},
	}
	s := SignatureOf(r)
	want := []string{
		"verdict pass",
		"error kernel-panic",
		"report page fault in __run_timers",
		"report Kernel panic - not syncing: Fatal exception in interrupt",
		"panic",
		"process A: D",
		"process rmmod: exited exit 0",
		"process c: exited",
		"process B: gone",
		"process C: gone",
	}
	if got := s.Lines(); !slices.Equal(got, want) {
		t.Errorf("Lines =\n%q\nwant\n%q", got, want)
	}
	if got := s.Summary(); got != "page fault in __run_timers then Kernel panic - not syncing: Fatal exception in interrupt; panic; holder-A D; rmmod exited exit 0; sh exited; holder-B gone; C gone" {
		t.Errorf("Summary = %q", got)
	}
	if !s.Panic || len(s.Reports) != 2 {
		t.Errorf("signature %+v; want a panic and the clone's report once", s)
	}
	// A panic line alone is a panic too.
	if !SignatureOf(&Result{Verdict: Pass, Panic: "Kernel panic - not syncing: x"}).Panic {
		t.Error("a record's panic line is not a panic in its signature")
	}
}

// TestStableText: addresses become ADDR and compiler clone suffixes go;
// the rest of a title stays.
func TestStableText(t *testing.T) {
	for in, want := range map[string]string{
		"BUG: unable to handle page fault for address: ffffffffc04ef190":                  "BUG: unable to handle page fault for address: ADDR",
		"general protection fault, probably for non-canonical address 0xdead000000000122": "general protection fault, probably for non-canonical address ADDR",
		"WARNING in __run_timers.part.0":                                                  "WARNING in __run_timers",
		"page fault in f.isra.0.cold.12 at g.constprop.3":                                 "page fault in f at g",
		"page fault in vfs_read":                                                          "page fault in vfs_read",
		"task kworker/0:1 blocked for more than 122 seconds":                              "task kworker/0:1 blocked for more than 122 seconds",
	} {
		if got := Stable(in); got != want {
			t.Errorf("Stable(%q) = %q; want %q", in, got, want)
		}
	}
}
