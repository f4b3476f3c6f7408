package results

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// axisTicks is the axis's tick labels in order, and their x.
func axisTicks(t *testing.T, svg svgNode) ([]string, []float64) {
	t.Helper()
	var labels []string
	var xs []float64
	for _, e := range svg.all(func(e svgNode) bool {
		return e.XMLName.Local == "text" && strings.HasSuffix(e.Text, " s") && strings.HasPrefix(e.Text, "+")
	}) {
		labels = append(labels, e.Text)
		xs = append(xs, e.num(t, "x"))
	}
	return labels, xs
}

// TestTimelineAxis: a 0.7 s step fills the plot, 200 to 860 px, and its
// axis is ticked every 0.1 s, labelled with one decimal, the last tick at
// the plot's right end.
func TestTimelineAxis(t *testing.T) {
	r := &Result{Steps: []Step{{Index: 1, Action: "observe", Target: "A", OK: true, At: 1.1, MS: 700}}}
	svg := parseSVG(t, string(TimelineSVG(r)))
	bar := svg.class("bar")[0]
	if x, w := bar.num(t, "x"), bar.num(t, "width"); x != tlLeft || x+w != tlRight {
		t.Errorf("the only step's bar spans %v–%v; want %d–%d", x, x+w, tlLeft, tlRight)
	}
	labels, xs := axisTicks(t, svg)
	if want := []string{"+0.0 s", "+0.1 s", "+0.2 s", "+0.3 s", "+0.4 s", "+0.5 s", "+0.6 s", "+0.7 s"}; !slices.Equal(labels, want) {
		t.Fatalf("axis labels %q; want %q", labels, want)
	}
	for i, x := range xs {
		if want := tlLeft + float64(i)*660/7; math.Abs(x-want) > 0.06 {
			t.Errorf("tick %s at x=%v; want %.1f", labels[i], x, want)
		}
	}
	if !strings.Contains(svg.texts(), "seconds after the first step began (kernel log 1.100000 s)") {
		t.Errorf("the axis caption lacks the start's uptime:\n%s", svg.texts())
	}
}

// TestTimelineTickStepAtARoundingEdge: reports spread over 66/70 s want a
// tick every 70 px, 0.1 s, which floating point makes a hair more: still
// 0.1 s, not the next step up.
func TestTimelineTickStepAtARoundingEdge(t *testing.T) {
	r := &Result{Steps: []Step{{Index: 1, Action: "read", Target: "A", NoAnswer: true, At: 1}}}
	span := 66.0 / 70
	for j := 1; j <= 10; j++ {
		r.Oopses = append(r.Oopses, evidence.Report{Title: "BUG " + strconv.Itoa(j), Time: 1 + float64(j)*span/10})
	}
	labels, _ := axisTicks(t, parseSVG(t, string(TimelineSVG(r))))
	if want := []string{"+0.0 s", "+0.1 s", "+0.2 s", "+0.3 s", "+0.4 s", "+0.5 s", "+0.6 s", "+0.7 s", "+0.8 s", "+0.9 s"}; !slices.Equal(labels, want) {
		t.Errorf("axis labels %q; want %q", labels, want)
	}
	for _, c := range []struct{ raw, want float64 }{{0.07, 0.1}, {0.1, 0.1}, {0.11, 0.2}, {0.2, 0.2}, {0.3, 0.5}, {0.5, 0.5}, {0.6, 1}, {1, 1}, {12, 20}, {0.0012, 0.002}} {
		if got := niceStep(c.raw); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("niceStep(%v) = %v; want %v", c.raw, got, c.want)
		}
	}
}

// TestTimelineQuietStretch: the real chardev-unsafe run waits 3 s for a
// read that never answers; that stretch is drawn short, under a pale band
// inside it reaching down to the axis, marked // on the axis with its
// length under it.
func TestTimelineQuietStretch(t *testing.T) {
	svg := parseSVG(t, string(TimelineSVG(chardevUnsafe(t))))
	var axisY float64
	for _, l := range svg.all(func(e svgNode) bool {
		return e.XMLName.Local == "line" && e.attr("x1") == "200" && e.attr("x2") == "860"
	}) {
		axisY = l.num(t, "y1")
	}
	if axisY == 0 {
		t.Fatal("no axis line from 200 to 860")
	}
	bands := svg.all(func(e svgNode) bool { return e.XMLName.Local == "rect" && e.attr("fill-opacity") == "0.7" })
	marks := svg.all(func(e svgNode) bool { return e.XMLName.Local == "path" })
	var lengths []svgNode
	for _, e := range svg.all(func(e svgNode) bool {
		return e.XMLName.Local == "text" && e.attr("fill") == "#555" && e.attr("text-anchor") == "middle"
	}) {
		lengths = append(lengths, e)
	}
	if len(bands) == 0 || len(bands) != len(marks) || len(bands) != len(lengths) {
		t.Fatalf("%d bands, %d break marks, %d lengths; want one of each per quiet stretch", len(bands), len(marks), len(lengths))
	}
	for i, b := range bands {
		c := lengths[i].num(t, "x")
		x, w, y, h := b.num(t, "x"), b.num(t, "width"), b.num(t, "y"), b.num(t, "height")
		if math.Abs(x+w/2-c) > 0.11 || w <= 0 || w >= tlBreak {
			t.Errorf("band %d spans x %v–%v; want it inside the %d px break centred at %v", i, x, x+w, tlBreak, c)
		}
		if y <= tlTop || y >= tlTop+11 || math.Abs(y+h-axisY) > 0.11 {
			t.Errorf("band %d spans y %v–%v; want from the kernel row down to the axis at %v", i, y, y+h, axisY)
		}
		if ly := lengths[i].num(t, "y"); ly <= axisY {
			t.Errorf("the stretch's length %q is written at y=%v, not under the axis (%v)", lengths[i].Text, ly, axisY)
		}
		if want := "M" + strconv.FormatFloat(c-7, 'f', 1, 64) + " "; !strings.HasPrefix(marks[i].attr("d"), want) {
			t.Errorf("break mark %q; want it at the band's centre, starting %q", marks[i].attr("d"), want)
		}
	}
	if got := lengths[0].Text; got != "3 s" {
		t.Errorf("the wait for the read is labelled %q; want 3 s", got)
	}
}

// TestTimelineLabels: a step's label is cut to 30 characters; a module
// whose name would run off the left edge is labelled right of its line.
func TestTimelineLabels(t *testing.T) {
	long := "a_module_name_far_too_long_for_the_left_margin_of_the_chart"
	r := &Result{
		Steps: []Step{{Index: 1, Action: "exec", Target: "insmod /lab/modules/timer_safe.ko", OK: true, At: 2, MS: 100}, {Index: 2, Action: "unload", Target: "m", OK: true, At: 2.1, MS: 10},
			{Index: 3, Action: "exec", Target: "/bin/sh -c exit 0 12345", OK: true, At: 2.11, MS: 1}}, // exactly 30 characters: kept whole
		Modules: []ModuleLayout{{Name: long, Event: "unload", GoneAt: 2.0}},
		Oopses:  []evidence.Report{{Title: "BUG: x", Time: 2.05}},
	}
	svg := parseSVG(t, string(TimelineSVG(r)))
	texts := svg.texts()
	if !strings.Contains(texts, "\n1 exec insmod /lab/modules/ti…\n") || !strings.Contains(texts, "\n2 unload m\n") || !strings.Contains(texts, "\n3 exec /bin/sh -c exit 0 12345\n") {
		t.Errorf("step labels:\n%s", texts)
	}
	var label svgNode
	for _, e := range svg.all(func(e svgNode) bool { return e.XMLName.Local == "text" && e.Text == long+" unloaded" }) {
		label = e
	}
	unload := svg.class("unload")
	if len(unload) != 1 || label.attr("text-anchor") != "start" || label.num(t, "x") != unload[0].num(t, "x1")+3 {
		t.Errorf("unload label at x=%s anchored %q; want it starting 3 px right of the line at %v", label.attr("x"), label.attr("text-anchor"), unload[0].attr("x1"))
	}
	if strings.Contains(texts, "first report") {
		t.Error("a label on the right also says when the first report came; they would overlap")
	}
	// With a short name, the label ends left of the line and the first
	// report's delay is written right of it.
	r.Modules[0].Name = "m"
	texts = parseSVG(t, string(TimelineSVG(r))).texts()
	if !strings.Contains(texts, "\nm unloaded\nfirst report 0.050 s later\n") {
		t.Errorf("unload texts:\n%s", texts)
	}
}

// TestTimelineLeavesOutWhatHasNoTime: a report or an unload without a
// time on the kernel's clock is not placed, nor does it stretch the
// chart; the steps alone still fill the plot.
func TestTimelineLeavesOutWhatHasNoTime(t *testing.T) {
	r := &Result{
		Steps: []Step{
			{Index: 1, Action: "load", Target: "m", OK: true, At: 5.0, MS: 40},
			{Index: 2, Action: "unload", Target: "m", OK: true, At: 5.1, MS: 20},
		},
		Oopses:  []evidence.Report{{Title: "WARNING: no time"}},
		Modules: []ModuleLayout{{Name: "m", Event: "unload"}},
	}
	svg := parseSVG(t, string(TimelineSVG(r)))
	bars := svg.class("bar")
	if len(bars) != 2 || bars[0].num(t, "x") != tlLeft || bars[1].num(t, "x")+bars[1].num(t, "width") != tlRight {
		t.Fatalf("bars %+v; want the two steps from %d to %d px", bars, tlLeft, tlRight)
	}
	if len(svg.class("report")) != 0 || len(svg.class("unload")) != 0 || len(svg.class("guide")) != 0 {
		t.Error("a report or unload without a time is drawn")
	}
	// A step without a start has its row and label, but no bar, and the
	// axis starts at the first step that has one.
	r.Steps = append([]Step{{Index: 0, Action: "open", Target: "A", OK: true, MS: 3}}, r.Steps...)
	svg = parseSVG(t, string(TimelineSVG(r)))
	if bars := svg.class("bar"); len(bars) != 2 || bars[0].num(t, "x") != tlLeft {
		t.Errorf("with a step of unknown start: %d bars, the first at %v", len(bars), bars[0].attr("x"))
	}
	if texts := svg.texts(); !strings.Contains(texts, "\n0 open A\n") || !strings.Contains(texts, "(kernel log 5.000000 s)") {
		t.Errorf("texts:\n%s", texts)
	}
}

// TestTimelineQuietRule: a stretch is drawn shorter only when it is more
// than 20 typical gaps long and more than a fifth of the chart; steps
// that take no time do not make the typical gap 0.
func TestTimelineQuietRule(t *testing.T) {
	// Reports at 1 + k/1024 s: exact in binary, so that the edges are
	// met exactly.
	chart := func(ks ...int) *Result {
		r := &Result{Steps: []Step{{Index: 1, Action: "read", Target: "A", NoAnswer: true, At: 1}}}
		for _, k := range ks {
			r.Oopses = append(r.Oopses, evidence.Report{Title: "r", Time: 1 + float64(k)/1024})
		}
		return r
	}
	seq := func(n int, then ...int) []int {
		var out []int
		for k := 1; k <= n; k++ {
			out = append(out, k)
		}
		return append(out, then...)
	}
	for _, tc := range []struct {
		name   string
		r      *Result
		broken bool
	}{
		// 10 gaps of 1/1024 s, then one of 20/1024: 20 typical gaps
		// exactly, and more than a fifth of the 30/1024 s chart.
		{"20 typical gaps", chart(seq(10, 30)...), false},
		{"21 typical gaps", chart(seq(10, 31)...), true},
		// 128 gaps of 1/1024 s, then one of 32/1024: a fifth of the
		// 160/1024 s chart exactly, and more than 20 typical gaps.
		{"a fifth of the chart", chart(seq(128, 160)...), false},
		{"more than a fifth", chart(seq(128, 161)...), true},
	} {
		svg := parseSVG(t, string(TimelineSVG(tc.r)))
		bands := svg.all(func(e svgNode) bool { return e.XMLName.Local == "rect" && e.attr("fill-opacity") == "0.7" })
		if got := len(bands) == 1; got != tc.broken || len(bands) > 1 {
			t.Errorf("%s: %d quiet stretches drawn; want broken %v", tc.name, len(bands), tc.broken)
		}
	}
	// Steps of no time a tenth of a second apart, then 0.3 s: all alike
	// enough to draw to scale (1320 px a second).
	r := &Result{}
	for i, at := range []float64{1, 1.1, 1.2, 1.5} {
		r.Steps = append(r.Steps, Step{Index: i + 1, Action: "exec", Target: "true", OK: true, At: at})
	}
	svg := parseSVG(t, string(TimelineSVG(r)))
	if n := len(svg.all(func(e svgNode) bool { return e.XMLName.Local == "path" })); n != 0 {
		t.Errorf("steps of no time: %d quiet stretches; want none", n)
	}
	for i, b := range svg.class("bar") {
		if want := tlLeft + (r.Steps[i].At-1)*1320; math.Abs(b.num(t, "x")-want) > 0.06 {
			t.Errorf("step %d at x=%v; want %.1f", i+1, b.num(t, "x"), want)
		}
	}
}

// TestTimelineLongRun: a 30 s chart of two steps is ticked every 5 s
// along both; a report at the very instant of an unload is its first
// report, 0 s later.
func TestTimelineLongRun(t *testing.T) {
	r := &Result{
		Steps: []Step{
			{Index: 1, Action: "observe", Target: "A", OK: true, At: 1, MS: 10000},
			{Index: 2, Action: "await", Target: "u", OK: true, At: 11, MS: 20000},
		},
		Modules: []ModuleLayout{{Name: "m", Event: "unload", GoneAt: 11}},
		Oopses:  []evidence.Report{{Title: "INFO: task rmmod blocked", Time: 11}, {Title: "later", Time: 21}},
	}
	svg := parseSVG(t, string(TimelineSVG(r)))
	labels, xs := axisTicks(t, svg)
	if want := []string{"+0.0 s", "+5.0 s", "+10.0 s", "+15.0 s", "+20.0 s", "+25.0 s", "+30.0 s"}; !slices.Equal(labels, want) {
		t.Errorf("axis labels %q; want %q", labels, want)
	}
	for i, x := range xs {
		if want := tlLeft + float64(i)*110; math.Abs(x-want) > 0.06 {
			t.Errorf("tick %s at x=%v; want %v", labels[i], x, want)
		}
	}
	if texts := svg.texts(); !strings.Contains(texts, "\nm unloaded\nfirst report 0.000 s later\n") {
		t.Errorf("unload texts:\n%s", texts)
	}
}
