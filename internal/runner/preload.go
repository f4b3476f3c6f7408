package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
)

// A preloaded guest is the next cell's restore done while the cells
// before it still run: QEMU started, the snapshot loaded, the run's fresh
// keys sent and its SSH connection made, so that the run starts at its
// first step. Matrix preloads one cell ahead: the ~0.25 s a restore takes
// under TCG overlaps another guest's steps, which mostly wait, instead of
// adding to every cell; `--repeat` gains most, as its units are nothing
// but restored cells.
//
// The restored guest then idles (its agent waits for the first step)
// until its run begins: the same guest as one restored on the spot, with
// the same keys rule (the run's own, never the snapshot's), whose steps
// merely start later on its clock.
type preloaded struct {
	ready chan struct{}
	s     *session // the restore's session, whose guest the run adopts
	err   error
}

// errNoPreload says a cell is not preloaded (it boots cold, or its
// snapshot is not made yet); its run restores as usual.
var errNoPreload = errors.New("not preloaded")

// preload starts restoring the guest of exp's run into dir. It returns at
// once; the run waits for ready. A cell that will not restore from an
// existing snapshot gets errNoPreload, never a second snapshot maker.
func preload(ctx context.Context, o Options, p *Prepared, exp *experiment.Spec, dir string) *preloaded {
	pl := &preloaded{ready: make(chan struct{})}
	var acc string
	if o.Choice != nil || !p.Arch().Native() {
		// Known without a probe.
		if c, err := o.chooseAccel(ctx, p); err == nil {
			acc = c.Accel
		}
	}
	if !o.Snapshot || o.Cold || o.GDB || acc == "" {
		pl.err = errNoPreload
		close(pl.ready)
		return pl
	}
	go func() {
		defer close(pl.ready)
		s := &session{o: o, p: p, exp: exp, dir: dir, tickets: map[string]string{},
			r: &results.Result{TimingsMS: map[string]int64{}}}
		sp := s.snapshotSpec(acc, kernelCmdline(p.Arch(), exp.Cmdline))
		if !safefile.Sealed(filepath.Join(SnapshotDir(o.CacheDir), s.snapshotKey(sp)+".snap")) {
			pl.err = errNoPreload
			return
		}
		if pl.err = s.restore(ctx, acc); pl.err != nil {
			s.close()
			return
		}
		pl.s = s
	}()
	return pl
}

// take waits for the preload and hands over its restored session when it
// restored snapshot path; otherwise it stops what it started, and the run
// restores by itself.
func (pl *preloaded) take(path string) *session {
	if pl == nil {
		return nil
	}
	<-pl.ready
	if pl.s == nil || pl.s.snapshotPath != path {
		pl.discard()
		return nil
	}
	s := pl.s
	pl.s = nil
	return s
}

// discard stops a preloaded guest no run took.
func (pl *preloaded) discard() {
	if pl == nil {
		return
	}
	<-pl.ready
	if pl.s != nil {
		pl.s.close()
		pl.s = nil
	}
}

// close ends a session's connection and VM.
func (s *session) close() {
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	if s.machine != nil {
		s.machine.Stop()
		s.machine = nil
	}
}

// adopt takes over a preloaded session's restored guest: its VM, its
// connection and what its restore recorded.
func (s *session) adopt(ps *session, waited time.Duration) {
	s.machine, s.client, s.t, s.kernelPrinted, s.snapshotPath = ps.machine, ps.client, ps.t, ps.kernelPrinted, ps.snapshotPath
	s.r.Accel, s.r.Provenance = ps.r.Accel, ps.r.Provenance
	s.r.Notes = append(s.r.Notes, ps.r.Notes...)
	s.r.TimingsMS["restore"] = ps.r.TimingsMS["restore"]
	s.r.TimingsMS["preloaded"] = ps.r.TimingsMS["boot"]
	s.r.TimingsMS["boot"] = waited.Milliseconds()
}

// unitDir is where a unit of Matrix's work writes: its cell's directory,
// or its repeat's inside it.
func unitDir(runDir string, p *Prepared, exp *experiment.Spec, repeat int) (string, error) {
	dir, err := results.CellDir(runDir, p.Image.Spec.Name, exp.Name)
	if err != nil || repeat == 0 {
		return dir, err
	}
	dir = filepath.Join(dir, RepeatDir(repeat))
	return dir, os.MkdirAll(dir, 0o700)
}
