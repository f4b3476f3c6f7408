package experiment

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/textutil"
)

// Rate is an expected share of passing repeats: Op is one of >=, >, <=,
// <, ==, and Value lies in [0, 1].
type Rate struct {
	Op    string
	Value float64
}

// ParseRate reads ">= 0.9" (the operator may be left out: "0.9" means
// ">= 0.9").
func ParseRate(s string) (*Rate, error) {
	t := strings.TrimSpace(s)
	r := &Rate{Op: ">="}
	for _, op := range []string{">=", "<=", "==", ">", "<"} {
		if rest, ok := strings.CutPrefix(t, op); ok {
			r.Op, t = op, strings.TrimSpace(rest)
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v > 1 {
		return nil, fmt.Errorf("%q: want an operator (>=, >, <=, <, ==) and a share of repeats between 0 and 1, like \">= 0.9\"", s)
	}
	r.Value = v
	return r, nil
}

func (r Rate) String() string { return fmt.Sprintf("%s %g", r.Op, r.Value) }

// Holds says whether a pass rate p meets the expectation. The rate is
// compared as observed (passed/N), not through its interval: a person
// reads "9/10 passed, want >= 0.9" as met, and the interval is printed
// beside it for how much that says.
func (r Rate) Holds(p float64) bool {
	const eps = 1e-9
	switch r.Op {
	case ">=":
		return p >= r.Value-eps
	case ">":
		return p > r.Value+eps
	case "<=":
		return p <= r.Value+eps
	case "<":
		return p < r.Value-eps
	}
	return p > r.Value-eps && p < r.Value+eps
}

// JudgeRepeats sets the verdict of agg, a cell run len(reps) times whose
// Repeats are filled: an error in any repeat makes the cell an error (the
// lab could not complete it); otherwise, without an expected rate, the
// cell passes only when every repeat passed, and with one when the share
// that passed meets it.
func JudgeRepeats(s *Spec, agg *results.Result, reps []*results.Result) {
	rp := agg.Repeats
	n := len(reps)
	var failed, errored []string
	for i, r := range reps {
		switch r.Verdict {
		case results.Fail:
			failed = append(failed, fmt.Sprintf("repeat %d: %s", i+1, r.Reason))
		case results.Error:
			errored = append(errored, fmt.Sprintf("repeat %d: %s: %s", i+1, r.ErrorKind, textutil.FirstLine(r.Error)))
		}
	}
	rate := s.Expect.For(agg.Kernel.Name).Rate
	if rate != nil {
		rp.ExpectedRate = rate.String()
	}
	agg.Reason, agg.Error, agg.ErrorKind = "", "", ""
	switch {
	case len(errored) > 0:
		agg.Verdict = results.Error
		agg.ErrorKind = reps[firstIndex(reps, results.Error)].ErrorKind
		agg.Error = fmt.Sprintf("%d of %d repeats could not complete: %s", len(errored), n, strings.Join(errored, "; "))
	case rate == nil && len(failed) == 0:
		agg.Verdict = results.Pass
	case rate == nil:
		agg.Verdict = results.Fail
		agg.Reason = fmt.Sprintf("%d of %d repeats failed (every repeat must pass; expect.rate allows fewer): %s", len(failed), n, strings.Join(failed, "; "))
	default:
		p := float64(rp.Passed) / float64(n)
		lo, hi := results.Wilson(rp.Passed, n)
		if rate.Holds(p) {
			agg.Verdict = results.Pass
		} else {
			agg.Verdict = results.Fail
			agg.Reason = fmt.Sprintf("%d of %d repeats passed, rate %.2f (95%% interval %.2f–%.2f); want %s", rp.Passed, n, p, lo, hi, rate)
		}
	}
}

func firstIndex(reps []*results.Result, verdict string) int {
	for i, r := range reps {
		if r.Verdict == verdict {
			return i
		}
	}
	return 0
}
