package results

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/safefile"
)

// Merge combines run directories (the shards of one matrix from `lab matrix
// --shard`, run on several machines, or any runs of disjoint cells) into a
// new run directory out, and writes its reports. Every cell's files
// (result.json, console.log, qemu.stderr …) are copied byte for byte, so
// each result keeps its own run id and provenance. The merged run.json
// plans the union of the parts' matrices (a shard records the whole matrix
// it belongs to) and is complete only when every planned cell has a
// result. A cell with results in two directories is an error: which of
// the two is the truth is not for a merge to guess.
//
// out must not exist or be empty. The run is built in a temporary
// directory beside it and renamed into place, so out holds a whole merged
// run or nothing.
func Merge(out string, dirs []string, now time.Time) (*Run, []*Result, error) {
	if len(dirs) == 0 {
		return nil, nil, errors.New("merge: no run directories to merge")
	}
	if err := emptyOrAbsent(out); err != nil {
		return nil, nil, err
	}
	merged := &Run{RunID: NewRunID(now)}
	kernels, experiments := map[string]bool{}, map[string]bool{}
	from := map[[2]string]string{} // cell (kernel, experiment) -> its directory
	var all []*Result
	given := map[string]bool{}
	for _, dir := range dirs {
		if abs, err := filepath.Abs(dir); err == nil {
			if given[abs] {
				return nil, nil, fmt.Errorf("merge: %s is given twice", dir)
			}
			given[abs] = true
		}
		run, rs, err := LoadRun(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("merge: %w", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "run.json")); err != nil && len(rs) == 0 {
			return nil, nil, fmt.Errorf("merge: %s is not a run directory: no run.json and no */*/result.json", dir)
		}
		for _, r := range rs {
			if !pathElement(r.Kernel.Name) || !pathElement(r.Experiment) {
				return nil, nil, fmt.Errorf("merge: %s: a result names kernel %q, experiment %q: not a cell directory", dir, r.Kernel.Name, r.Experiment)
			}
			if _, err := os.Stat(filepath.Join(dir, r.Kernel.Name, r.Experiment, "result.json")); err != nil {
				return nil, nil, fmt.Errorf("merge: %s: the result of %s on %s lies in another cell's directory", dir, r.Experiment, r.Kernel.Name)
			}
			cell := [2]string{r.Kernel.Name, r.Experiment}
			if prev, ok := from[cell]; ok {
				return nil, nil, fmt.Errorf("merge: %s on %s has a result in both %s and %s", r.Experiment, r.Kernel.Name, prev, dir)
			}
			from[cell] = dir
			kernels[r.Kernel.Name], experiments[r.Experiment] = true, true
		}
		all = append(all, rs...)
		for _, k := range run.Kernels {
			kernels[k] = true
		}
		for _, e := range run.Experiments {
			experiments[e] = true
		}
		if p := run.Planned; p != nil {
			for _, k := range p.Kernels {
				kernels[k] = true
			}
			for _, e := range p.Experiments {
				experiments[e] = true
			}
		}
		if !run.Started.IsZero() && (merged.Started.IsZero() || run.Started.Before(merged.Started)) {
			merged.Started = run.Started
		}
		if run.Finished.After(merged.Finished) {
			merged.Finished = run.Finished
		}
		merged.Merged = append(merged.Merged, Source{Dir: dir, RunID: run.RunID, Shard: run.Shard, Complete: run.Complete, Cells: len(rs)})
	}
	merged.Kernels, merged.Experiments = sortKernels(keys(kernels)), keys(experiments)
	merged.Complete = true
	for _, k := range merged.Kernels {
		for _, e := range merged.Experiments {
			if _, ok := from[[2]string{k, e}]; !ok {
				merged.Complete = false
			}
		}
	}
	if !merged.Started.IsZero() && !merged.Finished.IsZero() {
		merged.WallMS = merged.Finished.Sub(merged.Started).Milliseconds()
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Experiment != all[j].Experiment {
			return all[i].Experiment < all[j].Experiment
		}
		return all[i].Kernel.Name < all[j].Kernel.Name
	})
	if err := writeMerged(out, merged, all, from); err != nil {
		return nil, nil, err
	}
	return merged, all, nil
}

// writeMerged builds the merged run beside out and renames it into place.
func writeMerged(out string, run *Run, all []*Result, from map[[2]string]string) (err error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".merge-")
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for cell, dir := range from {
		if err := copyCell(filepath.Join(dir, cell[0], cell[1]), tmp, cell[0], cell[1]); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	if err := WriteRun(tmp, run); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := WriteReports(tmp, NewMatrix(run, all)); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	// Go's rename will not replace a directory, even an empty one; Remove
	// takes out only an empty one (emptyOrAbsent let nothing else through).
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("merge: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
}

// copyCell copies the regular files of one cell directory. Anything else
// (a link, a folder) is left behind: a results artifact comes from another
// machine, and a link in it could point anywhere on this one.
func copyCell(src, runDir, kernel, experiment string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	dst, err := CellDir(runDir, kernel, experiment)
	if err != nil {
		return err
	}
	return copyFiles(src, dst, entries)
}

// copyFiles copies the regular files of src into dst, and its repeats'
// directories (repeat-NN, from --repeat) with theirs.
func copyFiles(src, dst string, entries []os.DirEntry) error {
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "repeat-") {
			sub, err := os.ReadDir(filepath.Join(src, e.Name()))
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dst, e.Name()), 0o700); err != nil {
				return err
			}
			if err := copyFiles(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), sub); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		if err := safefile.Copy(filepath.Join(dst, e.Name()), filepath.Join(src, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// emptyOrAbsent refuses a merge into a directory that holds anything: the
// merged run must not mix with what is there.
func emptyOrAbsent(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return fmt.Errorf("merge: %s is not empty; merge into a new directory", dir)
		}
		return fmt.Errorf("merge: %s: %w", dir, err)
	}
	return nil
}

// pathElement reports whether name can be one directory name in a run.
func pathElement(name string) bool {
	return name != "" && name != "." && name != ".." && filepath.Base(name) == name
}
