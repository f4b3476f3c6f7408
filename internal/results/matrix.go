package results

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
)

// Matrix is a run laid out as experiments (rows) by kernels (columns).
type Matrix struct {
	Run         *Run
	Kernels     []string
	Experiments []string
	// Cells[experiment][kernel]; nil where no result was written.
	Cells map[string]map[string]*Result
	// Sections go first in report.md and report.html (the comparison
	// with a baseline).
	Sections []Section
}

// NewMatrix arranges results; run names the rows and columns that were
// planned, so a missing cell shows as missing rather than vanishing.
func NewMatrix(run *Run, rs []*Result) *Matrix {
	m := &Matrix{Run: run, Cells: map[string]map[string]*Result{}}
	ks, es := map[string]bool{}, map[string]bool{}
	for _, k := range run.Kernels {
		ks[k] = true
	}
	for _, e := range run.Experiments {
		es[e] = true
	}
	for _, r := range rs {
		ks[r.Kernel.Name], es[r.Experiment] = true, true
		if m.Cells[r.Experiment] == nil {
			m.Cells[r.Experiment] = map[string]*Result{}
		}
		m.Cells[r.Experiment][r.Kernel.Name] = r
	}
	m.Kernels, m.Experiments = sortKernels(keys(ks)), keys(es)
	return m
}

// sortKernels orders kernel names by version ("debian-5.10" before
// "debian-6.1" before "debian-6.12").
func sortKernels(ks []string) []string {
	sort.Slice(ks, func(i, j int) bool { return versionLess(ks[i], ks[j]) })
	return ks
}

func versionLess(a, b string) bool {
	pa, pb := splitVersion(a), splitVersion(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			var na, nb int
			_, ea := fmt.Sscan(pa[i], &na)
			_, eb := fmt.Sscan(pb[i], &nb)
			if ea == nil && eb == nil {
				return na < nb
			}
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

func splitVersion(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '.' })
}

// Cell returns the result of experiment e on kernel k, or nil.
func (m *Matrix) Cell(e, k string) *Result { return m.Cells[e][k] }

// Counts tallies verdicts; missing cells count as "missing".
func (m *Matrix) Counts() map[string]int {
	c := map[string]int{}
	for _, e := range m.Experiments {
		for _, k := range m.Kernels {
			if r := m.Cell(e, k); r != nil {
				c[r.Verdict]++
			} else {
				c["missing"]++
			}
		}
	}
	return c
}

// Observation is the few words that say what the kernel did in a cell:
// "rmmod EAGAIN", "oops: page fault in vfs_read, holder X", "read EIO".
func Observation(r *Result) string {
	if r == nil {
		return "not run"
	}
	var parts []string
	if r.Verdict == Error && r.Panic == "" {
		return "error: " + r.ErrorKind
	}
	seen := map[string]bool{}
	addPart := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	for _, st := range r.Steps {
		switch {
		case st.Action == "unload" && !st.OK && st.Errno != "":
			addPart("rmmod " + st.Errno)
		case st.Action == "unload" && st.OK && st.MS >= 500:
			addPart(fmt.Sprintf("rmmod waited %.1f s", float64(st.MS)/1000))
		case (st.Action == "read" || st.Action == "seek" || st.Action == "open") && !st.OK && st.Errno != "":
			addPart(st.Action + " " + st.Errno)
		}
	}
	for i := range r.Oopses {
		if r.Oopses[i].IsWarning() {
			addPart(shortTitle(r.Oopses[i].Title))
			break
		}
	}
	var hung []string
	for _, o := range r.Oopses {
		if o.Kind == evidence.KindHungTask && !slices.Contains(hung, o.Comm) {
			hung = append(hung, o.Comm)
		}
	}
	if len(hung) > 0 {
		addPart("hung task: " + strings.Join(hung, ", "))
	}
	for _, o := range r.Oopses {
		if o.IsCrash() {
			addPart("oops: " + shortTitle(o.Title))
			break
		}
	}
	if r.Panic != "" {
		addPart("panic")
	}
	for _, p := range r.Processes {
		if p.State != "" && !p.Exited && !strings.HasPrefix(p.State, "S") && !strings.HasPrefix(p.State, "R") {
			addPart(fmt.Sprintf("%s %s", p.Comm, p.State[:1]))
		}
	}
	if len(parts) == 0 {
		return "as expected, nothing reported"
	}
	return strings.Join(parts, ", ")
}

// shortTitle drops the words every page-fault title shares, and the
// addresses of a title that had to fall back to the report's first line.
func shortTitle(t string) string {
	t = strings.TrimPrefix(Stable(t), "BUG: ")
	t = strings.TrimPrefix(t, "unable to handle ")
	return t
}

// Difference is one experiment on which kernels disagree.
type Difference struct {
	Experiment string
	// By kernel: what that kernel did, in the terms they differ on.
	Kernels []string
	Says    []string
	// Arch says which of the differences are architectural: kernels of
	// one Debian build on two architectures (debian-6.1 and
	// debian-6.1-arm64), a line a pair that differs.
	Arch []string
}

// Differences lists, per experiment, how the kernels' behaviour differs,
// by their cells' behaviour signatures (signature.go): two kernels differ
// when their signatures do, never by an address or a count of repeated
// reports. Kernels that agree are not listed.
func (m *Matrix) Differences() []Difference {
	var out []Difference
	for _, e := range m.Experiments {
		says := map[string]string{}
		distinct := map[string]bool{}
		for _, k := range m.Kernels {
			r := m.Cell(e, k)
			if r == nil {
				continue
			}
			sig := r.Behaviour()
			says[k] = sig.Summary()
			distinct[sig.Key()] = true
		}
		if len(distinct) < 2 {
			continue
		}
		d := Difference{Experiment: e}
		for _, k := range m.Kernels {
			if s, ok := says[k]; ok {
				d.Kernels = append(d.Kernels, k)
				d.Says = append(d.Says, s)
			}
		}
		d.Arch = m.archDifferences(e, says)
		out = append(out, d)
	}
	return out
}

// archDifferences names each pair of e's kernels that run one Debian build
// (the same package version of one source) on two architectures and
// differ: that difference is the architecture's (archdiff.go says how).
func (m *Matrix) archDifferences(e string, says map[string]string) []string {
	var out []string
	for i, a := range m.Kernels {
		ra := m.Cell(e, a)
		if ra == nil {
			continue
		}
		for _, b := range m.Kernels[i+1:] {
			rb := m.Cell(e, b)
			if rb == nil || ra.Kernel.PackageVersion == "" || ra.Kernel.PackageVersion != rb.Kernel.PackageVersion {
				continue
			}
			archA, archB := ArchOf(ra), ArchOf(rb)
			if archA == archB || says[a] == says[b] {
				continue
			}
			out = append(out, fmt.Sprintf("%s (%s) and %s (%s), one build (%s): %s",
				a, archA, b, archB, ra.Kernel.PackageVersion, compareArches(archA, ra.Behaviour(), archB, rb.Behaviour())))
		}
	}
	return out
}

// ArchOf is the architecture r's kernel ran on; records from before lab
// ran other architectures say none and were amd64.
func ArchOf(r *Result) string {
	if r.Kernel.Arch == "" {
		return "amd64"
	}
	return r.Kernel.Arch
}

// Builds says, per kernel, which build ran: its release and kernel package
// version, and how that relates to the lock (followed because the locked
// build was gone, or fetched from a snapshot archive). One line per kernel
// that has a result with provenance.
func (m *Matrix) Builds() []string {
	var out []string
	for _, k := range m.Kernels {
		var r *Result
		for _, e := range m.Experiments {
			if c := m.Cell(e, k); c != nil && c.Provenance.Lock != nil {
				r = c
				break
			}
		}
		if r == nil {
			continue
		}
		line := fmt.Sprintf("%s: %s (%s)", k, r.Kernel.PackageVersion, r.Kernel.Release)
		lp := r.Provenance.Lock
		switch {
		case lp.Followed:
			line += "; " + strings.TrimPrefix(lp.Note, k+": ")
		case lp.Snapshot != "":
			line += ", as locked, from the snapshot archive " + lp.Snapshot
		case len(lp.Locked) > 0:
			line += ", as locked"
		}
		out = append(out, line)
	}
	return out
}
