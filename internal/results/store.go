package results

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kernel-lab/lab/internal/safefile"
)

// NewRunID returns a sortable, unique run id: UTC time plus random bits, so
// two lab processes started in the same second do not collide.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// RunDir creates results/<run-id> (0700: console logs can hold addresses
// worth keeping private) and points results/latest at it.
func RunDir(resultsDir, runID string) (string, error) {
	dir := filepath.Join(resultsDir, runID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Replace the link atomically: a new link beside it, renamed over.
	tmp := filepath.Join(resultsDir, ".latest-"+runID)
	os.Remove(tmp)
	if err := os.Symlink(runID, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(resultsDir, "latest")); err != nil {
		return "", err
	}
	return dir, nil
}

// CellDir is <run>/<kernel>/<experiment>, created.
func CellDir(runDir, kernel, experiment string) (string, error) {
	dir := filepath.Join(runDir, kernel, experiment)
	return dir, os.MkdirAll(dir, 0o700)
}

// Write stores r as dir/result.json through a temporary file and a rename,
// so a reader sees the old file or the new one, never half of one.
func Write(dir string, r *Result) error {
	r.Schema = Schema
	sig := SignatureOf(r)
	r.Signature = &sig
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteAtomic(filepath.Join(dir, "result.json"), append(b, '\n'))
}

// Read loads one result.json of any schema up to Schema; one of schema 1
// gets its signature computed.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema > Schema {
		return nil, &NewerSchemaError{Path: path, Schema: r.Schema}
	}
	if r.Schema < 1 {
		return nil, fmt.Errorf("%s: not a lab result (no schema)", path)
	}
	if r.Signature == nil {
		sig := SignatureOf(&r)
		r.Signature = &sig
	}
	return &r, nil
}

// NewerSchemaError is a record written by a newer lab than this one.
type NewerSchemaError struct {
	Path   string
	Schema int
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("%s: result schema %d is newer than this lab reads (%d): use the lab that wrote it, or a newer one", e.Path, e.Schema, Schema)
}

// CellKey names a cell of a matrix: a kernel image and an experiment.
type CellKey struct{ Kernel, Experiment string }

// historyRuns bounds how many earlier runs LastDurations reads.
const historyRuns = 20

// LastDurations returns, per cell, how long it took in the newest of the
// last few runs in resultsDir that has it (its timings' total), leaving
// out the run named skip (the one that is starting). A matrix starts its
// longest cells first with it; a cell never run before has no entry.
func LastDurations(resultsDir, skip string) map[CellKey]time.Duration {
	out := map[CellKey]time.Duration{}
	entries, err := os.ReadDir(resultsDir)
	if err != nil {
		return out
	}
	var runs []string
	for _, e := range entries {
		// Run ids sort by time; latest is a link and .latest-* its temporary.
		if e.IsDir() && e.Name() != skip && e.Name()[0] != '.' {
			runs = append(runs, e.Name())
		}
	}
	slices.Sort(runs)
	slices.Reverse(runs)
	if len(runs) > historyRuns {
		runs = runs[:historyRuns]
	}
	for _, run := range runs {
		paths, _ := filepath.Glob(filepath.Join(resultsDir, run, "*", "*", "result.json"))
		for _, p := range paths {
			exp := filepath.Dir(p)
			k := CellKey{Kernel: filepath.Base(filepath.Dir(exp)), Experiment: filepath.Base(exp)}
			if _, ok := out[k]; ok {
				continue
			}
			r, err := Read(p)
			if err != nil || r.TimingsMS["total"] <= 0 {
				continue
			}
			out[k] = time.Duration(r.TimingsMS["total"]) * time.Millisecond
		}
	}
	return out
}
