// Package attribute ties the kernel's reports to what the run did: the step
// that was running when each was printed, the process a hung-task report
// names, the unloads that freed a module's memory, and the symbols of raw
// addresses (the kernel's and each module's, freed or not, named by
// internal/symbolize). It reads the console log through the protocol's
// markers and the evidence package's reports, and writes into the result.
// (It lives outside internal/evidence, which only parses console text.)
package attribute

import (
	"sort"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/symbolize"
)

// PanicLine returns the kernel's panic line from console text (one line
// or a whole log), "" when the kernel did not panic: evidence's rule, so
// boot, the end of the run and the parser cannot disagree on what a panic
// is.
func PanicLine(console string) string { return evidence.PanicLine(console) }

// Steps links each kernel report to the step that was running when the
// kernel printed it (the agent writes a marker line before every step),
// hung-task reports to the processes they name, and each step to the
// kernel log's time of its marker (Step.At; the first marker of a step
// counts: an await's reply marks nothing new).
func Steps(console string, r *results.Result) {
	type mark struct{ line, step int }
	var marks []mark
	for i, line := range strings.Split(console, "\n") {
		if n, ok := protocol.ParseStep(line); ok {
			marks = append(marks, mark{i + 1, n})
			if _, at, ok := evidence.LineTime(line); ok && n >= 1 && n <= len(r.Steps) && r.Steps[n-1].At == 0 {
				r.Steps[n-1].At = at
			}
		}
	}
	for oi, o := range r.Oopses {
		// The first marker after the report; the one before it is its step.
		next := sort.Search(len(marks), func(k int) bool { return marks[k].line > o.Line })
		if next == 0 {
			continue
		}
		n := marks[next-1].step
		if n >= 1 && n <= len(r.Steps) {
			r.Steps[n-1].Oopses = append(r.Steps[n-1].Oopses, oi)
		}
		if o.Kind == evidence.KindHungTask {
			for pi := range r.Processes {
				if r.Processes[pi].PID == o.PID {
					r.Processes[pi].HungTaskReport = strings.Join(o.Text, "\n")
				}
			}
		}
	}
}

// MarkUnloads sets GoneAt of the unload layouts that succeeded from the
// agent's "unloaded" lines in the console. Between two loads of a module
// only its last unload can have succeeded (the ones before it failed, or
// the module would have been gone), and each such success printed one line,
// in order.
func MarkUnloads(console string, layouts []results.ModuleLayout) {
	gone := map[string][]float64{}
	for _, line := range strings.Split(console, "\n") {
		if t, mod, ok := protocol.ParseUnloaded(line); ok {
			gone[mod] = append(gone[mod], t)
		}
	}
	lastUnload := map[string]int{} // module -> index of its last unload layout since its last load
	endCycle := func(name string) {
		i, ok := lastUnload[name]
		if !ok || len(gone[name]) == 0 {
			return
		}
		layouts[i].GoneAt, gone[name] = gone[name][0], gone[name][1:]
		delete(lastUnload, name)
	}
	for i, l := range layouts {
		switch l.Event {
		case "load":
			endCycle(l.Name)
		case "unload":
			lastUnload[l.Name] = i
		}
	}
	// Each module's lines are its own, so the order does not matter here.
	for name := range lastUnload {
		endCycle(name)
	}
}

// Symbolize names the raw addresses of every report of r from src (the
// symbolize package's one entry point); a failure is a note of the
// result, not an error of the run.
func Symbolize(r *results.Result, src symbolize.Sources) {
	if len(r.Oopses) == 0 {
		return
	}
	t, err := symbolize.New(src)
	if err != nil {
		r.Notes = append(r.Notes, "symbolizing: "+err.Error())
		return
	}
	for i := range r.Oopses {
		t.Annotate(&r.Oopses[i])
	}
}
