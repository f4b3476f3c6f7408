package results

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Repeats is the record of a cell run N times (--repeat N), each from a
// fresh restore: how often each behaviour signature occurred.
type Repeats struct {
	N      int `json:"n"`
	Passed int `json:"passed"`
	// ExpectedRate is the experiment's expect.rate (">= 0.9"): the share
	// of repeats that must pass. Without one every repeat must pass.
	ExpectedRate string `json:"expected_rate,omitempty"`
	// Flaky is set when more than one signature occurred.
	Flaky bool `json:"flaky"`
	// Distribution has one entry per signature, most frequent first.
	Distribution []Share `json:"distribution"`
	// Spread places every report of every repeat on its step's clock,
	// for the timeline: how far into the step it came.
	Spread []SpreadPoint `json:"spread,omitempty"`
}

// Share is one signature's part of a cell's repeats.
type Share struct {
	Label string `json:"label"`
	Count int    `json:"count"`
	// Rate is Count/N, and Low and High its 95% Wilson score interval.
	Rate      float64   `json:"rate"`
	Low       float64   `json:"low"`
	High      float64   `json:"high"`
	Repeats   []int     `json:"repeats"` // 1-based repeat numbers
	Signature Signature `json:"signature"`
}

// SpreadPoint is one kernel report of one repeat: the step it came in and
// how many seconds after that step began.
type SpreadPoint struct {
	Repeat int     `json:"repeat"`
	Step   int     `json:"step"`
	After  float64 `json:"after"`
	Title  string  `json:"title"`
}

// Behaviour is r's signature: the one its record carries, else computed
// from the record.
func (r *Result) Behaviour() Signature {
	if r.Signature != nil {
		return *r.Signature
	}
	return SignatureOf(r)
}

// Shares is r's distribution of signatures over n runs: its repeats', or
// for a cell run once its one signature, once.
func (r *Result) Shares() (shares []Share, n int) {
	if r.Repeats != nil && r.Repeats.N > 0 {
		return r.Repeats.Distribution, r.Repeats.N
	}
	sig := r.Behaviour()
	return []Share{{Label: sig.Label(), Count: 1, Rate: 1, Repeats: []int{1}, Signature: sig}}, 1
}

// wilsonZ is the normal quantile of a two-sided 95% interval.
const wilsonZ = 1.959963984540054

// Wilson returns the 95% Wilson score interval of a rate of k in n. It
// stays inside [0, 1] and is honest at 0/n and n/n, where the normal
// approximation collapses to a point (10/10 is [0.72, 1], not [1, 1]).
func Wilson(k, n int) (low, high float64) {
	if n <= 0 {
		return 0, 1
	}
	p := float64(k) / float64(n)
	nn := float64(n)
	z2 := wilsonZ * wilsonZ
	centre := (p + z2/(2*nn)) / (1 + z2/nn)
	half := wilsonZ / (1 + z2/nn) * math.Sqrt(p*(1-p)/nn+z2/(4*nn*nn))
	// The interval holds k/n, which rounding alone can leave just outside
	// it at n/n (17/17: high 0.9999999999999999) or 0/n.
	return math.Min(p, math.Max(0, centre-half)), math.Max(p, math.Min(1, centre+half))
}

// Distribute tallies the signatures of a cell's repeats, rs[i] being
// repeat i+1. Shares come most frequent first, ties in order of first
// appearance; two shares with the same label get their rank appended.
func Distribute(rs []*Result) *Repeats {
	rp := &Repeats{N: len(rs), Distribution: []Share{}}
	index := map[string]int{}
	for i, r := range rs {
		if r.Verdict == Pass {
			rp.Passed++
		}
		sig := r.Behaviour()
		k := sig.Key()
		j, ok := index[k]
		if !ok {
			j = len(rp.Distribution)
			index[k] = j
			rp.Distribution = append(rp.Distribution, Share{Label: sig.Label(), Signature: sig})
		}
		rp.Distribution[j].Count++
		rp.Distribution[j].Repeats = append(rp.Distribution[j].Repeats, i+1)
		rp.Spread = append(rp.Spread, spread(i+1, r)...)
	}
	sort.SliceStable(rp.Distribution, func(a, b int) bool { return rp.Distribution[a].Count > rp.Distribution[b].Count })
	labels := map[string]int{}
	for _, s := range rp.Distribution {
		labels[s.Label]++
	}
	for i := range rp.Distribution {
		s := &rp.Distribution[i]
		if labels[s.Label] > 1 {
			s.Label = fmt.Sprintf("%s (variant %d)", s.Label, i+1)
		}
		s.Rate = float64(s.Count) / float64(rp.N)
		s.Low, s.High = Wilson(s.Count, rp.N)
	}
	rp.Flaky = len(rp.Distribution) > 1
	return rp
}

func spread(repeat int, r *Result) []SpreadPoint {
	var out []SpreadPoint
	for _, st := range r.Steps {
		if st.At == 0 {
			continue
		}
		for _, oi := range st.Oopses {
			if oi < len(r.Oopses) && r.Oopses[oi].Time >= st.At {
				out = append(out, SpreadPoint{Repeat: repeat, Step: st.Index, After: r.Oopses[oi].Time - st.At, Title: Stable(r.Oopses[oi].Title)})
			}
		}
	}
	return out
}

// String is the distribution in one line: "10/10 same", or "7/10 page
// fault in vfs_read, 3/10 no report".
func (rp *Repeats) String() string {
	if len(rp.Distribution) == 1 {
		return fmt.Sprintf("%d/%d same", rp.N, rp.N)
	}
	var parts []string
	for _, s := range rp.Distribution {
		parts = append(parts, fmt.Sprintf("%d/%d %s", s.Count, rp.N, s.Label))
	}
	return strings.Join(parts, ", ")
}

// Lines is the distribution a signature a line, with the interval.
func (rp *Repeats) Lines() []string {
	var out []string
	for _, s := range rp.Distribution {
		out = append(out, fmt.Sprintf("%2d/%d  rate %.2f, 95%% interval %.2f–%.2f  %s", s.Count, rp.N, s.Rate, s.Low, s.High, s.Label))
	}
	return out
}
