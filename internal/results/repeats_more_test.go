package results

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// TestSharesOfOneRun: a cell run once is a distribution of one signature,
// once; a record of repeats gives its own distribution.
func TestSharesOfOneRun(t *testing.T) {
	r := &Result{Verdict: Fail, Steps: []Step{{Index: 1, Action: "read", Target: "A", Errno: "EIO"}}}
	shares, n := r.Shares()
	if n != 1 || len(shares) != 1 {
		t.Fatalf("Shares = %+v over %d; want one share of one", shares, n)
	}
	s := shares[0]
	if s.Label != "fail: step 1 read EIO" || s.Count != 1 || s.Rate != 1 || !slices.Equal(s.Repeats, []int{1}) || s.Signature.Key() != SignatureOf(r).Key() {
		t.Errorf("the one share = %+v", s)
	}
	// A record that says it has repeats but counts none is a cell run once.
	r.Repeats = &Repeats{N: 0, Distribution: []Share{}}
	if _, n := r.Shares(); n != 1 {
		t.Errorf("Shares of zero repeats over %d; want the record's own, once", n)
	}
	r.Repeats = Distribute([]*Result{r, {Verdict: Pass}, r})
	shares, n = r.Shares()
	if n != 3 || len(shares) != 2 || shares[0].Count != 2 || shares[1].Label != "no report" {
		t.Errorf("Shares of 3 repeats = %+v over %d", shares, n)
	}
}

// TestBehaviourKeepsTheRecorded: a record's own signature is its
// behaviour, as lab wrote it; one without is computed.
func TestBehaviourKeepsTheRecorded(t *testing.T) {
	r := &Result{Verdict: Pass}
	if got := r.Behaviour().Lines(); !slices.Equal(got, []string{"verdict pass"}) {
		t.Errorf("computed behaviour = %q", got)
	}
	r.Signature = &Signature{Verdict: Fail, Panic: true}
	if got := r.Behaviour().Lines(); !slices.Equal(got, []string{"verdict fail", "panic"}) {
		t.Errorf("recorded behaviour = %q; want the record's signature", got)
	}
}

// TestDistributeVariantsAndTies: shares come most frequent first, ties in
// order of first appearance; shares whose labels read alike get their
// rank; every share has its rate and Wilson interval.
func TestDistributeVariantsAndTies(t *testing.T) {
	// Two signatures that differ only in a read's data check: a label
	// names the steps that did not end ok, so theirs read alike.
	read := func(matched bool) *Result {
		return &Result{Verdict: Pass, Steps: []Step{{Index: 1, Action: "read", Target: "A", OK: true}},
			Checks: []Check{{Step: 1, What: "data", OK: matched}},
			Oopses: []evidence.Report{{Kind: evidence.KindHungTask, Title: "INFO: task holder-A blocked in lab_read"}}}
	}
	quiet := &Result{Verdict: Pass}
	failed := &Result{Verdict: Fail}
	rp := Distribute([]*Result{quiet, read(true), failed, read(false), read(true), failed, quiet, read(false), failed})
	var got []string
	for _, s := range rp.Distribution {
		got = append(got, s.Label)
	}
	want := []string{"fail: no report", "no report", "INFO: task holder-A blocked in lab_read (variant 3)", "INFO: task holder-A blocked in lab_read (variant 4)"}
	if !slices.Equal(got, want) {
		t.Errorf("labels %q; want %q", got, want)
	}
	if rp.N != 9 || rp.Passed != 6 || !rp.Flaky {
		t.Errorf("n %d, passed %d, flaky %v; want 9, 6, true", rp.N, rp.Passed, rp.Flaky)
	}
	first := rp.Distribution[0]
	if first.Count != 3 || !slices.Equal(first.Repeats, []int{3, 6, 9}) || first.Rate != 3.0/9 {
		t.Errorf("first share %+v", first)
	}
	for _, s := range rp.Distribution {
		lo, hi := Wilson(s.Count, 9)
		if s.Low != lo || s.High != hi || !(s.Low < s.Rate && s.Rate < s.High) {
			t.Errorf("%s: interval %v–%v around %v; want Wilson's %v–%v", s.Label, s.Low, s.High, s.Rate, lo, hi)
		}
	}
	lines := rp.Lines()
	if len(lines) != 4 || lines[0] != " 3/9  rate 0.33, 95% interval 0.12–0.65  fail: no report" || lines[1] != " 2/9  rate 0.22, 95% interval 0.06–0.55  no report" {
		t.Errorf("Lines = %q", lines)
	}
	if s := rp.String(); s != "3/9 fail: no report, 2/9 no report, 2/9 INFO: task holder-A blocked in lab_read (variant 3), 2/9 INFO: task holder-A blocked in lab_read (variant 4)" {
		t.Errorf("String = %q", s)
	}
}

// TestWilsonEdges: no repeats is no knowledge, [0, 1]; the interval
// always holds the rate and stays in [0, 1].
func TestWilsonEdges(t *testing.T) {
	for _, n := range []int{0, -1} {
		if lo, hi := Wilson(0, n); lo != 0 || hi != 1 {
			t.Errorf("Wilson(0, %d) = %v–%v; want 0–1", n, lo, hi)
		}
	}
	if lo, hi := Wilson(1, 1); math.Abs(lo-0.2065) > 5e-4 || hi != 1 {
		t.Errorf("Wilson(1, 1) = %v–%v; want 0.2065–1", lo, hi)
	}
	if lo, hi := Wilson(0, 1); lo != 0 || math.Abs(hi-0.7935) > 5e-4 {
		t.Errorf("Wilson(0, 1) = %v–%v; want 0–0.7935", lo, hi)
	}
	for n := 1; n <= 40; n++ {
		for k := 0; k <= n; k++ {
			lo, hi := Wilson(k, n)
			p := float64(k) / float64(n)
			if lo < 0 || hi > 1 || lo > p || hi < p || lo >= hi {
				t.Errorf("Wilson(%d, %d) = %v–%v; want an interval in [0, 1] around %v", k, n, lo, hi, p)
			}
		}
	}
}

// TestSpreadPlacesReports: each repeat's reports are placed on the clock
// of the step they came in; a step without a start, a report index past
// the reports and a report from before its step's start are left out.
func TestSpreadPlacesReports(t *testing.T) {
	r1 := &Result{Verdict: Pass,
		Steps: []Step{
			{Index: 1, Action: "unload", At: 0, Oopses: []int{0}}, // no start: not placed
			{Index: 2, Action: "read", At: 10, Oopses: []int{0, 1, 2, 5}},
		},
		Oopses: []evidence.Report{
			{Title: "BUG: unable to handle page fault for address: ffffffffc04ef190", Time: 10.25},
			{Title: "early", Time: 9.5}, // before its step began
			{Title: "BUG: at once", Time: 10},
		}}
	r2 := &Result{Verdict: Pass, Steps: []Step{{Index: 3, Action: "read", At: 3, Oopses: []int{0}}}, Oopses: []evidence.Report{{Title: "late.part.0", Time: 3.5}}}
	rp := Distribute([]*Result{r1, r2})
	want := []SpreadPoint{
		{Repeat: 1, Step: 2, After: 0.25, Title: "BUG: unable to handle page fault for address: ADDR"},
		{Repeat: 1, Step: 2, After: 0, Title: "BUG: at once"},
		{Repeat: 2, Step: 3, After: 0.5, Title: "late"},
	}
	if !slices.Equal(rp.Spread, want) {
		t.Errorf("Spread = %+v; want %+v", rp.Spread, want)
	}
	if got := Distribute(nil); got.N != 0 || len(got.Distribution) != 0 || got.Flaky || got.Distribution == nil {
		t.Errorf("Distribute(nil) = %+v; want an empty distribution", got)
	}
	if !strings.HasPrefix(Distribute([]*Result{r1}).String(), "1/1 same") {
		t.Error("one repeat is not the same as itself")
	}
}
