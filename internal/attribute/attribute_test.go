package attribute

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/symbolize"
)

// TestAttribute ties the reports of a real console log to the step whose
// marker ("lab-agent: step N") precedes them, and hung-task reports to the
// process they name.
func TestAttribute(t *testing.T) {
	b, err := os.ReadFile("../evidence/testdata/real/debian-6.1-chardev-unsafe.console.log")
	if err != nil {
		t.Fatal(err)
	}
	r := &results.Result{Steps: make([]results.Step, 6), Oopses: evidence.ParseBytes(b)}
	Steps(string(b), r)
	if got := r.Steps[4].Oopses; len(got) != 2 {
		t.Errorf("step 5 (read after unload) has reports %v; want both oopses", got)
	}
	for i, st := range r.Steps {
		if i != 4 && len(st.Oopses) > 0 {
			t.Errorf("step %d has reports %v; want none", i+1, st.Oopses)
		}
	}
	// The markers' kernel-log times, read off the log by hand.
	for i, want := range []float64{3.132186, 3.169345, 3.205767, 3.215385, 3.279390, 13.322601} {
		if r.Steps[i].At != want {
			t.Errorf("step %d at %v; want %v (its marker's time)", i+1, r.Steps[i].At, want)
		}
	}

	hung := `[    1.0] lab-agent: step 1 unload proc_slow
[   12.5] INFO: task rmmod:97 blocked for more than 5 seconds.
[   12.5]       Tainted: G           OE      6.1.0-56-amd64 #1 Debian 6.1.192-2
[   12.5] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
[   12.5] task:rmmod           state:D stack:0     pid:97    ppid:85     flags:0x00004000
[   12.5] Call Trace:
[   12.5]  <TASK>
[   12.5]  __schedule+0x34d/0x9e0
[   12.5]  schedule+0x5a/0xd0
[   12.5]  </TASK>
`
	r = &results.Result{Steps: make([]results.Step, 1), Oopses: evidence.ParseBytes([]byte(hung)),
		Processes: []results.Process{{PID: 97, Comm: "rmmod"}, {PID: 98, Comm: "holder-A"}}}
	Steps(hung, r)
	if got := r.Steps[0].Oopses; len(got) != 1 || got[0] != 0 {
		t.Errorf("step 1, the first and the last, has reports %v; want the hung task's", got)
	}
	if r.Processes[0].HungTaskReport == "" || r.Processes[1].HungTaskReport != "" {
		t.Errorf("hung-task reports attached = %q, %q; want rmmod's only", r.Processes[0].HungTaskReport, r.Processes[1].HungTaskReport)
	}
}

// TestReportJustBeforeAMarker: a report the next step's marker follows
// at once is the step's before it.
func TestReportJustBeforeAMarker(t *testing.T) {
	console := "[    1.000000] lab-agent: step 1 open A\n" +
		"[    1.100000] BUG: scheduling while atomic: holder-A/97/0x00000002\n" +
		"[    1.200000] lab-agent: step 2 read A\n"
	r := &results.Result{Steps: make([]results.Step, 2), Oopses: evidence.ParseBytes([]byte(console))}
	if len(r.Oopses) != 1 || r.Oopses[0].Line != 2 {
		t.Fatalf("parsed %+v; want one report on line 2", r.Oopses)
	}
	Steps(console, r)
	if len(r.Steps[0].Oopses) != 1 || len(r.Steps[1].Oopses) != 0 {
		t.Errorf("steps' reports %v, %v; want the report in step 1", r.Steps[0].Oopses, r.Steps[1].Oopses)
	}
}

func TestFindPanic(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[ 3.1] Kernel panic - not syncing: Fatal exception\n[ 3.2] Kernel Offset: disabled\n", "Kernel panic - not syncing: Fatal exception"},
		{"[ 3.1] all fine\n", ""},
	} {
		if got := PanicLine(tc.in); got != tc.want {
			t.Errorf("PanicLine(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestMarkUnloads gives each unload that succeeded the kernel-log time of
// the agent's "unloaded" line; failed unloads (EBUSY) stay at 0.
func TestMarkUnloads(t *testing.T) {
	console := "[    2.900000] lab-agent: step 4 unload m\r\n" +
		"[    3.100000] lab-agent: step 6 unload m\r\n" +
		"[    3.101234] lab-agent: unloaded m\r\n" +
		"[    3.500000] lab-agent: unloaded other\r\n" +
		"[    4.000000] lab-agent: unloaded m\r\n" +
		"[    4.100000] user text: lab-agent: unloaded m\r\n" // not the agent's line
	for _, tc := range []struct {
		name    string
		layouts []results.ModuleLayout
		want    []float64
	}{
		{"unload fails, then succeeds", []results.ModuleLayout{
			{Name: "m", Event: "load"}, {Name: "m", Event: "unload"}, {Name: "m", Event: "unload"},
		}, []float64{0, 0, 3.101234}},
		{"unloaded, loaded again, unloaded", []results.ModuleLayout{
			{Name: "m", Event: "load"}, {Name: "m", Event: "unload"}, {Name: "other", Event: "unload"},
			{Name: "m", Event: "load"}, {Name: "m", Event: "unload"},
		}, []float64{0, 3.101234, 3.5, 0, 4}},
		{"a module loaded at boot, unloaded once", []results.ModuleLayout{
			{Name: "other", Event: "unload"},
		}, []float64{3.5}},
		{"never unloaded", []results.ModuleLayout{
			{Name: "x", Event: "load"}, {Name: "x", Event: "unload"},
		}, []float64{0, 0}},
	} {
		MarkUnloads(console, tc.layouts)
		for i, l := range tc.layouts {
			if l.GoneAt != tc.want[i] {
				t.Errorf("%s: layout %d (%s %s) gone at %v; want %v", tc.name, i, l.Event, l.Name, l.GoneAt, tc.want[i])
			}
		}
	}
}

// TestSymbolize names the real debian-6.1 chardev-unsafe oops (console,
// the layout recorded before the unload and the module's .ko, from one
// run: internal/symbolize/testdata) through the sources a run gathers:
// CR2 is fops+0x10 in the freed module; a report printed before the
// module's unload time names it without calling it freed; a .ko that is
// not an object is the result's note.
func TestSymbolize(t *testing.T) {
	dir := filepath.Join("..", "symbolize", "testdata")
	console, err := os.ReadFile(filepath.Join(dir, "debian-6.1-chardev-unsafe.console.log"))
	if err != nil {
		t.Fatal(err)
	}
	var l results.ModuleLayout
	b, _ := os.ReadFile(filepath.Join(dir, "chardev_unsafe.layout.json"))
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	reports := evidence.ParseBytes(console)
	src := func(goneAt float64) symbolize.Sources {
		load, unload := l, l
		load.Event, unload.Event, unload.GoneAt = "load", "unload", goneAt
		return symbolize.Sources{SystemMap: filepath.Join(dir, "missing-System.map"),
			Objects: map[string]string{"chardev_unsafe": filepath.Join(dir, "chardev_unsafe.ko")},
			Layouts: []results.ModuleLayout{load, unload}}
	}
	r := &results.Result{Oopses: append([]evidence.Report(nil), reports...)}
	Symbolize(r, src(reports[0].Time-0.05))
	cr2 := ""
	for _, x := range r.Oopses[0].Resolved {
		if x.What == "CR2" {
			cr2 = x.String()
		}
	}
	if cr2 != "CR2 "+r.Oopses[0].CR2+" = chardev_unsafe:fops+0x10 (module unloaded 0.05 s before)" {
		t.Errorf("CR2 resolved as %q", cr2)
	}
	r = &results.Result{Oopses: append([]evidence.Report(nil), reports...)}
	Symbolize(r, src(reports[0].Time+1))
	for _, x := range r.Oopses[0].Resolved {
		if x.Unloaded {
			t.Errorf("a report before the unload calls %s freed", x)
		}
	}
	// No reports: nothing to do, no note.
	empty := &results.Result{}
	Symbolize(empty, src(0))
	if len(empty.Notes) != 0 {
		t.Errorf("notes %q", empty.Notes)
	}
	// The layout file where the .ko should be: no address is named, and
	// the note says why.
	bad := src(0)
	bad.Objects = map[string]string{"chardev_unsafe": filepath.Join(dir, "chardev_unsafe.layout.json")}
	r = &results.Result{Oopses: append([]evidence.Report(nil), reports...)}
	Symbolize(r, bad)
	if len(r.Notes) != 1 || !strings.HasPrefix(r.Notes[0], "symbolizing: module chardev_unsafe: ") || r.Oopses[0].Resolved != nil {
		t.Errorf("a .ko that is no object: notes %q, resolved %v", r.Notes, r.Oopses[0].Resolved)
	}
}
