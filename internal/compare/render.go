package compare

import (
	"fmt"
	"io"
	"strings"

	"github.com/kernel-lab/lab/internal/results"
)

// Name is "chardev-unsafe on debian-6.12" (or "… on debian-6.12, against
// debian-6.1" when two images were paired).
func (c Cell) Name() string {
	n := c.Experiment + " on " + c.Kernel
	if c.BaseKernel != "" {
		n += " (against " + c.BaseKernel + ")"
	}
	return n
}

// order is how a report lists cells: regressions first, then the other
// changes, cells on one side only, noise, and the same.
func (r *Report) order() []Cell {
	rank := func(c Cell) int {
		switch {
		case c.Regression:
			return 0
		case c.Status == Changed:
			return 1
		case c.Status == New || c.Status == Gone:
			return 2
		case c.Status == SameWithinNoise:
			return 3
		}
		return 4
	}
	var out []Cell
	for k := 0; k <= 4; k++ {
		for _, c := range r.Cells {
			if rank(c) == k {
				out = append(out, c)
			}
		}
	}
	return out
}

// Summary is one line: "2 changed (1 regression), 1 new, 5 same".
func (r *Report) Summary() string {
	n := r.Count()
	var parts []string
	for _, st := range []string{Changed, New, Gone, SameWithinNoise, Same} {
		if n[st] == 0 {
			continue
		}
		p := fmt.Sprintf("%d %s", n[st], st)
		if st == Changed {
			if reg := len(r.Regressions()); reg == 1 {
				p += " (1 regression)"
			} else if reg > 1 {
				p += fmt.Sprintf(" (%d regressions)", reg)
			}
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// Text writes the comparison for a terminal, regressions first; cells
// that are the same are counted, not listed.
func (r *Report) Text(w io.Writer) {
	fmt.Fprintf(w, "%s → %s: %s\n", r.A, r.B, r.Summary())
	for _, c := range r.order() {
		if c.Status == Same {
			continue
		}
		head := c.Status
		if c.Regression && r.Baseline {
			head = "REGRESSION"
		}
		fmt.Fprintf(w, "  %s: %s\n", head, c.Name())
		for _, line := range c.Lines() {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
}

// Lines are a cell's changes in words (and its rates when it ran
// repeats and did not change).
func (c Cell) Lines() []string {
	var out []string
	for _, ch := range c.Changes {
		mark := ""
		if ch.Regression {
			mark = " (regression)"
		}
		out = append(out, ch.Text+mark)
	}
	if c.Status == SameWithinNoise {
		for _, rt := range c.Rates {
			out = append(out, fmt.Sprintf("%s: %d/%d → %d/%d, inside both intervals", rt.Label, rt.CountA, rt.NA, rt.CountB, rt.NB))
		}
	}
	return out
}

// Section is the comparison as a section of report.md and report.html.
func (r *Report) Section(title string) results.Section {
	s := results.Section{Title: title, Intro: fmt.Sprintf("%s → this run: %s.", r.A, r.Summary())}
	for _, c := range r.order() {
		if c.Status == Same {
			continue
		}
		head := c.Status
		if c.Regression {
			head = "regression"
		}
		s.Items = append(s.Items, results.SectionItem{Text: head + ": " + c.Name(), Strong: c.Regression, Sub: c.Lines()})
	}
	return s
}
