// Package compare says what changed between two runs of lab: cell by cell,
// same, changed (and how, in words), new or gone, through the behaviour
// signatures of package results; for cells run with --repeat, whether the
// rate of each signature moved beyond its noise. It is what `lab diff` and
// `--baseline` print.
package compare

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kernel-lab/lab/internal/results"
)

// Side is one side of a comparison: a run directory (a merged run too) or
// one result.json.
type Side struct {
	Path  string
	Cells map[results.CellKey]*results.Result
	// Single is set when the side is one result.json file.
	Single bool
}

// Load reads a run directory or a result.json. A path that does not
// exist, a directory that holds no lab run and a record of a newer schema
// are errors that name the path and why.
func Load(path string) (*Side, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such run directory or result.json", path)
		}
		return nil, err
	}
	if !st.IsDir() {
		r, err := results.Read(path)
		if err != nil {
			return nil, err
		}
		if r.Experiment == "" || r.Verdict == "" {
			return nil, fmt.Errorf("%s: not a lab result.json (no experiment or verdict)", path)
		}
		return &Side{Path: path, Single: true, Cells: map[results.CellKey]*results.Result{key(r): r}}, nil
	}
	_, rs, err := results.LoadRun(path)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		if _, err := os.Stat(filepath.Join(path, "result.json")); err == nil {
			return nil, fmt.Errorf("%s is a cell's directory, not a run's: give its result.json, or the run directory two levels up", path)
		}
		return nil, fmt.Errorf("%s is not a lab run: it has no <kernel>/<experiment>/result.json", path)
	}
	return FromResults(path, rs), nil
}

// FromResults is a side made of results in memory (the run that just
// finished).
func FromResults(path string, rs []*results.Result) *Side {
	s := &Side{Path: path, Cells: map[results.CellKey]*results.Result{}}
	for _, r := range rs {
		s.Cells[key(r)] = r
	}
	return s
}

func key(r *results.Result) results.CellKey {
	return results.CellKey{Kernel: r.Kernel.Name, Experiment: r.Experiment}
}
