package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

// testdata/run-a and run-b are two real `lab matrix --kernel
// debian-6.1,debian-6.12,debian-7.2 chardev-unsafe proc-slow-hung` runs,
// one after the other on the same machine, written by lab before schema 2
// (so they have no signature of their own and Read computes it). Read off
// the files by hand:
//   - chardev-unsafe: two page faults, vfs_read then filp_close on 6.1,
//     vfs_read then filp_flush on 6.12 and 7.2; holder A left X.
//   - proc-slow-hung on debian-7.2: five hung-task reports in run-a
//     (holder-A, holder-A, rmmod, holder-A, rmmod), four in run-b
//     (holder-A, rmmod, holder-A, rmmod): the detector's timing, not a
//     change of behaviour.

func load(t *testing.T, path string) *Side {
	t.Helper()
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cellOf(t *testing.T, rep *Report, exp, kernel string) Cell {
	t.Helper()
	for _, c := range rep.Cells {
		if c.Experiment == exp && c.Kernel == kernel {
			return c
		}
	}
	t.Fatalf("no cell %s on %s in %+v", exp, kernel, rep.Cells)
	return Cell{}
}

func texts(c Cell) []string {
	var out []string
	for _, ch := range c.Changes {
		out = append(out, ch.Text)
	}
	return out
}

func TestTwoRunsOfTheSameKernelsAreTheSame(t *testing.T) {
	a, b := load(t, "testdata/run-a"), load(t, "testdata/run-b")
	hung := func(s *Side) int {
		return len(s.Cells[results.CellKey{Kernel: "debian-7.2", Experiment: "proc-slow-hung"}].Oopses)
	}
	if hung(a) != 5 || hung(b) != 4 {
		t.Fatalf("test data: proc-slow-hung on 7.2 has %d and %d reports; want 5 and 4", hung(a), hung(b))
	}
	rep, err := Compare(a, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 6 {
		t.Errorf("%d cells; want 6", len(rep.Cells))
	}
	for _, c := range rep.Cells {
		if c.Status != Same || c.Regression || len(c.Changes) > 0 {
			t.Errorf("%s: %s %v; want same", c.Name(), c.Status, texts(c))
		}
	}
	if rep.Differs() {
		t.Error("Differs() = true for two runs of the same behaviour")
	}
}

func TestMapNamesTheFilpFlushChange(t *testing.T) {
	rep, err := Compare(load(t, "testdata/run-a"), load(t, "testdata/run-b"), Mapping{"debian-6.1": "debian-6.12"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 2 {
		t.Fatalf("cells %+v; want only debian-6.1 against debian-6.12, two experiments", rep.Cells)
	}
	c := cellOf(t, rep, "chardev-unsafe", "debian-6.12")
	want := []string{"report: page fault in filp_close → page fault in filp_flush"}
	if c.Status != Changed || c.BaseKernel != "debian-6.1" || !slices.Equal(texts(c), want) {
		t.Errorf("chardev-unsafe 6.1 → 6.12: %s (base %s) %q; want changed %q", c.Status, c.BaseKernel, texts(c), want)
	}
	if c := cellOf(t, rep, "proc-slow-hung", "debian-6.12"); c.Status != Same {
		t.Errorf("proc-slow-hung 6.1 → 6.12: %s %q; want same", c.Status, texts(c))
	}
	var b strings.Builder
	rep.Text(&b)
	if !strings.Contains(b.String(), "filp_close → page fault in filp_flush") {
		t.Errorf("text lacks the change:\n%s", b.String())
	}
}

// edited copies run-a to a temporary run directory, letting edit change
// the debian-6.1 chardev-unsafe record first.
func edited(t *testing.T, edit func(r map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	src := "testdata/run-a/debian-6.1/chardev-unsafe/result.json"
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	edit(r)
	out, _ := json.Marshal(r)
	cell := filepath.Join(dir, "debian-6.1", "chardev-unsafe")
	os.MkdirAll(cell, 0o700)
	if err := os.WriteFile(filepath.Join(cell, "result.json"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBaselineWithoutTheSecondOops(t *testing.T) {
	base := edited(t, func(r map[string]any) {
		r["oopses"] = r["oopses"].([]any)[:1]
	})
	rep, err := Compare(load(t, base), load(t, "testdata/run-b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cellOf(t, rep, "chardev-unsafe", "debian-6.1")
	want := []string{"new report: page fault in filp_close"}
	if !c.Regression || !slices.Equal(texts(c), want) {
		t.Errorf("against a baseline without the second oops: regression %v, %q; want a regression %q", c.Regression, texts(c), want)
	}
	// The baseline has one cell; the run's others are new, never dropped.
	if n := rep.Count(); n[New] != 5 || n[Changed] != 1 {
		t.Errorf("counts %v; want 1 changed, 5 new", n)
	}
	var b strings.Builder
	rep.Text(&b)
	lines := strings.Split(b.String(), "\n")
	if len(lines) < 2 || !strings.Contains(lines[1], "chardev-unsafe on debian-6.1") {
		t.Errorf("the regression is not named first:\n%s", b.String())
	}
}

func TestStepAndProcessChanges(t *testing.T) {
	base := edited(t, func(r map[string]any) {
		st := r["steps"].([]any)[4].(map[string]any)
		st["no_answer"], st["errno"] = false, "EIO"
		r["processes"].([]any)[0].(map[string]any)["state"] = "S (sleeping)"
	})
	rep, err := Compare(load(t, base), load(t, "testdata/run-b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cellOf(t, rep, "chardev-unsafe", "debian-6.1")
	want := []string{"step 5 read A: EIO → no answer", "process A: S → X"}
	if !c.Regression || !slices.Equal(texts(c), want) {
		t.Errorf("changes %q (regression %v); want %q, a regression", texts(c), c.Regression, want)
	}
	// The other way round nothing new is stuck and no report is new,
	// but a step's outcome changed: still a regression.
	rep, _ = Compare(load(t, "testdata/run-b"), load(t, base), nil)
	c = cellOf(t, rep, "chardev-unsafe", "debian-6.1")
	want = []string{"step 5 read A: no answer → EIO", "process A: X → S"}
	if !slices.Equal(texts(c), want) || !c.Changes[0].Regression || c.Changes[1].Regression {
		t.Errorf("reverse changes %+v; want %q with only the step a regression", c.Changes, want)
	}
}

func TestReportsGoneAreNotRegressions(t *testing.T) {
	a := results.Signature{Verdict: results.Pass, Reports: []results.ReportIdentity{
		{Kind: "page-fault", Title: "BUG: unable to handle page fault in vfs_read"},
		{Kind: "warning", Title: "WARNING in remove_proc_entry"},
	}}
	b := results.Signature{Verdict: results.Fail, Reports: []results.ReportIdentity{
		{Kind: "hung-task", Title: "INFO: task rmmod blocked in proc_entry_rundown"},
		{Kind: "page-fault", Title: "BUG: unable to handle page fault in vfs_read"},
	}}
	got := Signatures(a, b)
	want := []Change{
		{Text: "verdict: pass → fail", Regression: true},
		{Text: "new report: INFO: task rmmod blocked in proc_entry_rundown", Regression: true},
		{Text: "report gone: WARNING in remove_proc_entry"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Signatures = %+v\nwant %+v", got, want)
	}
	if got := Signatures(b, b); len(got) != 0 {
		t.Errorf("a signature against itself: %+v", got)
	}
	fixed := Signatures(results.Signature{Verdict: results.Fail}, results.Signature{Verdict: results.Pass})
	if len(fixed) != 1 || fixed[0].Regression {
		t.Errorf("fail → pass = %+v; want one change, not a regression", fixed)
	}
}

func repeated(t *testing.T, counts map[int]int) *results.Result {
	t.Helper()
	var rs []*results.Result
	for nReports, n := range counts {
		for range n {
			r := &results.Result{Experiment: "flaky", Kernel: results.Kernel{Name: "debian-6.1"}, Verdict: results.Pass}
			for i := range nReports {
				r.Oopses = append(r.Oopses, evidenceReport(i))
			}
			rs = append(rs, r)
		}
	}
	agg := *rs[0]
	agg.Repeats = results.Distribute(rs)
	return &agg
}

func TestRatesNoiseAndChange(t *testing.T) {
	side := func(r *results.Result) *Side { return FromResults("x", []*results.Result{r}) }
	// 5/10 against 7/10: inside both intervals.
	rep, err := Compare(side(repeated(t, map[int]int{0: 5, 1: 5})), side(repeated(t, map[int]int{0: 3, 1: 7})), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Cells[0]; c.Status != SameWithinNoise || c.Regression {
		t.Errorf("5/10 → 7/10: %s %q; want same within noise", c.Status, texts(c))
	}
	// 5/20 against 5/10: B's rate is outside A's interval (0.11–0.47) but
	// A's is inside B's (0.24–0.76): the smaller sample cannot tell.
	rep, _ = Compare(side(repeated(t, map[int]int{0: 15, 1: 5})), side(repeated(t, map[int]int{0: 5, 1: 5})), nil)
	if c := rep.Cells[0]; c.Status != SameWithinNoise {
		t.Errorf("5/20 → 5/10: %s %q; want same within noise", c.Status, texts(c))
	}
	// 10/10 no report against 1/10: outside both.
	rep, _ = Compare(side(repeated(t, map[int]int{0: 10})), side(repeated(t, map[int]int{0: 1, 1: 9})), nil)
	c := rep.Cells[0]
	if c.Status != Changed || !c.Regression {
		t.Fatalf("10/10 → 1/10: %s %q; want changed, a regression (a new report became frequent)", c.Status, texts(c))
	}
	if !strings.HasPrefix(texts(c)[0], "no report: 10/10 (0.72–1.00) → 1/10 (0.02–0.40)") {
		t.Errorf("changes %q", texts(c))
	}
}

func evidenceReport(i int) evidence.Report {
	return evidence.Report{Kind: evidence.KindPageFault, Title: fmt.Sprintf("BUG: unable to handle page fault in f%d", i)}
}
