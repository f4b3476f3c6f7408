package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// Matrix runs every experiment on every kernel, up to jobs VMs at once,
// into runDir. Kernels are prepared first, one after another (their builds
// share the cache); then the cells run in parallel. A kernel that cannot be
// prepared (its packages are gone from the mirror, its build root needs
// root …) gets an error result in each of its cells, and the others run.
// done hears of each result as it is written. It returns when every cell
// ran or ctx ended; cells never started have no result.
func Matrix(ctx context.Context, o Options, specs []*image.Spec, exps []*experiment.Spec, runID, runDir string, jobs int, done func(*results.Result)) error {
	if jobs < 1 {
		jobs = 1
	}
	if o.QEMUVersion == "" {
		o.QEMUVersion = vm.Version(o.QEMU)
	}
	type cell struct {
		p   *Prepared
		exp *experiment.Spec
	}
	var cells []cell
	for _, spec := range specs {
		fmt.Fprintf(o.progressWriter(), "lab: preparing %s (kernel packages, modules, initramfs)\n", spec.Name)
		p, err := Prepare(ctx, o, spec)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// --locked promises nothing boots unless every lock holds.
			var le *image.LockedError
			if errors.As(err, &le) {
				return err
			}
			fmt.Fprintf(o.progressWriter(), "lab: %s cannot run: %v\n", spec.Name, err)
			for _, e := range exps {
				r := unprepared(spec, e, runID, runDir, err)
				if done != nil {
					done(r)
				}
			}
			continue
		}
		for _, e := range exps {
			cells = append(cells, cell{p, e})
		}
	}
	// One KVM probe for the whole invocation, on the first prepared
	// kernel of the host's architecture, before any cell boots: every cell
	// then runs on its answer (another architecture's on TCG).
	if i := slices.IndexFunc(cells, func(c cell) bool { return c.p.Arch().Native() }); i >= 0 && o.Choice == nil {
		c, err := o.chooseAccel(ctx, cells[i].p)
		if err != nil {
			return err
		}
		o.Choice = &c
	}
	longestFirst(cells, func(c cell) results.CellKey {
		return results.CellKey{Kernel: c.p.Image.Spec.Name, Experiment: c.exp.Name}
	}, results.LastDurations(filepath.Dir(runDir), filepath.Base(runDir)))
	// With repeats a cell is N units of work, each a fresh restore into
	// its own repeat-NN/ directory; the cell's record is written once its
	// last repeat is in.
	n := max(o.Repeat, 1)
	type unit struct {
		c      cell
		ci     int // the cell's index in cells
		repeat int // 1-based; 0 without --repeat
		dir    string
		dirErr error
		pre    *preloaded
	}
	type tally struct {
		reps []*results.Result
		left int
	}
	tallies := make([]*tally, len(cells)) // by cell, with repeats
	work := make(chan unit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				start := time.Now()
				c := u.c
				r := runIn(ctx, o, c.p, c.exp, runID, u.dir, u.dirErr, u.pre)
				mu.Lock()
				if u.repeat == 0 {
					fmt.Fprintf(o.progressWriter(), "lab: %s on %s: %s (%.1f s)\n", c.exp.Name, c.p.Image.Spec.Name, r.Verdict, time.Since(start).Seconds())
					if done != nil {
						done(r)
					}
					mu.Unlock()
					continue
				}
				fmt.Fprintf(o.progressWriter(), "lab: %s on %s, repeat %d/%d: %s (%.1f s)\n", c.exp.Name, c.p.Image.Spec.Name, u.repeat, n, r.Verdict, time.Since(start).Seconds())
				t := tallies[u.ci]
				t.reps[u.repeat-1] = r
				t.left--
				if t.left == 0 {
					agg := aggregate(c.exp, t.reps)
					writeCell(runDir, agg)
					if done != nil {
						done(agg)
					}
				}
				mu.Unlock()
			}
		}()
	}
	if n > 1 {
		for ci := range cells {
			tallies[ci] = &tally{reps: make([]*results.Result, n), left: n}
		}
	}
feed:
	for ci, c := range cells {
		for i := range n {
			u := unit{c: c, ci: ci}
			if n > 1 {
				u.repeat = i + 1
			}
			// Each unit's guest starts loading as soon as the unit before
			// it is taken: one more than the jobs at most.
			u.dir, u.dirErr = unitDir(runDir, c.p, c.exp, u.repeat)
			if u.dirErr == nil {
				u.pre = preload(ctx, o, c.p, c.exp, u.dir)
			}
			select {
			case work <- u:
			case <-ctx.Done():
				u.pre.discard()
				break feed
			}
		}
	}
	close(work)
	wg.Wait()
	// A cell cut short keeps the repeats it finished, as an incomplete
	// cell: its verdict is the interruption's.
	for ci, c := range cells {
		if t := tallies[ci]; t != nil && t.left > 0 && t.left < n {
			var got []*results.Result
			for _, r := range t.reps {
				if r != nil {
					got = append(got, r)
				}
			}
			agg := aggregate(c.exp, got)
			agg.Verdict, agg.ErrorKind = results.Error, results.KindInterrupted
			agg.Error = fmt.Sprintf("only %d of %d repeats ran: %v", len(got), n, context.Cause(ctx))
			writeCell(runDir, agg)
			if done != nil {
				done(agg)
			}
		}
	}
	return ctx.Err()
}

// longestFirst orders cells by what each took last time, longest first: a
// long cell that starts last keeps one job busy while the others have
// nothing left (the full matrix's four 16 s proc-slow-hung cells). A cell
// with no history goes first, as it may be long; ties keep their order.
func longestFirst[T any](cells []T, key func(T) results.CellKey, last map[results.CellKey]time.Duration) {
	expected := func(c T) time.Duration {
		if d, ok := last[key(c)]; ok {
			return d
		}
		return math.MaxInt64
	}
	slices.SortStableFunc(cells, func(a, b T) int { return cmp.Compare(expected(b), expected(a)) })
}

// unprepared writes the error result of an experiment on a kernel that
// could not be prepared.
func unprepared(spec *image.Spec, e *experiment.Spec, runID, runDir string, err error) *results.Result {
	r := &results.Result{
		RunID: runID, Experiment: e.Name, Summary: e.Summary,
		Kernel:  results.Kernel{Name: spec.Name, Release: spec.Release, PackageVersion: spec.PackageVersion(), Arch: spec.ArchOrDefault()},
		Verdict: results.Error, ErrorKind: results.KindBuild, Error: err.Error(),
		Steps: []results.Step{}, Checks: []results.Check{}, Oopses: []evidence.Report{},
		Processes: []results.Process{}, TimingsMS: map[string]int64{},
	}
	var re *runError
	if errors.As(err, &re) {
		r.ErrorKind = re.kind
	}
	if dir, derr := results.CellDir(runDir, spec.Name, e.Name); derr == nil {
		results.Write(dir, r)
	}
	return r
}
