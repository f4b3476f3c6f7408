package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kernel-lab/lab/internal/safefile"
)

// Run is run.json at the top of a run directory: what the run set out to
// do and whether it finished. A run that was interrupted, or whose lab
// process died, keeps Complete false; its finished cells stay valid.
type Run struct {
	Schema      int       `json:"schema"`
	RunID       string    `json:"run_id"`
	Kernels     []string  `json:"kernels"`
	Experiments []string  `json:"experiments"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
	Complete    bool      `json:"complete"`
	// WallMS is how long the run took from start to finish.
	WallMS int64  `json:"wall_ms,omitempty"`
	Jobs   int    `json:"jobs,omitempty"`
	Note   string `json:"note,omitempty"`
	// Shard is set when the run is one shard of a matrix ("2/4"): Kernels
	// and Experiments are then its part, and Planned the whole matrix, so
	// that a merge of shards knows which cells a missing shard held.
	Shard   string `json:"shard,omitempty"`
	Planned *Plan  `json:"planned,omitempty"`
	// Merged is set on a run made by merging run directories: where each
	// part came from.
	Merged []Source `json:"merged,omitempty"`
}

// Plan is a matrix: every experiment on every kernel.
type Plan struct {
	Kernels     []string `json:"kernels"`
	Experiments []string `json:"experiments"`
}

// Source is one run directory that went into a merged run.
type Source struct {
	Dir      string `json:"dir"`
	RunID    string `json:"run_id"`
	Shard    string `json:"shard,omitempty"`
	Complete bool   `json:"complete"`
	Cells    int    `json:"cells"`
}

// WriteRun stores run.json atomically.
func WriteRun(dir string, r *Run) error {
	r.Schema = Schema
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteAtomic(filepath.Join(dir, "run.json"), append(b, '\n'))
}

// LoadRun reads a run directory: run.json when there is one (a single
// `lab run` writes one too) and every <kernel>/<experiment>/result.json.
// Cells that never wrote a result are simply absent.
func LoadRun(dir string) (*Run, []*Result, error) {
	var run Run
	if b, err := os.ReadFile(filepath.Join(dir, "run.json")); err == nil {
		if err := json.Unmarshal(b, &run); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "run.json"), err)
		}
		if run.Schema > Schema {
			return nil, nil, &NewerSchemaError{Path: filepath.Join(dir, "run.json"), Schema: run.Schema}
		}
	} else if !os.IsNotExist(err) {
		return nil, nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "result.json"))
	if err != nil {
		return nil, nil, err
	}
	var rs []*Result
	for _, f := range files {
		r, err := Read(f)
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Experiment != rs[j].Experiment {
			return rs[i].Experiment < rs[j].Experiment
		}
		return rs[i].Kernel.Name < rs[j].Kernel.Name
	})
	if run.RunID == "" {
		run.RunID = filepath.Base(dir)
	}
	if len(run.Kernels) == 0 || len(run.Experiments) == 0 {
		ks, es := map[string]bool{}, map[string]bool{}
		for _, r := range rs {
			ks[r.Kernel.Name], es[r.Experiment] = true, true
		}
		run.Kernels, run.Experiments = keys(ks), keys(es)
	}
	return &run, rs, nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
