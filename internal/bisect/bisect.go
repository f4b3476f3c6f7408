// Package bisect finds, in an ordered history (Debian builds of a kernel
// series, a module's commits), the first point whose behaviour signature
// differs from the first point's, deciding each step on several repeats
// and refusing to guess where the repeats disagree. It knows nothing of
// kernels or git: the caller lists the candidates and evaluates one.
package bisect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kernel-lab/lab/internal/compare"
	"github.com/kernel-lab/lab/internal/results"
)

// Candidate is one point of the history.
type Candidate struct {
	ID    string `json:"id"`    // "6.1.176-1", a commit hash
	Label string `json:"label"` // what a person reads: "6.1.176-1 (linux-image-6.1.0-50-amd64)", "c3d4e5f drop .owner"
}

// Evaluate runs the experiment on c with repeats (round counts from 1)
// and returns the cell's record, with Repeats when more than one ran. An
// error of type *SkipError skips c (it does not build); any other error
// stops the bisect.
type Evaluate func(ctx context.Context, c Candidate, round int) (*results.Result, error)

// SkipError says a candidate cannot be evaluated (a commit that does not
// build), as `git bisect skip`.
type SkipError struct{ Err error }

func (e *SkipError) Error() string { return e.Err.Error() }
func (e *SkipError) Unwrap() error { return e.Err }

// Step is one candidate evaluated.
type Step struct {
	Candidate Candidate `json:"candidate"`
	// Position is the candidate's place in the history (0 = the first).
	Position int `json:"position"`
	// Decision: "reference" (the first point), "same" (as the
	// reference), "changed", "skipped" (with Why), "flaky" (repeats
	// disagree, with Why), "undecided" (no repeat completed).
	Decision string `json:"decision"`
	Why      string `json:"why,omitempty"`
	// Signature is the step's behaviour (its label), Repeats how many
	// repeats agreed on it of how many completed ("3/3"), Rounds how
	// many rounds ran.
	Signature string             `json:"signature,omitempty"`
	Key       string             `json:"-"`
	Sig       *results.Signature `json:"signature_detail,omitempty"`
	Repeats   string             `json:"repeats,omitempty"`
	Rounds    int                `json:"rounds"`
}

// Outcome says what a bisect found.
const (
	Found    = "found"     // FirstChanged is the first point that differs
	NoChange = "no-change" // the last point behaves as the first
	Flaky    = "flaky"     // a step's repeats disagreed: no answer is given
	Skipped  = "skipped"   // the change lies among points that could not be evaluated
)

// Result is a whole bisect.
type Result struct {
	Outcome string `json:"outcome"`
	// LastSame and FirstChanged are the two neighbouring points where the
	// behaviour changed (Found), or the ends of the range the change is in
	// (Skipped).
	LastSame     *Candidate `json:"last_same,omitempty"`
	FirstChanged *Candidate `json:"first_changed,omitempty"`
	// Changes are the differences between the two, in lab diff's words.
	Changes []string `json:"changes,omitempty"`
	// Common is the signature every point shares (NoChange).
	Common     []string `json:"common,omitempty"`
	Confidence string   `json:"confidence"`
	Steps      []Step   `json:"steps"`
}

// Options bound a bisect.
type Options struct {
	// Rounds is how many times a step runs its repeats when some could
	// not complete (default 3).
	Rounds int
	// Record hears of every step as it is decided (bisect.json is written
	// from it, so an interrupted bisect keeps what it did).
	Record func(*Result)
}

// Run bisects cands (in history order; cands[0] is the reference). It
// returns when the change is found, there is none, or a step is flaky.
func Run(ctx context.Context, cands []Candidate, eval Evaluate, o Options) (*Result, error) {
	if len(cands) < 2 {
		return nil, fmt.Errorf("nothing to bisect: %d point(s) in the range", len(cands))
	}
	if o.Rounds < 1 {
		o.Rounds = 3
	}
	res := &Result{Steps: []Step{}}
	record := func() {
		if o.Record != nil {
			o.Record(res)
		}
	}
	memo := map[int]*Step{}
	judge := func(i int) (*Step, error) {
		if st, ok := memo[i]; ok {
			return st, nil
		}
		st, err := decide(ctx, cands[i], i, eval, o.Rounds)
		if err != nil {
			return nil, err
		}
		if i > 0 && st.Decision == "" {
			st.Decision = "same"
			if st.Key != memo[0].Key {
				st.Decision = "changed"
			}
		}
		memo[i] = st
		res.Steps = append(res.Steps, *st)
		record()
		return st, nil
	}
	ref, err := judge(0)
	if err != nil {
		return res, err
	}
	if ref.Decision != "reference" {
		return finish(res, Flaky, nil, nil, record), nil
	}
	last, err := judge(len(cands) - 1)
	if err != nil {
		return res, err
	}
	switch last.Decision {
	case "flaky", "undecided":
		return finish(res, Flaky, nil, nil, record), nil
	case "skipped":
		return res, fmt.Errorf("%s: the last point cannot be evaluated: %s", cands[len(cands)-1].Label, last.Why)
	case "same":
		res.Common = ref.Sig.Lines()
		return finish(res, NoChange, &cands[0], &cands[len(cands)-1], record), nil
	}
	// Invariant: lo behaves as the reference, hi does not.
	lo, hi := 0, len(cands)-1
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		// A point that cannot be evaluated is skipped for its nearest
		// neighbour inside (lo, hi), the later side first.
		var st *Step
		for _, j := range around(mid, lo, hi) {
			if st, err = judge(j); err != nil {
				return res, err
			}
			if st.Decision != "skipped" {
				mid = j
				break
			}
			st = nil
		}
		if st == nil {
			return finish(res, Skipped, &cands[lo], &cands[hi], record), nil
		}
		switch st.Decision {
		case "same":
			lo = mid
		case "changed":
			hi = mid
		default:
			return finish(res, Flaky, &cands[lo], &cands[hi], record), nil
		}
	}
	res.Changes = changes(memo[lo], memo[hi])
	return finish(res, Found, &cands[lo], &cands[hi], record), nil
}

// around lists the points strictly between lo and hi from mid outwards:
// mid, mid+1, mid-1, mid+2 …
func around(mid, lo, hi int) []int {
	out := []int{mid}
	for d := 1; mid-d > lo || mid+d < hi; d++ {
		if mid+d < hi {
			out = append(out, mid+d)
		}
		if mid-d > lo {
			out = append(out, mid-d)
		}
	}
	return out
}

func finish(res *Result, outcome string, lastSame, firstChanged *Candidate, record func()) *Result {
	res.Outcome, res.LastSame, res.FirstChanged = outcome, lastSame, firstChanged
	res.Confidence = confidence(res)
	record()
	return res
}

// decide evaluates one candidate: every repeat lab completed must show
// the same signature. Repeats lab could not complete (verdict error:
// a guest that hung, a QEMU that died) say nothing of the kernel, so the
// step runs again, up to rounds times; two signatures among completed
// repeats make the step flaky, whatever a later round would show.
func decide(ctx context.Context, c Candidate, pos int, eval Evaluate, rounds int) (*Step, error) {
	st := &Step{Candidate: c, Position: pos}
	counts := map[string]int{}
	var sig results.Signature
	total := 0
	for round := 1; round <= rounds; round++ {
		st.Rounds = round
		r, err := eval(ctx, c, round)
		var skip *SkipError
		if errors.As(err, &skip) {
			st.Decision, st.Why = "skipped", skip.Error()
			return st, nil
		}
		if err != nil {
			return nil, err
		}
		incomplete := 0
		got, _ := r.Shares()
		for _, s := range got {
			if s.Signature.Verdict == results.Error {
				incomplete += s.Count
				continue
			}
			k := s.Signature.Key()
			if len(counts) == 0 {
				sig = s.Signature
			}
			counts[k] += s.Count
			total += s.Count
		}
		if len(counts) > 1 {
			var parts []string
			for _, s := range got {
				parts = append(parts, fmt.Sprintf("%d× %s", s.Count, s.Label))
			}
			st.Decision, st.Why = "flaky", "the repeats disagree: "+strings.Join(parts, "; ")
			return st, nil
		}
		if incomplete == 0 && total > 0 {
			break
		}
	}
	if total == 0 {
		st.Decision, st.Why = "undecided", fmt.Sprintf("no repeat completed in %d rounds", st.Rounds)
		return st, nil
	}
	st.Key, st.Sig, st.Signature = sig.Key(), &sig, sig.Label()
	st.Repeats = fmt.Sprintf("%d/%d", total, total)
	if pos == 0 {
		st.Decision = "reference"
	}
	return st, nil
}

func changes(a, b *Step) []string {
	var out []string
	for _, c := range compare.Signatures(*a.Sig, *b.Sig) {
		out = append(out, c.Text)
	}
	return out
}

// confidence is one line on how far to trust the answer.
func confidence(res *Result) string {
	decided, agreed := 0, ""
	same := true
	for _, st := range res.Steps {
		if st.Repeats == "" {
			continue
		}
		decided++
		if agreed == "" {
			agreed = st.Repeats
		}
		same = same && st.Repeats == agreed
	}
	each := agreed
	if !same {
		each = "every completed repeat agreeing"
	}
	switch res.Outcome {
	case Found:
		return fmt.Sprintf("first changed: %s (%s at each of %d steps)", res.FirstChanged.Label, each, decided)
	case NoChange:
		return fmt.Sprintf("no change from %s to %s (%s at both ends)", res.LastSame.Label, res.FirstChanged.Label, each)
	case Skipped:
		return fmt.Sprintf("the change is between %s and %s, whose points in between could not be evaluated", res.LastSame.Label, res.FirstChanged.Label)
	}
	for _, st := range res.Steps {
		if st.Decision == "flaky" || st.Decision == "undecided" {
			return fmt.Sprintf("no answer: %s is %s (%s)", st.Candidate.Label, st.Decision, st.Why)
		}
	}
	return "no answer"
}
