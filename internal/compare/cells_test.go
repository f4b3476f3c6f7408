package compare

import (
	"slices"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestCellsListedByExperimentThenKernel: the report's cells come in a
// fixed order whatever order the runs were read in.
func TestCellsListedByExperimentThenKernel(t *testing.T) {
	base := edited(t, func(map[string]any) {})
	rep, err := Compare(load(t, base), load(t, "testdata/run-b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range rep.Cells {
		names = append(names, c.Name())
	}
	want := []string{
		"chardev-unsafe on debian-6.1", "chardev-unsafe on debian-6.12", "chardev-unsafe on debian-7.2",
		"proc-slow-hung on debian-6.1", "proc-slow-hung on debian-6.12", "proc-slow-hung on debian-7.2",
	}
	if !slices.Equal(names, want) {
		t.Errorf("cells in order %q; want %q", names, want)
	}
}

// only is the side of run dir made of the cells on the given kernels.
func only(t *testing.T, dir, name string, kernels ...string) *Side {
	t.Helper()
	var rs []*results.Result
	for k, r := range load(t, dir).Cells {
		if slices.Contains(kernels, k.Kernel) {
			rs = append(rs, r)
		}
	}
	return FromResults(name, rs)
}

func TestNoCellInCommon(t *testing.T) {
	a := only(t, "testdata/run-a", "run-a", "debian-6.1", "debian-6.12")
	b := only(t, "testdata/run-b", "run-b", "debian-7.2")
	_, err := Compare(a, b, nil)
	want := "run-a and run-b share no cell (A has chardev-unsafe on debian-6.1, chardev-unsafe on debian-6.12, proc-slow-hung on debian-6.1, proc-slow-hung on debian-6.12; " +
		"B has chardev-unsafe on debian-7.2, proc-slow-hung on debian-7.2); --map KERNEL-A=KERNEL-B compares two images"
	if err == nil || err.Error() != want {
		t.Errorf("Compare of two runs on other images: %v\nwant %s", err, want)
	}
	// With a mapping to an image B did not run, the hint would be no help;
	// a long list of cells is cut after four.
	_, err = Compare(load(t, "testdata/run-a"), load(t, "testdata/run-b"), Mapping{"debian-6.1": "debian-9"})
	want = "testdata/run-a and testdata/run-b share no cell (A has chardev-unsafe on debian-6.1, chardev-unsafe on debian-6.12, chardev-unsafe on debian-7.2, proc-slow-hung on debian-6.1, 2 more; " +
		"B has chardev-unsafe on debian-6.1, chardev-unsafe on debian-6.12, chardev-unsafe on debian-7.2, proc-slow-hung on debian-6.1, 2 more)"
	if err == nil || err.Error() != want {
		t.Errorf("Compare --map debian-6.1=debian-9: %v\nwant %s", err, want)
	}
}

// single is one run of the flaky cell with nReports page faults.
func single(nReports int) *results.Result {
	r := &results.Result{Experiment: "flaky", Kernel: results.Kernel{Name: "debian-6.1"}, Verdict: results.Pass}
	for i := range nReports {
		r.Oopses = append(r.Oopses, evidenceReport(i))
	}
	return r
}

func oneCell(r *results.Result) *Side { return FromResults("x", []*results.Result{r}) }

// TestRepeatsAgainstOneRun: a baseline run with --repeat against a run
// without compares rates, whichever side ran the repeats; a record of one
// repeat is a single run and compares in words.
func TestRepeatsAgainstOneRun(t *testing.T) {
	rep, err := Compare(oneCell(repeated(t, map[int]int{0: 10})), oneCell(single(1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cells[0]
	want := []string{
		"no report: 10/10 (0.72–1.00) → 0/1 (0.00–0.79)",
		"page fault in f0: 0/10 (0.00–0.28) → 1/1 (0.21–1.00) (regression)",
		"most often: new report: page fault in f0",
	}
	if c.Status != Changed || !c.Regression || len(c.Rates) != 2 || !slices.Equal(c.Lines(), want) {
		t.Errorf("10 repeats without a report → one run with one: %s, regression %v, %d rates, %q\nwant changed, a regression, 2 rates, %q", c.Status, c.Regression, len(c.Rates), c.Lines(), want)
	}
	rep, _ = Compare(oneCell(single(0)), oneCell(repeated(t, map[int]int{1: 10})), nil)
	c = rep.Cells[0]
	want = []string{
		"no report: 1/1 (0.21–1.00) → 0/10 (0.00–0.28)",
		"page fault in f0: 0/1 (0.00–0.79) → 10/10 (0.72–1.00) (regression)",
		"most often: new report: page fault in f0",
	}
	if c.Status != Changed || !c.Regression || !slices.Equal(c.Lines(), want) {
		t.Errorf("one run without a report → 10 repeats with one: %s, regression %v, %q\nwant changed, a regression, %q", c.Status, c.Regression, c.Lines(), want)
	}
	for _, swap := range []bool{false, true} {
		one := single(0)
		one.Repeats = results.Distribute([]*results.Result{single(0)})
		a, b := one, single(1)
		want = []string{"new report: page fault in f0 (regression)"}
		if swap {
			a, b = single(1), one
			want = []string{"report gone: page fault in f0"}
		}
		rep, _ = Compare(oneCell(a), oneCell(b), nil)
		c = rep.Cells[0]
		if c.Status != Changed || len(c.Rates) != 0 || !slices.Equal(c.Lines(), want) {
			t.Errorf("one repeat against one run (swapped %v): %s, %d rates, %q; want changed in words %q", swap, c.Status, len(c.Rates), c.Lines(), want)
		}
	}
}

// TestRatesOfOneBehaviourAndOfNoise: repeats that always did the same on
// both sides are the same; one odd repeat is noise, its rate listed with
// the label it has on the side where it happened.
func TestRatesOfOneBehaviourAndOfNoise(t *testing.T) {
	rep, _ := Compare(oneCell(repeated(t, map[int]int{1: 10})), oneCell(repeated(t, map[int]int{1: 8})), nil)
	if c := rep.Cells[0]; c.Status != Same || len(c.Lines()) != 0 || rep.Differs() {
		t.Errorf("10/10 → 8/8 of one behaviour: %s %q; want same", c.Status, c.Lines())
	}
	rep, _ = Compare(oneCell(repeated(t, map[int]int{0: 10})), oneCell(repeated(t, map[int]int{0: 9, 1: 1})), nil)
	c := rep.Cells[0]
	want := []string{
		"no report: 10/10 → 9/10, inside both intervals",
		"page fault in f0: 0/10 → 1/10, inside both intervals",
	}
	if c.Status != SameWithinNoise || c.Regression || !slices.Equal(c.Lines(), want) {
		t.Errorf("10/10 → 9/10 and one report: %s %q; want same within noise %q", c.Status, c.Lines(), want)
	}
	// 5/10 against 5/20: A's rate is outside B's interval (0.11–0.47) but
	// B's inside A's (0.24–0.76).
	rep, _ = Compare(oneCell(repeated(t, map[int]int{0: 5, 1: 5})), oneCell(repeated(t, map[int]int{0: 15, 1: 5})), nil)
	if c := rep.Cells[0]; c.Status != SameWithinNoise || len(c.Changes) != 0 {
		t.Errorf("5/10 → 5/20: %s %q; want same within noise", c.Status, c.Lines())
	}
}

// TestEveryRepeatTheSame: two runs whose repeats all did the same thing
// are the same, whatever the number of repeats (17 in 17 once had an
// interval that stopped a rounding error short of 1, and read as changed).
func TestEveryRepeatTheSame(t *testing.T) {
	for n := 2; n <= 40; n++ {
		for _, m := range []int{n, 10} {
			rep, _ := Compare(oneCell(repeated(t, map[int]int{1: n})), oneCell(repeated(t, map[int]int{1: m})), nil)
			if c := rep.Cells[0]; c.Status != Same || len(c.Changes) != 0 {
				t.Errorf("%d/%d → %d/%d of one behaviour: %s %q; want same", n, n, m, m, c.Status, c.Lines())
			}
		}
	}
}

// TestReportsInTheOtherOrder: chardev-unsafe's two page faults came the
// other way round: the common subsequence keeps the one in filp_close and
// the one in vfs_read moved after it, gone from its place and new in the
// other.
func TestReportsInTheOtherOrder(t *testing.T) {
	swapped := edited(t, func(r map[string]any) {
		o := r["oopses"].([]any)
		o[0], o[1] = o[1], o[0]
	})
	rep, err := Compare(load(t, "testdata/run-a"), load(t, swapped), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cellOf(t, rep, "chardev-unsafe", "debian-6.1")
	want := []string{"report gone: page fault in vfs_read", "new report: page fault in vfs_read (regression)"}
	if c.Status != Changed || !c.Regression || !slices.Equal(c.Lines(), want) {
		t.Errorf("the two page faults swapped: %s %q; want changed %q", c.Status, c.Lines(), want)
	}
	if n := rep.Count(); n[Gone] != 5 || len(rep.Cells) != 6 {
		t.Errorf("counts %v; want the run's other five cells gone", n)
	}
}

// TestTwoImagesMappedOntoOne: when --map pairs two of A's images with one
// of B's, the two cells share B's name; they come out ordered by A's
// image every time (the cells are gathered from maps).
func TestTwoImagesMappedOntoOne(t *testing.T) {
	a := only(t, "testdata/run-a", "run-a", "debian-6.1", "debian-6.12")
	b := only(t, "testdata/run-b", "run-b", "debian-7.2")
	for range 20 {
		rep, err := Compare(a, b, Mapping{"debian-6.1": "debian-7.2", "debian-6.12": "debian-7.2"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range rep.Cells {
			got = append(got, c.Experiment+" "+c.BaseKernel+"→"+c.Kernel)
		}
		want := []string{
			"chardev-unsafe debian-6.1→debian-7.2", "chardev-unsafe debian-6.12→debian-7.2",
			"proc-slow-hung debian-6.1→debian-7.2", "proc-slow-hung debian-6.12→debian-7.2",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("cells %q; want %q", got, want)
		}
	}
}
