package bisect

import (
	"context"
	"slices"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestLastPointThatDoesNotBuild: the far end must be evaluated, or there
// is nothing to bisect towards; the error names it.
func TestLastPointThatDoesNotBuild(t *testing.T) {
	h := &history{n: 11, change: 4, skip: map[int]bool{10: true}}
	res, err := Run(context.Background(), h.cands(), h.eval, Options{})
	if err == nil || err.Error() != "p10: the last point cannot be evaluated: does not build" {
		t.Errorf("last point skipped: %v; want p10: the last point cannot be evaluated: does not build", err)
	}
	if res == nil || len(res.Steps) != 2 || res.Steps[1].Decision != "skipped" {
		t.Errorf("steps %+v; want the reference and the skipped last point", res)
	}
}

// TestAroundAPointNearerTheTop: around lists every point strictly inside
// (lo, hi) whichever side mid is nearer to, and never hi itself.
func TestAroundAPointNearerTheTop(t *testing.T) {
	for _, c := range []struct {
		mid, lo, hi int
		want        []int
	}{
		{4, 0, 6, []int{4, 5, 3, 2, 1}},
		{8, 0, 9, []int{8, 7, 6, 5, 4, 3, 2, 1}},
	} {
		if got := around(c.mid, c.lo, c.hi); !slices.Equal(got, c.want) {
			t.Errorf("around(%d, %d, %d) = %v; want %v", c.mid, c.lo, c.hi, got, c.want)
		}
	}
}

// TestARoundWithoutRepeatsRunsAgain: an evaluation that brought back no
// repeat at all (an empty distribution) completed nothing, like a round
// whose repeats all failed: the step runs again, up to its rounds.
func TestARoundWithoutRepeatsRunsAgain(t *testing.T) {
	rounds := 0
	eval := func(_ context.Context, c Candidate, round int) (*results.Result, error) {
		rounds = round
		return &results.Result{Verdict: results.Pass, Repeats: &results.Repeats{N: 3, Distribution: []results.Share{}}}, nil
	}
	res, err := Run(context.Background(), []Candidate{{ID: "a", Label: "a"}, {ID: "b", Label: "b"}}, eval, Options{Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	st := res.Steps[0]
	if res.Outcome != Flaky || st.Decision != "undecided" || st.Rounds != 2 || rounds != 2 || st.Why != "no repeat completed in 2 rounds" {
		t.Errorf("%s, reference %+v; want flaky, the reference undecided after 2 rounds", res.Outcome, st)
	}
}
