package bisect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

// history plays n points whose behaviour changes at point change: before
// it the read returns EIO, from it on the kernel oopses in filp_flush.
type history struct {
	n, change int
	skip      map[int]bool
	flaky     map[int]bool
	errors    map[int]int // rounds of this point whose repeats do not complete
	allErrors bool        // in those rounds no repeat completes (else one of three)
	evaluated []int
}

func (h *history) cands() []Candidate {
	var cs []Candidate
	for i := range h.n {
		cs = append(cs, Candidate{ID: fmt.Sprint(i), Label: fmt.Sprintf("p%d", i)})
	}
	return cs
}

func cell(changed bool, verdict string) *results.Result {
	r := &results.Result{Verdict: verdict, Steps: []results.Step{{Index: 1, Action: "read", Target: "A", OK: false, Errno: "EIO"}}}
	if changed {
		r.Steps[0] = results.Step{Index: 1, Action: "read", Target: "A", NoAnswer: true}
		r.Oopses = []evidence.Report{{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault in filp_flush", Guilty: "filp_flush"}}
	}
	if verdict == results.Error {
		r.ErrorKind = results.KindGuestHang
	}
	return r
}

func (h *history) eval(_ context.Context, c Candidate, round int) (*results.Result, error) {
	var i int
	fmt.Sscan(c.ID, &i)
	h.evaluated = append(h.evaluated, i)
	if h.skip[i] {
		return nil, &SkipError{Err: errors.New("does not build")}
	}
	changed := i >= h.change
	var rs []*results.Result
	for k := range 3 {
		v := results.Pass
		if round <= h.errors[i] && (k == 2 || h.allErrors) {
			v = results.Error
		}
		rs = append(rs, cell(changed != (h.flaky[i] && k == 1), v))
	}
	agg := *rs[0]
	agg.Repeats = results.Distribute(rs)
	return &agg, nil
}

func TestFindsTheFirstChange(t *testing.T) {
	for change := 1; change < 11; change++ {
		h := &history{n: 11, change: change}
		res, err := Run(context.Background(), h.cands(), h.eval, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != Found || res.FirstChanged.ID != fmt.Sprint(change) || res.LastSame.ID != fmt.Sprint(change-1) {
			t.Errorf("change at %d: %s, first changed %+v", change, res.Outcome, res.FirstChanged)
		}
		// Both ends and a binary search: at most 2 + ceil(log2(10)) = 6.
		if len(h.evaluated) > 6 {
			t.Errorf("change at %d: %d evaluations %v; want at most 6", change, len(h.evaluated), h.evaluated)
		}
	}
	h := &history{n: 11, change: 4}
	res, _ := Run(context.Background(), h.cands(), h.eval, Options{})
	want := []string{"step 1 read A: EIO → no answer", "new report: page fault in filp_flush"}
	if !slices.Equal(res.Changes, want) {
		t.Errorf("changes %q; want %q", res.Changes, want)
	}
	if !strings.HasPrefix(res.Confidence, "first changed: p4 (3/3 at each of") {
		t.Errorf("confidence %q", res.Confidence)
	}
}

func TestNoChange(t *testing.T) {
	h := &history{n: 11, change: 99}
	res, err := Run(context.Background(), h.cands(), h.eval, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != NoChange || len(h.evaluated) != 2 || !slices.Contains(res.Common, "step 1 read A: EIO") {
		t.Errorf("%s after %v, common %q; want no change after the two ends", res.Outcome, h.evaluated, res.Common)
	}
}

func TestSkipsWhatDoesNotBuild(t *testing.T) {
	h := &history{n: 11, change: 7, skip: map[int]bool{5: true}}
	res, err := Run(context.Background(), h.cands(), h.eval, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Found || res.FirstChanged.ID != "7" || !slices.Contains(h.evaluated, 6) {
		t.Errorf("%s, first changed %+v after %v; want 7 found, 6 tried for the skipped 5", res.Outcome, res.FirstChanged, h.evaluated)
	}
	// A change right after a point that cannot be evaluated cannot be
	// placed (either may be the first changed): the answer is the range,
	// as git bisect's "the first bad commit could be any of".
	h = &history{n: 11, change: 6, skip: map[int]bool{5: true}}
	res, _ = Run(context.Background(), h.cands(), h.eval, Options{})
	if res.Outcome != Skipped || res.LastSame.ID != "4" || res.FirstChanged.ID != "6" {
		t.Errorf("%s %+v %+v; want skipped between 4 and 6", res.Outcome, res.LastSame, res.FirstChanged)
	}
}

func TestFlakyStepStops(t *testing.T) {
	h := &history{n: 11, change: 8, flaky: map[int]bool{5: true}}
	res, err := Run(context.Background(), h.cands(), h.eval, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Flaky || res.FirstChanged != nil && res.FirstChanged.ID == "8" && res.LastSame.ID == "7" {
		t.Fatalf("%s; want flaky, no answer", res.Outcome)
	}
	if !strings.Contains(res.Confidence, "p5 is flaky") {
		t.Errorf("confidence %q; want p5 named flaky", res.Confidence)
	}
}

func TestIncompleteRepeatsRunAgain(t *testing.T) {
	h := &history{n: 3, change: 2, errors: map[int]int{2: 1}}
	res, err := Run(context.Background(), h.cands(), h.eval, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var last Step
	for _, st := range res.Steps {
		if st.Position == 2 {
			last = st
		}
	}
	if res.Outcome != Found || last.Rounds != 2 || last.Repeats != "5/5" {
		t.Errorf("%s, step 2 %+v; want found, its step run twice with 5 completed repeats agreeing", res.Outcome, last)
	}
	h = &history{n: 3, change: 2, errors: map[int]int{0: 9}}
	res, _ = Run(context.Background(), h.cands(), h.eval, Options{Rounds: 2})
	if res.Outcome != Found || res.Steps[0].Rounds != 2 {
		t.Errorf("a reference whose every round has an error: %s after %d rounds", res.Outcome, res.Steps[0].Rounds)
	}
}

func TestAround(t *testing.T) {
	for _, c := range []struct {
		mid, lo, hi int
		want        []int
	}{
		{5, 0, 10, []int{5, 6, 4, 7, 3, 8, 2, 9, 1}},
		{5, 4, 6, []int{5}},
		{2, 0, 6, []int{2, 3, 1, 4, 5}},
	} {
		if got := around(c.mid, c.lo, c.hi); !slices.Equal(got, c.want) {
			t.Errorf("around(%d, %d, %d) = %v; want %v", c.mid, c.lo, c.hi, got, c.want)
		}
	}
}

func TestRunBounds(t *testing.T) {
	h := &history{n: 1, change: 1}
	if _, err := Run(context.Background(), h.cands(), h.eval, Options{}); err == nil || !strings.Contains(err.Error(), "nothing to bisect") {
		t.Errorf("one point: %v; want nothing to bisect", err)
	}
	// Two points: the answer is the second, from the two ends alone.
	h = &history{n: 2, change: 1}
	res, err := Run(context.Background(), h.cands(), h.eval, Options{})
	if err != nil || res.Outcome != Found || res.FirstChanged.ID != "1" || len(h.evaluated) != 2 {
		t.Errorf("two points: %v %+v after %v", err, res, h.evaluated)
	}
	// One round only: a step whose only round did not complete is
	// undecided, not run again.
	h = &history{n: 3, change: 2, errors: map[int]int{0: 1}}
	h.allErrors = true
	res, _ = Run(context.Background(), h.cands(), h.eval, Options{Rounds: 1})
	if res.Outcome != Flaky || res.Steps[0].Rounds != 1 || res.Steps[0].Decision != "undecided" {
		t.Errorf("one round with an incomplete reference: %s, %+v", res.Outcome, res.Steps[0])
	}
	// No Rounds given: three.
	h = &history{n: 3, change: 2, errors: map[int]int{0: 2}}
	h.allErrors = true
	res, _ = Run(context.Background(), h.cands(), h.eval, Options{})
	if res.Outcome != Found || res.Steps[0].Rounds != 3 || res.Steps[0].Repeats != "3/3" {
		t.Errorf("default rounds: %s, %+v; want the reference decided in its 3rd round", res.Outcome, res.Steps[0])
	}
}

func TestConfidenceSaysWhatAgreed(t *testing.T) {
	res := &Result{Outcome: NoChange, LastSame: &Candidate{Label: "a"}, FirstChanged: &Candidate{Label: "b"},
		Steps: []Step{{Repeats: "3/3"}, {Repeats: "3/3"}}}
	if c := confidence(res); c != "no change from a to b (3/3 at both ends)" {
		t.Errorf("confidence = %q", c)
	}
	res = &Result{Outcome: Found, FirstChanged: &Candidate{Label: "c"}, Steps: []Step{{Repeats: "3/3"}, {Repeats: "5/5"}, {Repeats: ""}}}
	if c := confidence(res); c != "first changed: c (every completed repeat agreeing at each of 2 steps)" {
		t.Errorf("confidence = %q", c)
	}
	res = &Result{Outcome: Skipped, LastSame: &Candidate{Label: "a"}, FirstChanged: &Candidate{Label: "d"}}
	if c := confidence(res); !strings.Contains(c, "between a and d") {
		t.Errorf("confidence = %q", c)
	}
}
