package compare

import (
	"fmt"

	"github.com/kernel-lab/lab/internal/results"
)

// Signatures lists how b differs from a, in words, in the signature's
// order: verdict, steps, reports, panic, processes.
func Signatures(a, b results.Signature) []Change {
	var out []Change
	add := func(regression bool, format string, args ...any) {
		out = append(out, Change{Text: fmt.Sprintf(format, args...), Regression: regression})
	}
	if a.Verdict != b.Verdict {
		add(a.Verdict == results.Pass || b.Verdict == results.Error, "verdict: %s → %s", a.Verdict, b.Verdict)
	}
	if a.ErrorKind != b.ErrorKind && a.Verdict == b.Verdict {
		add(true, "error: %s → %s", orNone(a.ErrorKind), orNone(b.ErrorKind))
	}
	for i := 0; i < max(len(a.Steps), len(b.Steps)); i++ {
		switch {
		case i >= len(a.Steps):
			s := b.Steps[i]
			add(true, "step %d %s %s: new (%s)", s.Index, s.Action, s.Target, s.Outcome)
		case i >= len(b.Steps):
			s := a.Steps[i]
			add(true, "step %d %s %s: did not run (was %s)", s.Index, s.Action, s.Target, s.Outcome)
		case a.Steps[i].Action != b.Steps[i].Action || a.Steps[i].Target != b.Steps[i].Target:
			sa, sb := a.Steps[i], b.Steps[i]
			add(true, "step %d: %s %s (%s) → %s %s (%s)", sa.Index, sa.Action, sa.Target, sa.Outcome, sb.Action, sb.Target, sb.Outcome)
		case a.Steps[i].Outcome != b.Steps[i].Outcome:
			sa, sb := a.Steps[i], b.Steps[i]
			add(true, "step %d %s %s: %s → %s", sb.Index, sb.Action, sb.Target, sa.Outcome, sb.Outcome)
		}
	}
	out = append(out, reports(a.Reports, b.Reports)...)
	if a.Panic != b.Panic {
		add(b.Panic, "kernel panic: %s → %s", yesNo(a.Panic), yesNo(b.Panic))
	}
	states := map[string]string{}
	for _, p := range a.Processes {
		states[p.Holder] = p.State
	}
	seen := map[string]bool{}
	for _, p := range b.Processes {
		seen[p.Holder] = true
		was, ok := states[p.Holder]
		stuck := p.State == "D" || p.State == "X"
		switch {
		case !ok:
			add(stuck, "process %s: new, %s", p.Holder, p.State)
		case was != p.State:
			add(stuck, "process %s: %s → %s", p.Holder, was, p.State)
		}
	}
	for _, p := range a.Processes {
		if !seen[p.Holder] {
			add(false, "process %s: gone from the run (was %s)", p.Holder, p.State)
		}
	}
	return out
}

// reports compares two report lists in order: the longest common
// subsequence stays, and between two kept reports a gone and a new report
// of the same kind read as one that moved ("page fault in filp_close →
// page fault in filp_flush"); the rest are new or gone. A new report is a
// regression, one gone is not.
func reports(a, b []results.ReportIdentity) []Change {
	// lcs[i][j] is the length of the common subsequence of a[i:], b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []Change
	var gone, added []results.ReportIdentity
	flush := func() {
		for len(gone) > 0 && len(added) > 0 && gone[0].Kind == added[0].Kind {
			out = append(out, Change{Text: fmt.Sprintf("report: %s → %s", gone[0].Words(), added[0].Words()), Regression: true})
			gone, added = gone[1:], added[1:]
		}
		for _, g := range gone {
			out = append(out, Change{Text: "report gone: " + g.Words()})
		}
		for _, n := range added {
			out = append(out, Change{Text: "new report: " + n.Words(), Regression: true})
		}
		gone, added = nil, nil
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			flush()
			i, j = i+1, j+1
		case j >= len(b) || i < len(a) && lcs[i+1][j] >= lcs[i][j+1]:
			gone = append(gone, a[i])
			i++
		default:
			added = append(added, b[j])
			j++
		}
	}
	flush()
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
