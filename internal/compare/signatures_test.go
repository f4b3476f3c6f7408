package compare

import (
	"slices"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

func steps(s ...results.StepOutcome) []results.StepOutcome { return s }

// TestSignaturesInWords: every kind of difference, as lab diff words it,
// and which are regressions.
func TestSignaturesInWords(t *testing.T) {
	load := results.StepOutcome{Index: 1, Action: "load", Target: "chardev_unsafe", Outcome: "ok"}
	open := results.StepOutcome{Index: 2, Action: "open", Target: "A", Outcome: "ok"}
	read := results.StepOutcome{Index: 3, Action: "read", Target: "A", Outcome: "ok, data matched"}
	for _, tc := range []struct {
		name string
		a, b results.Signature
		want []Change
	}{
		{"the lab failed differently",
			results.Signature{Verdict: results.Error, ErrorKind: "boot-timeout"},
			results.Signature{Verdict: results.Error},
			[]Change{{Text: "error: boot-timeout → none", Regression: true}}},
		{"the lab failed",
			results.Signature{Verdict: results.Pass},
			results.Signature{Verdict: results.Error, ErrorKind: "boot-timeout"},
			[]Change{{Text: "verdict: pass → error", Regression: true}}},
		{"a step more",
			results.Signature{Verdict: results.Pass, Steps: steps(load, open)},
			results.Signature{Verdict: results.Pass, Steps: steps(load, open, read)},
			[]Change{{Text: "step 3 read A: new (ok, data matched)", Regression: true}}},
		{"a step less",
			results.Signature{Verdict: results.Pass, Steps: steps(load, open, read)},
			results.Signature{Verdict: results.Pass, Steps: steps(load, open)},
			[]Change{{Text: "step 3 read A: did not run (was ok, data matched)", Regression: true}}},
		{"another step",
			results.Signature{Verdict: results.Pass, Steps: steps(load, open)},
			results.Signature{Verdict: results.Pass, Steps: steps(load, results.StepOutcome{Index: 2, Action: "open", Target: "B", Outcome: "ENOENT"})},
			[]Change{{Text: "step 2: open A (ok) → open B (ENOENT)", Regression: true}}},
		{"a panic",
			results.Signature{Verdict: results.Pass},
			results.Signature{Verdict: results.Pass, Panic: true},
			[]Change{{Text: "kernel panic: no → yes", Regression: true}}},
		{"no more panic",
			results.Signature{Verdict: results.Pass, Panic: true},
			results.Signature{Verdict: results.Pass},
			[]Change{{Text: "kernel panic: yes → no"}}},
		{"processes new and gone",
			results.Signature{Verdict: results.Pass, Processes: []results.ProcessEnd{{Holder: "A", State: "S"}}},
			results.Signature{Verdict: results.Pass, Processes: []results.ProcessEnd{{Holder: "B", State: "D"}, {Holder: "C", State: "S"}}},
			[]Change{{Text: "process B: new, D", Regression: true}, {Text: "process C: new, S"}, {Text: "process A: gone from the run (was S)"}}},
		{"a report moved, another came",
			results.Signature{Verdict: results.Pass, Reports: []results.ReportIdentity{
				{Kind: "page-fault", Title: "BUG: unable to handle page fault in vfs_read"},
				{Kind: "page-fault", Title: "BUG: unable to handle page fault in filp_close"}}},
			results.Signature{Verdict: results.Pass, Reports: []results.ReportIdentity{
				{Kind: "page-fault", Title: "BUG: unable to handle page fault in vfs_read"},
				{Kind: "page-fault", Title: "BUG: unable to handle page fault in filp_flush"},
				{Kind: "warning", Title: "WARNING in remove_proc_entry"}}},
			[]Change{{Text: "report: page fault in filp_close → page fault in filp_flush", Regression: true}, {Text: "new report: WARNING in remove_proc_entry", Regression: true}}},
	} {
		if got := Signatures(tc.a, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
