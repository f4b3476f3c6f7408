package results

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
)

// The timeline's geometry, in px. The width is fixed so that every cell's
// chart lines up with the next; the height grows with the steps.
const (
	tlWidth = 900
	tlLeft  = 200 // the plot starts right of the step labels
	tlRight = 860 // room on the right for a state letter after the last bar
	tlTop   = 18  // a strip above the kernel row for the unload labels
	tlRow   = 20
	tlBreak = 28 // the width a quiet stretch is drawn at (see tlScale)
)

// Bar colours by outcome, also the legend's order.
var tlColours = []struct{ fill, what string }{
	{"#4caf50", "ok"}, {"#f28e2b", "failed with errno"}, {"#d62728", "no answer"}, {"#c9a27e", "failed, no errno"},
}

func barColour(st Step) string {
	switch {
	case st.NoAnswer:
		return tlColours[2].fill
	case st.OK:
		return tlColours[0].fill
	case st.Errno != "":
		return tlColours[1].fill
	}
	return tlColours[3].fill
}

// tlScale maps kernel-log seconds to x. A linear scale fails the chart's
// purpose: a 3 s wait for an answer that never came squeezes the 30 ms
// between an unload and the oops into a few px. So the scale is linear
// except across quiet stretches (no step starts or ends, no report, no
// unload within them) far longer than the typical distance between events:
// those are drawn tlBreak px wide and marked broken with their length
// written under them. Outside the breaks one px-per-second holds, so the
// distances a reader compares stay honest.
type tlScale struct {
	segs []tlSeg
	k    float64 // px per second outside the breaks
}

type tlSeg struct {
	t0, t1, x0, x1 float64
	broken         bool
}

func newScale(events []float64) tlScale {
	sort.Float64s(events)
	var gaps []float64
	for i := 1; i < len(events); i++ {
		if g := events[i] - events[i-1]; g > 0 {
			gaps = append(gaps, g)
		}
	}
	sort.Float64s(gaps)
	median := gaps[(len(gaps)-1)/2] // the lower one: of two gaps, the short
	span := events[len(events)-1] - events[0]
	// Quiet means 20 typical gaps long and a fifth of the chart: the median
	// gap itself never is, so some time always stays linear.
	quiet := func(g float64) bool { return g > 20*median && g > span/5 }
	linear, breaks := span, 0
	for _, g := range gaps {
		if quiet(g) {
			linear -= g
			breaks++
		}
	}
	// Breaks never take more than half the plot, however many there are.
	bw := math.Min(tlBreak, (tlRight-tlLeft)/2/math.Max(1, float64(breaks)))
	s := tlScale{k: (tlRight - tlLeft - float64(breaks)*bw) / linear}
	x := float64(tlLeft)
	for i := 1; i < len(events); i++ {
		a, b := events[i-1], events[i]
		if b == a {
			continue
		}
		w := (b - a) * s.k
		if quiet(b - a) {
			w = bw
		}
		s.segs = append(s.segs, tlSeg{a, b, x, x + w, quiet(b - a)})
		x += w
	}
	return s
}

func (s tlScale) x(t float64) float64 {
	for _, g := range s.segs {
		if t <= g.t1 {
			return g.x0 + math.Max(0, t-g.t0)/(g.t1-g.t0)*(g.x1-g.x0)
		}
	}
	return s.segs[len(s.segs)-1].x1
}

// esc makes guest text (titles, targets, comm names) safe as XML character
// data and attribute values; characters XML cannot hold become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// textW guesses a text's width at font-size 11, to keep labels apart.
func textW(s string) float64 { return 6.2 * float64(len([]rune(s))) }

// TimelineSVG draws r on the guest's clock (kernel-log seconds) as an
// inline SVG, no scripts: a row per step with a bar from its start to its
// end coloured by outcome, the kernel's reports as diamonds on a row above
// with a guide line down through the steps, a dashed line at each module's
// unload, process states, and where repeats placed their reports. It
// returns "" when no step carries its start (results older than Step.At).
func TimelineSVG(r *Result) template.HTML {
	if r == nil {
		return ""
	}
	var events []float64
	t0, stepAt := math.Inf(1), map[int]float64{}
	for _, st := range r.Steps {
		if st.At > 0 {
			t0 = math.Min(t0, st.At)
			stepAt[st.Index] = st.At
			events = append(events, st.At, st.At+float64(st.MS)/1000)
		}
	}
	if len(stepAt) == 0 {
		return ""
	}
	// Reports before the first step (a boot warning) are kept: they are the
	// kernel's and the quiet-stretch break keeps them from flattening the rest.
	for _, o := range r.Oopses {
		if o.Time > 0 {
			events = append(events, o.Time)
		}
	}
	for _, m := range r.Modules {
		if m.Event == "unload" && m.GoneAt > 0 {
			events = append(events, m.GoneAt)
		}
	}
	var spread []SpreadPoint // the repeats' reports that have a step to sit on
	if r.Repeats != nil {
		for _, p := range r.Repeats.Spread {
			if at, ok := stepAt[p.Step]; ok {
				spread, events = append(spread, p), append(events, at+p.After)
			}
		}
	}
	sort.Float64s(events)
	if events[len(events)-1]-events[0] <= 0 {
		return ""
	}
	sc := newScale(events)
	yK := float64(tlTop + 11) // the kernel row's centre
	rowY := func(i int) float64 { return float64(tlTop+22+i*tlRow) + tlRow/2 }
	bottom := float64(tlTop + 22 + len(r.Steps)*tlRow)
	yA := bottom + 2 // the x axis

	var b strings.Builder
	line := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	var tail []string // text lines under the legend
	for _, p := range r.Processes {
		tail = append(tail, fmt.Sprintf("at the end, %s: %s", p.Comm, p.State))
	}
	if len(spread) > 0 {
		tail = append(tail, fmt.Sprintf("ticks: reports of %d repeats, each placed relative to its step's start", r.Repeats.N), r.Repeats.String())
	}
	h := int(yA) + 66 + 15*len(tail)
	line(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui,sans-serif" font-size="11" role="img" aria-label="timeline of the steps and kernel reports">`, tlWidth, h, tlWidth, h)
	line(`<text x="8" y="%.1f" font-weight="bold">kernel</text>`, yK+4)
	row := map[int]int{} // step index -> row
	for i, st := range r.Steps {
		y := rowY(i)
		row[st.Index] = i
		if i%2 == 0 {
			line(`<rect x="0" y="%.1f" width="%d" height="%d" fill="#f3f3f3"/>`, y-tlRow/2, tlWidth, tlRow)
		}
		line(`<text x="8" y="%.1f">%s</text>`, y+4, esc(clip(fmt.Sprintf("%d %s %s", st.Index, st.Action, st.Target), 30)))
		if st.At == 0 {
			continue
		}
		x0 := sc.x(st.At)
		x1 := math.Max(x0+2, sc.x(st.At+float64(st.MS)/1000)) // 2 px: a 1 ms step stays visible
		line(`<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="12" fill="%s"><title>step %s</title></rect>`,
			x0, y-6, x1-x0, barColour(st), esc(fmt.Sprintf("%d %s %s: %s; began at %.6f s", st.Index, st.Action, st.Target, stepOutcome(st), st.At)))
		if st.Process != nil && (st.NoAnswer || st.Action == "observe") {
			line(`<text class="state" x="%.1f" y="%.1f" font-weight="bold">%s</text>`, x1+3, y+4, esc(st.Process.StateLetter()))
		}
	}
	for _, p := range spread {
		x, i := sc.x(stepAt[p.Step]+p.After), row[p.Step]
		line(`<line class="spread" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#111" stroke-opacity="0.55" stroke-width="2"><title>%s</title></line>`,
			x, x, rowY(i)-9, rowY(i)+9, esc(fmt.Sprintf("repeat %d: %s, %.4f s into step %d", p.Repeat, p.Title, p.After, p.Step)))
	}
	// Quiet stretches: a pale band over the rows, broken marks on the axis.
	var breaks []float64
	for _, g := range sc.segs {
		if g.broken {
			c := (g.x0 + g.x1) / 2
			breaks = append(breaks, c)
			line(`<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="#fff" fill-opacity="0.7"/>`, g.x0+4, tlTop+4, g.x1-g.x0-8, yA-tlTop-4)
			line(`<path d="M%.1f %.1f l6 -10 M%.1f %.1f l6 -10" stroke="#555"/>`, c-7, yA+5, c+1, yA+5)
			line(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#555">%s</text>`, c, yA+15, fmt.Sprintf("%.2g s", g.t1-g.t0))
		}
	}
	// Unloads, with how long after each the first report came.
	for _, m := range r.Modules {
		if m.Event != "unload" || m.GoneAt <= 0 {
			continue
		}
		x := sc.x(m.GoneAt)
		line(`<line class="unload" x1="%.1f" x2="%.1f" y1="4" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/>`, x, x, yA)
		label, anchor, lx := esc(m.Name+" unloaded"), "end", x-3
		if lx-textW(m.Name+" unloaded") < 0 {
			anchor, lx = "start", x+3
		}
		line(`<text x="%.1f" y="11" text-anchor="%s" font-size="10">%s</text>`, lx, anchor, label)
		first := math.Inf(1)
		for _, o := range r.Oopses {
			if o.Time >= m.GoneAt && o.Time < first {
				first = o.Time
			}
		}
		if anchor == "end" && !math.IsInf(first, 1) {
			line(`<text x="%.1f" y="11" font-size="10" fill="#b00">first report %.3f s later</text>`, x+3, first-m.GoneAt)
		}
	}
	for _, o := range r.Oopses {
		if o.Time <= 0 {
			continue
		}
		x := sc.x(o.Time)
		line(`<line class="guide" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-opacity="0.5"/>`, x, x, yK+7, bottom)
		line(`<g class="report" transform="translate(%.1f,%.1f)"><polygon points="0,-7 7,0 0,7 -7,0" fill="#d62728" stroke="#7a0000"/><title>%s</title></g>`,
			x, yK, esc(fmt.Sprintf("%s\nat %.6f s (%+.3f s)", o.Title, o.Time, o.Time-t0)))
	}
	// The axis reads in seconds after the first step began: what a person
	// compares is how far apart things are, and "+0.185 s" says it where
	// kernel uptime "3.156968" would make them subtract. The start's
	// uptime is in the caption for matching the console log.
	line(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#333"/>`, tlLeft, tlRight, yA, yA)
	d := niceStep(70 / sc.k) // a tick every 70 px or more
	dec := int(math.Max(1, math.Ceil(-math.Log10(d)-1e-9)))
	last := math.Inf(-1)
	for _, g := range sc.segs {
		if g.broken {
			continue
		}
	ticks:
		for n := math.Ceil((g.t0-t0)/d - 1e-9); t0+n*d <= g.t1+1e-9; n++ {
			x := sc.x(t0 + n*d)
			if x-last < 40 {
				continue
			}
			for _, c := range breaks {
				if math.Abs(x-c) < 36 {
					continue ticks
				}
			}
			last = x
			v := n * d
			if v == 0 {
				v = 0 // +0, not the -0 Ceil gives: "+0.00 s"
			}
			line(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#333"/><text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%+.*f s</text>`, x, x, yA, yA+4, x, yA+15, dec, v)
		}
	}
	line(`<text x="%d" y="%.1f" font-size="10" fill="#555">seconds after the first step began (kernel log %.6f s); // marks a quiet stretch drawn shorter, its length under it</text>`, tlLeft, yA+29, t0)
	// The legend: each swatch drawn in a 12x12 box of its own coordinates.
	x := 8.0
	item := func(swatch, what string) {
		line(`<g transform="translate(%.1f,%.1f)">%s</g><text x="%.1f" y="%.1f">%s</text>`, x, yA+41, swatch, x+16, yA+51, what)
		x += 16 + textW(what) + 12
	}
	for _, c := range tlColours {
		item(`<rect y="1" width="12" height="10" fill="`+c.fill+`"/>`, c.what)
	}
	item(`<polygon points="6,0 12,6 6,12 0,6" fill="#d62728"/>`, "kernel report")
	item(`<line x1="6" x2="6" y1="-1" y2="13" stroke="#333" stroke-dasharray="4 3"/>`, "module unloaded")
	if len(spread) > 0 {
		item(`<line x1="6" x2="6" y1="-1" y2="13" stroke="#111" stroke-opacity="0.55" stroke-width="2"/>`, "a report in one repeat")
	}
	for i, s := range tail {
		line(`<text x="8" y="%.1f">%s</text>`, yA+72+float64(15*i), esc(s))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

// niceStep is the smallest of 1, 2, 5 times a power of ten not below raw.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw-1e-12 {
			return m * p
		}
	}
	return 10 * p
}
