package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/kernel-lab/lab/internal/bisect"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/runner"
)

// maxChangelogLines bounds the changelog a bisect prints (a stable update
// lists hundreds of fixes; bisect.json keeps them all).
const maxChangelogLines = 40

// printBisect writes a bisect's path and answer for a person.
func printBisect(w io.Writer, rec *bisectRecord) {
	res := rec.Result
	if res == nil {
		return
	}
	what := map[string]string{"series": "build", "kmods": "commit", "tree": "commit"}[rec.Form]
	fmt.Fprintf(w, "lab bisect %s: %d steps, %d repeats each\n", rec.Experiment, len(res.Steps), rec.Repeat)
	for _, st := range res.Steps {
		line := fmt.Sprintf("  %-44s %-9s", st.Candidate.Label, st.Decision)
		if st.Repeats != "" {
			line += fmt.Sprintf(" %s %s", st.Repeats, st.Signature)
		}
		if st.Why != "" {
			line += " " + st.Why
		}
		fmt.Fprintln(w, line)
	}
	switch res.Outcome {
	case bisect.Found:
		became := ""
		for _, st := range res.Steps {
			if st.Candidate.ID == res.FirstChanged.ID {
				became = st.Signature
			}
		}
		fmt.Fprintf(w, "\nfirst %s where the behaviour changed: %s\n", what, res.FirstChanged.Label)
		fmt.Fprintf(w, "  it became: %s\n", became)
		fmt.Fprintf(w, "  the last %s that behaves as %s: %s\n", what, res.Steps[0].Candidate.Label, res.LastSame.Label)
		for _, c := range res.Changes {
			fmt.Fprintf(w, "    %s\n", c)
		}
	case bisect.NoChange:
		fmt.Fprintf(w, "\nno change from %s to %s; every point tried behaves so:\n", res.LastSame.Label, res.FirstChanged.Label)
		for _, l := range res.Common {
			fmt.Fprintf(w, "    %s\n", l)
		}
	case bisect.Skipped:
		fmt.Fprintf(w, "\nthe change is after %s and at or before %s; the %ss between could not be evaluated\n", res.LastSame.Label, res.FirstChanged.Label, what)
	case bisect.Flaky:
		fmt.Fprintf(w, "\nno answer: a step's repeats disagreed, and a bisect on a flaky behaviour would mark the wrong %s\n", what)
	}
	fmt.Fprintf(w, "%s\n", res.Confidence)
	if len(rec.Changelog) > 0 {
		fmt.Fprintf(w, "\nDebian changelog from %s to %s:\n", res.LastSame.ID, res.FirstChanged.ID)
		for i, l := range rec.Changelog {
			if i == maxChangelogLines {
				fmt.Fprintf(w, "  … %d more lines in bisect.json\n", len(rec.Changelog)-i)
				break
			}
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// changelog is the Debian changelog between the two builds the bisect
// ended on: the entries of the later build's source changelog after the
// earlier build's version.
func (g *globals) changelog(ctx context.Context, plan *bisectPlan, res *bisect.Result, o runner.Options) []string {
	if plan.form != "series" || res.LastSame == nil || res.FirstChanged == nil || res.Outcome == bisect.Flaky {
		return nil
	}
	spec := plan.builds[res.FirstChanged.ID]
	img, err := image.Fetch(ctx, spec, image.FetchOptions{CacheDir: o.CacheDir, Mirror: o.Mirror, SecurityMirror: o.SecurityMirror, Log: o.Log})
	if err != nil {
		return []string{"(changelog: " + err.Error() + ")"}
	}
	entries, err := img.Changelog()
	if err != nil {
		return []string{"(changelog: " + err.Error() + ")"}
	}
	var out []string
	// The image package carries the source's version (6.1.176-1).
	for _, e := range image.Between(entries, res.LastSame.ID, res.FirstChanged.ID) {
		out = append(out, e.Lines...)
	}
	return out
}
