// Package attribute ties the kernel's reports to what the run did: the step
// that was running when each was printed, the process a hung-task report
// names, the unloads that freed a module's memory, and the symbols of raw
// addresses (the kernel's and each module's, freed or not). It reads the
// console log through the protocol's markers and the evidence package's
// reports, and writes into the result. (It lives outside internal/evidence,
// which only parses console text.)
package attribute

import (
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
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
		j := sort.Search(len(marks), func(k int) bool { return marks[k].line > o.Line }) - 1
		if j < 0 {
			continue
		}
		n := marks[j].step
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

// Sources are what names addresses: the image's System.map (used when it
// is a real one: Debian ships a placeholder and keeps the real one in the
// -dbg package), the built .ko of each module by name, the recorded
// layouts, and symbols the running kernel named (kallsyms).
type Sources struct {
	SystemMap  string
	Objects    map[string]string
	Layouts    []results.ModuleLayout
	KernelSyms []evidence.KernelSymbol
}

// Symbolizer builds a symbolizer from src, the latest layout per module: a
// module unloaded before a report makes its addresses a use after unload.
// close releases the files it reads.
func Symbolizer(src Sources) (sym *evidence.Symbolizer, close func(), err error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	latest := map[string]results.ModuleLayout{}
	var order []string
	for _, l := range src.Layouts {
		if _, seen := latest[l.Name]; !seen {
			order = append(order, l.Name)
		}
		latest[l.Name] = l
	}
	var mods []evidence.Module
	for _, name := range order {
		l := latest[name]
		f, err := os.Open(src.Objects[name])
		if err != nil {
			continue
		}
		files = append(files, f)
		m := evidence.Module{Name: name, Sections: l.Sections, Object: f}
		if l.Event == "unload" {
			m.UnloadedAt, m.Unloading = l.GoneAt, true
		}
		mods = append(mods, m)
	}
	var kernel io.Reader
	if f, err := os.Open(src.SystemMap); err == nil {
		files = append(files, f)
		if st, err := f.Stat(); err == nil && st.Size() > 4096 {
			kernel = f
		}
	}
	sym, err = evidence.NewSymbolizer(kernel, mods)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	sym.AddSymbols(src.KernelSyms)
	return sym, closeAll, nil
}

// Symbolize names the raw addresses of every report of r; a failure is a
// note of the result, not an error of the run.
func Symbolize(r *results.Result, src Sources) {
	if len(r.Oopses) == 0 {
		return
	}
	sym, closeAll, err := Symbolizer(src)
	if err != nil {
		r.Notes = append(r.Notes, "symbolizing: "+err.Error())
		return
	}
	defer closeAll()
	for i := range r.Oopses {
		sym.Annotate(&r.Oopses[i])
	}
}

// NameAddress is " = module:symbol+off" (or " = symbol+off") for a hex
// address src can name, else "".
func NameAddress(src Sources, hexAddr string) string {
	a, err := strconv.ParseUint(hexAddr, 16, 64)
	if err != nil {
		return ""
	}
	sym, closeAll, err := Symbolizer(src)
	if err != nil {
		return ""
	}
	defer closeAll()
	name, m, ok := sym.Lookup(a)
	if !ok {
		return ""
	}
	if m != nil {
		name = m.Name + ":" + name
	}
	return " = " + name
}
