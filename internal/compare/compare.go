package compare

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/kernel-lab/lab/internal/results"
)

// Statuses of a cell.
const (
	Same            = "same"
	SameWithinNoise = "same within noise" // repeats: no rate moved beyond both intervals
	Changed         = "changed"
	New             = "new"  // in B only
	Gone            = "gone" // in A only
)

// Cell is one cell compared.
type Cell struct {
	Experiment string `json:"experiment"`
	// Kernel is B's image; BaseKernel A's when --map paired two images.
	Kernel     string `json:"kernel"`
	BaseKernel string `json:"base_kernel,omitempty"`
	Status     string `json:"status"`
	// Regression is set when a change is one a baseline must not allow:
	// a new report, a verdict worse than pass, a holder newly left in D or
	// X, a step whose outcome changed.
	Regression bool     `json:"regression"`
	Changes    []Change `json:"changes,omitempty"`
	// Rates compares the signatures' rates when either side ran repeats.
	Rates []Rate `json:"rates,omitempty"`
}

// Change is one difference, in words: "step 5 read A: EIO → no answer",
// "new report: page fault in filp_flush", "process holder-A: D → X".
type Change struct {
	Text       string `json:"text"`
	Regression bool   `json:"regression,omitempty"`
}

// Rate is one signature's share on each side, with its 95% Wilson
// interval. Changed is set when each side's rate lies outside the other
// side's interval.
type Rate struct {
	Label   string  `json:"label"`
	CountA  int     `json:"count_a"`
	NA      int     `json:"n_a"`
	LowA    float64 `json:"low_a"`
	HighA   float64 `json:"high_a"`
	CountB  int     `json:"count_b"`
	NB      int     `json:"n_b"`
	LowB    float64 `json:"low_b"`
	HighB   float64 `json:"high_b"`
	Changed bool    `json:"changed"`
}

// Report is a whole comparison, A (the older, or the baseline) to B.
type Report struct {
	A     string `json:"a"`
	B     string `json:"b"`
	Cells []Cell `json:"cells"`
	// Baseline is set when A is a baseline the run must not regress from:
	// the text then heads regressions REGRESSION.
	Baseline bool `json:"baseline,omitempty"`
}

// Mapping pairs A's kernel images with B's ("debian-6.1" → "debian-6.12").
type Mapping map[string]string

// ParseMapping reads --map values, each "A=B".
func ParseMapping(pairs []string) (Mapping, error) {
	m := Mapping{}
	for _, p := range pairs {
		a, b, ok := strings.Cut(p, "=")
		if !ok || a == "" || b == "" {
			return nil, fmt.Errorf("--map %q: want KERNEL-A=KERNEL-B, e.g. debian-6.1=debian-6.12", p)
		}
		if _, dup := m[a]; dup {
			return nil, fmt.Errorf("--map: %s is mapped twice", a)
		}
		m[a] = b
	}
	return m, nil
}

// Compare pairs the cells of a and b (by kernel image and experiment, A's
// image renamed through m; two single result files pair whatever they
// hold) and says how each changed. Cells on one side only are listed as
// new or gone; with a mapping, only the mapped images take part. No cell in common is an error: the two runs say nothing
// about each other.
func Compare(a, b *Side, m Mapping) (*Report, error) {
	rep := &Report{A: a.Path, B: b.Path}
	pairs := map[results.CellKey]results.CellKey{} // A key -> B key
	if a.Single && b.Single {
		for ka := range a.Cells {
			for kb := range b.Cells {
				pairs[ka] = kb
			}
		}
	} else {
		for ka := range a.Cells {
			kb := ka
			if len(m) > 0 {
				to, ok := m[ka.Kernel]
				if !ok {
					continue
				}
				kb.Kernel = to
			}
			if _, ok := b.Cells[kb]; ok {
				pairs[ka] = kb
			}
		}
	}
	// With a mapping only the mapped images take part: the rest of each
	// run is neither new nor gone.
	inA := func(k results.CellKey) bool { _, ok := m[k.Kernel]; return len(m) == 0 || ok }
	inB := func(k results.CellKey) bool {
		if len(m) == 0 {
			return true
		}
		for _, to := range m {
			if to == k.Kernel {
				return true
			}
		}
		return false
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s and %s share no cell (A has %s; B has %s)%s", a.Path, b.Path, cellList(a), cellList(b), mapHint(m))
	}
	matchedB := map[results.CellKey]bool{}
	for ka, kb := range pairs {
		matchedB[kb] = true
		c := diffCell(a.Cells[ka], b.Cells[kb])
		c.Experiment, c.Kernel = kb.Experiment, kb.Kernel
		if ka.Kernel != kb.Kernel {
			c.BaseKernel = ka.Kernel
		}
		rep.Cells = append(rep.Cells, c)
	}
	for ka := range a.Cells {
		if _, ok := pairs[ka]; !ok && inA(ka) {
			rep.Cells = append(rep.Cells, Cell{Experiment: ka.Experiment, Kernel: ka.Kernel, Status: Gone})
		}
	}
	for kb := range b.Cells {
		if !matchedB[kb] && inB(kb) {
			rep.Cells = append(rep.Cells, Cell{Experiment: kb.Experiment, Kernel: kb.Kernel, Status: New})
		}
	}
	// Cells come from maps: the order is by experiment, kernel, A's kernel
	// (two of A's images --map'ped to one of B's share B's name) and
	// status (a gone and a new cell can share a name), so that text and
	// JSON come out the same every time.
	slices.SortFunc(rep.Cells, func(ci, cj Cell) int {
		return cmp.Or(cmp.Compare(ci.Experiment, cj.Experiment), cmp.Compare(ci.Kernel, cj.Kernel),
			cmp.Compare(ci.BaseKernel, cj.BaseKernel), cmp.Compare(ci.Status, cj.Status))
	})
	return rep, nil
}

func cellList(s *Side) string {
	var ks []string
	for k := range s.Cells {
		ks = append(ks, k.Experiment+" on "+k.Kernel)
	}
	slices.Sort(ks)
	if len(ks) > 4 {
		ks = append(ks[:4], fmt.Sprintf("%d more", len(ks)-4))
	}
	return strings.Join(ks, ", ")
}

func mapHint(m Mapping) string {
	if len(m) > 0 {
		return ""
	}
	return "; --map KERNEL-A=KERNEL-B compares two images"
}

// Regressions are the cells with a regression.
func (r *Report) Regressions() []Cell {
	var out []Cell
	for _, c := range r.Cells {
		if c.Regression {
			out = append(out, c)
		}
	}
	return out
}

// Count tallies the cells by status.
func (r *Report) Count() map[string]int {
	n := map[string]int{}
	for _, c := range r.Cells {
		n[c.Status]++
	}
	return n
}

// Differs says whether any cell is not the same (within noise counts as
// the same).
func (r *Report) Differs() bool {
	for _, c := range r.Cells {
		if c.Status != Same && c.Status != SameWithinNoise {
			return true
		}
	}
	return false
}

// diffCell compares one cell: signatures for single runs, distributions
// when either side ran repeats.
func diffCell(a, b *results.Result) Cell {
	if a.Repeats != nil && a.Repeats.N > 1 || b.Repeats != nil && b.Repeats.N > 1 {
		return diffRates(a, b)
	}
	changes := Signatures(a.Behaviour(), b.Behaviour())
	c := Cell{Status: Same, Changes: changes}
	if len(changes) > 0 {
		c.Status = Changed
	}
	for _, ch := range changes {
		c.Regression = c.Regression || ch.Regression
	}
	return c
}

// shares is a cell's distribution by signature key, its size, and the
// keys most frequent first.
func shares(r *results.Result) (map[string]results.Share, int, []string) {
	list, n := r.Shares()
	out := map[string]results.Share{}
	var order []string
	for _, s := range list {
		k := s.Signature.Key()
		out[k] = s
		order = append(order, k)
	}
	return out, n, order
}

// diffRates compares two distributions: a signature's rate changed when
// B's rate lies outside A's 95% interval and A's outside B's; anything
// less is noise. The words compare the most frequent signatures.
func diffRates(a, b *results.Result) Cell {
	sa, na, orderA := shares(a)
	sb, nb, orderB := shares(b)
	keys := orderA
	for _, k := range orderB {
		if _, ok := sa[k]; !ok {
			keys = append(keys, k)
		}
	}
	c := Cell{Status: Same}
	if len(orderA) != 1 || len(orderB) != 1 || orderA[0] != orderB[0] {
		c.Status = SameWithinNoise
	}
	modalA := sa[orderA[0]].Signature
	for _, k := range keys {
		x, y := sa[k], sb[k]
		label := x.Label
		if label == "" {
			label = y.Label
		}
		rt := Rate{Label: label, CountA: x.Count, NA: na, CountB: y.Count, NB: nb}
		rt.LowA, rt.HighA = results.Wilson(x.Count, na)
		rt.LowB, rt.HighB = results.Wilson(y.Count, nb)
		pa, pb := float64(x.Count)/float64(na), float64(y.Count)/float64(nb)
		rt.Changed = (pb < rt.LowA || pb > rt.HighA) && (pa < rt.LowB || pa > rt.HighB)
		c.Rates = append(c.Rates, rt)
		if !rt.Changed {
			continue
		}
		c.Status = Changed
		text := fmt.Sprintf("%s: %d/%d (%.2f–%.2f) → %d/%d (%.2f–%.2f)", label, x.Count, na, rt.LowA, rt.HighA, y.Count, nb, rt.LowB, rt.HighB)
		ch := Change{Text: text}
		if pb > pa && k != orderA[0] {
			// A signature that became more frequent: a regression when it
			// differs from A's usual behaviour in a way that is one.
			for _, d := range Signatures(modalA, sb[k].Signature) {
				ch.Regression = ch.Regression || d.Regression
			}
		}
		c.Changes = append(c.Changes, ch)
		c.Regression = c.Regression || ch.Regression
	}
	if c.Status == Changed && orderA[0] != orderB[0] {
		for _, d := range Signatures(modalA, sb[orderB[0]].Signature) {
			d.Regression = false // counted through the rates above
			d.Text = "most often: " + d.Text
			c.Changes = append(c.Changes, d)
		}
	}
	return c
}
