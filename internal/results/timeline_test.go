package results

import (
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// svgNode is any element of the timeline, with its attributes, children
// and text, for looking at what was drawn where.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n svgNode) num(t *testing.T, name string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s> attribute %s=%q: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return f
}

// title is the text of the element's <title> child: its hover text.
func (n svgNode) title() string {
	for _, c := range n.Nodes {
		if c.XMLName.Local == "title" {
			return c.Text
		}
	}
	return ""
}

// all returns every element below n (n included) that satisfies keep.
func (n svgNode) all(keep func(svgNode) bool) []svgNode {
	var out []svgNode
	if keep(n) {
		out = append(out, n)
	}
	for _, c := range n.Nodes {
		out = append(out, c.all(keep)...)
	}
	return out
}

// texts is the text of every <text> element, a line each: what a reader
// sees written.
func (n svgNode) texts() string {
	var out []string
	for _, e := range n.all(func(e svgNode) bool { return e.XMLName.Local == "text" }) {
		out = append(out, e.Text)
	}
	return strings.Join(out, "\n")
}

func (n svgNode) class(c string) []svgNode {
	return n.all(func(e svgNode) bool { return e.attr("class") == c })
}

// parseSVG checks that svg is well-formed XML with an <svg> root in the SVG
// namespace (every token decoded, strictly, up to EOF) and returns its tree.
func parseSVG(t *testing.T, svg string) svgNode {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var root *xml.StartElement
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("timeline is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == nil {
				se := se.Copy()
				root = &se
			}
			if strings.EqualFold(se.Name.Local, "script") {
				t.Errorf("timeline has a <%s> element", se.Name.Local)
			}
		}
	}
	if root == nil || root.Name.Local != "svg" || root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element = %+v; want svg in xmlns http://www.w3.org/2000/svg", root)
	}
	var n svgNode
	if err := xml.Unmarshal([]byte(svg), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

var translateX = regexp.MustCompile(`^translate\(([-0-9.]+),`)

func markerX(t *testing.T, g svgNode) float64 {
	t.Helper()
	m := translateX.FindStringSubmatch(g.attr("transform"))
	if m == nil {
		t.Fatalf("report marker transform = %q; want translate(x,y)", g.attr("transform"))
	}
	x, _ := strconv.ParseFloat(m[1], 64)
	return x
}

// chardevUnsafe is the real debian-6.1 run, written before Step.At
// existed, with each step's start set by hand.
func chardevUnsafe(t *testing.T) *Result {
	t.Helper()
	r, err := Read("testdata/cells/chardev-unsafe-pass/result.json")
	if err != nil {
		t.Fatal(err)
	}
	// Read off the "lab-agent: step N ..." lines of the console.log in the
	// same folder (e.g. "[    3.155194] lab-agent: step 5 read A").
	ats := []float64{2.971996, 3.011732, 3.057626, 3.070516, 3.155194, 6.182420}
	if len(r.Steps) != len(ats) {
		t.Fatalf("%d steps; the log has %d step markers", len(r.Steps), len(ats))
	}
	for i := range r.Steps {
		r.Steps[i].At = ats[i]
	}
	return r
}

func TestTimelineChardevUnsafe(t *testing.T) {
	r := chardevUnsafe(t)
	svg := parseSVG(t, string(TimelineSVG(r)))
	bars := svg.class("bar")
	if len(bars) != len(r.Steps) {
		t.Fatalf("%d bars; want one per step with a start (%d)", len(bars), len(r.Steps))
	}
	for i := 1; i < len(bars); i++ {
		if bars[i].num(t, "x") <= bars[i-1].num(t, "x") {
			t.Errorf("bar of step %d starts at x=%v, not right of step %d's (%v)", i+1, bars[i].num(t, "x"), i, bars[i-1].num(t, "x"))
		}
	}
	for i, b := range bars {
		if w := b.num(t, "width"); w < 2 {
			t.Errorf("bar of step %d is %v px wide; want at least 2", i+1, w)
		}
	}
	if got := bars[4].title(); !strings.Contains(got, "no answer") {
		t.Errorf("step 5's bar title = %q; want its outcome", got)
	}
	reports := svg.class("report")
	if len(reports) != len(r.Oopses) {
		t.Fatalf("%d report markers; want %d", len(reports), len(r.Oopses))
	}
	for i, g := range reports {
		if !strings.Contains(g.title(), r.Oopses[i].Title) {
			t.Errorf("report marker %d title = %q; want it to hold %q", i, g.title(), r.Oopses[i].Title)
		}
	}
	if n := len(svg.class("guide")); n != len(r.Oopses) {
		t.Errorf("%d guide lines; want one per report", n)
	}
	unloads := svg.class("unload")
	if len(unloads) != 1 || unloads[0].attr("stroke-dasharray") == "" {
		t.Fatalf("unload lines = %+v; want one, dashed", unloads)
	}
	unloadX, oopsX, readX := unloads[0].num(t, "x1"), markerX(t, reports[0]), bars[4].num(t, "x")
	// The read began before the oops, and the oops came 26 ms after the
	// unload: far enough right to see it (the 3 s wait must not squeeze it).
	if !(oopsX > readX && readX > unloadX) {
		t.Errorf("unload at x=%.1f, step 5's read at %.1f, first oops at %.1f; want them in that order", unloadX, readX, oopsX)
	}
	if oopsX-unloadX < 20 {
		t.Errorf("the oops is %.1f px right of the unload; want at least 20 px for 26 ms", oopsX-unloadX)
	}
	if end := readX + bars[4].num(t, "width"); oopsX > end {
		t.Errorf("the oops (x=%.1f) lies past the end of the read that caused it (%.1f)", oopsX, end)
	}
	if x2 := markerX(t, reports[1]); x2 <= oopsX {
		t.Errorf("second report at x=%.1f, not right of the first (%.1f)", x2, oopsX)
	}
	var states []string
	for _, e := range svg.class("state") {
		states = append(states, e.Text)
	}
	if strings.Join(states, " ") != "X X" {
		t.Errorf("state letters = %q; want X after step 5 (no answer) and step 6 (observe)", states)
	}
	if all := svg.texts(); !strings.Contains(all, "holder-A: X (dead)") || !strings.Contains(all, "chardev_unsafe unloaded") {
		t.Errorf("timeline texts lack the final process state or the unload label:\n%s", all)
	}
}

func TestTimelineEscapes(t *testing.T) {
	bad := `<script>&"`
	r := &Result{
		Steps:     []Step{{Index: 1, Action: "read", Target: bad, At: 1.5, MS: 20, NoAnswer: true, Error: bad, Process: &StepProcess{State: bad}}},
		Oopses:    []evidence.Report{{Title: "BUG " + bad, Time: 1.51}},
		Processes: []Process{{Comm: bad + "\x01", State: "D"}},
		Modules:   []ModuleLayout{{Name: bad, Event: "unload", GoneAt: 1.505}},
	}
	out := string(TimelineSVG(r))
	svg := parseSVG(t, out)
	if strings.Contains(out, "<script") {
		t.Errorf("timeline holds a raw <script:\n%s", out)
	}
	if rs := svg.class("report"); len(rs) != 1 || !strings.Contains(rs[0].title(), "BUG "+bad) {
		t.Errorf("report title does not read back as %q: %+v", "BUG "+bad, rs)
	}
}

func TestTimelineWithoutStarts(t *testing.T) {
	r := chardevUnsafe(t)
	for i := range r.Steps {
		r.Steps[i].At = 0
	}
	if got := TimelineSVG(r); got != "" {
		t.Errorf("timeline of a result without step starts is %d bytes; want none", len(got))
	}
	if got := TimelineSVG(&Result{Steps: []Step{{Index: 1, At: 2}}}); got != "" {
		t.Errorf("timeline spanning no time = %q; want none", got)
	}
	if got := TimelineSVG(nil); got != "" {
		t.Errorf("timeline of nil = %q; want none", got)
	}
}

func TestTimelineRepeats(t *testing.T) {
	repeat := func(at float64, after ...float64) *Result {
		r := &Result{Verdict: Pass, Steps: []Step{
			{Index: 1, Action: "unload", Target: "m", OK: true, At: at - 0.03, MS: 20},
			{Index: 2, Action: "read", Target: "A", NoAnswer: true, At: at, MS: 3000},
		}}
		for _, a := range after {
			r.Steps[1].Oopses = append(r.Steps[1].Oopses, len(r.Oopses))
			r.Oopses = append(r.Oopses, evidence.Report{Title: "BUG: unable to handle page fault in vfs_read", Time: at + a})
		}
		return r
	}
	rs := []*Result{repeat(10, 0.002), repeat(20, 0.010, 0.030), repeat(30, 0.020)}
	rp := Distribute(rs)
	if len(rp.Spread) != 4 {
		t.Fatalf("Distribute placed %d reports; want 4", len(rp.Spread))
	}
	r := rs[0]
	r.Repeats = rp
	svg := parseSVG(t, string(TimelineSVG(r)))
	ticks := svg.class("spread")
	if len(ticks) != len(rp.Spread) {
		t.Fatalf("%d spread ticks; want one per report of every repeat (%d)", len(ticks), len(rp.Spread))
	}
	// Spread is in repeat order: afters 0.002, 0.010, 0.030, 0.020.
	x := func(i int) float64 { return ticks[i].num(t, "x1") }
	if !(x(0) < x(1) && x(1) < x(3) && x(3) < x(2)) {
		t.Errorf("spread ticks at x %.1f %.1f %.1f %.1f; want them ordered by how far into the step each came", x(0), x(1), x(2), x(3))
	}
	read := svg.class("bar")[1]
	for i := range ticks {
		if x(i) < read.num(t, "x") || x(i) > read.num(t, "x")+read.num(t, "width") {
			t.Errorf("spread tick %d at x=%.1f lies outside the read's bar (%.1f + %.1f): not placed from its step's start", i, x(i), read.num(t, "x"), read.num(t, "width"))
		}
	}
	if y := ticks[0].num(t, "y1"); y > read.num(t, "y") || ticks[0].num(t, "y2") < read.num(t, "y")+12 {
		t.Errorf("spread tick spans y %v–%v; want it across the read's bar (y %v)", y, ticks[0].num(t, "y2"), read.num(t, "y"))
	}
	for _, want := range []string{"reports of 3 repeats, each placed relative to its step's start", rp.String()} {
		if !strings.Contains(svg.texts(), want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
}

// TestTimelineLongStep: a 10 s observe next to steps of 0 and 1 ms must
// leave those visible, and one after the other.
func TestTimelineLongStep(t *testing.T) {
	r := &Result{Steps: []Step{
		{Index: 1, Action: "load", Target: "m", OK: true, At: 5.000, MS: 0},
		{Index: 2, Action: "open", Target: "A", Errno: "ENOENT", At: 5.002, MS: 1},
		{Index: 3, Action: "write", Target: "A", Error: "short", At: 5.004, MS: 1},
		{Index: 4, Action: "observe", Target: "A", OK: true, At: 5.010, MS: 10000, Process: &StepProcess{State: "D (disk sleep)"}},
	}}
	svg := parseSVG(t, string(TimelineSVG(r)))
	bars := svg.class("bar")
	if len(bars) != 4 {
		t.Fatalf("%d bars; want 4", len(bars))
	}
	for i, b := range bars {
		if w := b.num(t, "width"); w < 2 {
			t.Errorf("bar of step %d is %v px wide; want at least 2", i+1, w)
		}
		if i > 0 && b.num(t, "x")-(bars[i-1].num(t, "x")+bars[i-1].num(t, "width")) < 10 {
			t.Errorf("bar of step %d starts %.1f px after step %d's end; want the 10 s observe not to squeeze them together", i+1,
				b.num(t, "x")-(bars[i-1].num(t, "x")+bars[i-1].num(t, "width")), i)
		}
	}
	if fills := bars[0].attr("fill") + bars[1].attr("fill") + bars[2].attr("fill"); fills != "#4caf50#f28e2b#c9a27e" {
		t.Errorf("bar colours = %s; want ok green, errno orange, no-errno grey-orange", fills)
	}
}
