package compare

import (
	"slices"
	"strings"
	"testing"
)

func sample() *Report {
	return &Report{A: "base", B: "run", Cells: []Cell{
		{Experiment: "a", Kernel: "k", Status: Same},
		{Experiment: "b", Kernel: "k", Status: Gone},
		{Experiment: "c", Kernel: "k", Status: Changed, Changes: []Change{{Text: "report gone: x"}}},
		{Experiment: "d", Kernel: "k2", BaseKernel: "k1", Status: Changed, Regression: true, Changes: []Change{{Text: "new report: y", Regression: true}}},
		{Experiment: "e", Kernel: "k", Status: SameWithinNoise, Rates: []Rate{{Label: "no report", CountA: 5, NA: 10, CountB: 7, NB: 10}}},
		{Experiment: "f", Kernel: "k", Status: New},
	}}
}

func TestOrderAndSummary(t *testing.T) {
	r := sample()
	var names []string
	for _, c := range r.order() {
		names = append(names, c.Experiment)
	}
	if want := []string{"d", "c", "b", "f", "e", "a"}; !slices.Equal(names, want) {
		t.Errorf("order = %v; want regressions, changes, one side only, noise, same: %v", names, want)
	}
	if s := r.Summary(); s != "2 changed (1 regression), 1 new, 1 gone, 1 same within noise, 1 same" {
		t.Errorf("Summary = %q", s)
	}
	r.Cells[2].Regression = true
	if s := r.Summary(); !strings.HasPrefix(s, "2 changed (2 regressions)") {
		t.Errorf("Summary = %q", s)
	}
	if !r.Differs() || (&Report{Cells: []Cell{{Status: Same}, {Status: SameWithinNoise}}}).Differs() {
		t.Error("Differs: a report with changes does not differ, or one within noise does")
	}
	if n := len(r.Regressions()); n != 2 {
		t.Errorf("Regressions = %d", n)
	}
}

func TestText(t *testing.T) {
	r := sample()
	var b strings.Builder
	r.Text(&b)
	out := b.String()
	lines := strings.Split(out, "\n")
	if lines[0] != "base → run: 2 changed (1 regression), 1 new, 1 gone, 1 same within noise, 1 same" ||
		lines[1] != "  changed: d on k2 (against k1)" || lines[2] != "      new report: y (regression)" {
		t.Errorf("Text:\n%s", out)
	}
	if strings.Contains(out, " a on k") || !strings.Contains(out, "no report: 5/10 → 7/10, inside both intervals") {
		t.Errorf("Text lists a same cell or misses the noise:\n%s", out)
	}
	r.Baseline = true
	b.Reset()
	r.Text(&b)
	if !strings.Contains(b.String(), "  REGRESSION: d on k2 (against k1)") {
		t.Errorf("Text against a baseline:\n%s", b.String())
	}
	s := r.Section("Against the baseline")
	if s.Title != "Against the baseline" || !strings.Contains(s.Intro, "base → this run") || len(s.Items) != 5 ||
		!s.Items[0].Strong || s.Items[0].Text != "regression: d on k2 (against k1)" || s.Items[1].Strong {
		t.Errorf("Section = %+v", s)
	}
}

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping([]string{"debian-6.1=debian-6.12", "a=b"})
	if err != nil || m["debian-6.1"] != "debian-6.12" || m["a"] != "b" {
		t.Errorf("ParseMapping = %v, %v", m, err)
	}
	for _, bad := range [][]string{{"debian-6.1"}, {"=b"}, {"a="}, {"a=b", "a=c"}} {
		if _, err := ParseMapping(bad); err == nil {
			t.Errorf("ParseMapping(%q) accepted", bad)
		}
	}
}
