package runner

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
)

// ShellIO is the terminal lab shell connects to the guest's shell.
type ShellIO struct {
	Stdin  io.Reader
	Stdout io.Writer
	// Term is $TERM; Size the terminal's size, Resize its later sizes.
	Term   string
	Size   agentclient.WinSize
	Resize <-chan agentclient.WinSize
}

// Shell boots the prepared kernel, loads modules (as load steps, so their
// layouts are recorded and --gdb-step can name one), runs an interactive
// shell in the guest until it exits, and stops the VM. The console log is
// kept in <runDir>/<kernel>/shell/. It returns the shell's exit status and
// that directory.
func Shell(ctx context.Context, o Options, p *Prepared, modules []string, runID, runDir string, sio ShellIO) (int, string, error) {
	o.Log = logx.Or(o.Log)
	spec := p.Image.Spec
	exp := &experiment.Spec{Name: "shell", Summary: "lab shell", Modules: modules}
	for _, m := range modules {
		exp.Steps = append(exp.Steps, experiment.Step{Action: protocol.ActionLoad, Target: m})
	}
	r := &results.Result{
		RunID: runID, Experiment: exp.Name, Summary: exp.Summary,
		Kernel:    results.Kernel{Name: spec.Name, Release: spec.Release, PackageVersion: spec.PackageVersion(), Arch: spec.ArchOrDefault()},
		Steps:     []results.Step{},
		Oopses:    []evidence.Report{},
		Processes: []results.Process{},
		TimingsMS: map[string]int64{},
	}
	dir, err := results.CellDir(runDir, spec.Name, exp.Name)
	if err != nil {
		return -1, "", err
	}
	s := &session{o: o, p: p, exp: exp, r: r, dir: dir, tickets: map[string]string{}}
	defer s.stopShell()
	if err := s.run(ctx); err != nil {
		return -1, dir, err
	}
	for _, st := range r.Steps {
		if !st.OK {
			return -1, dir, fmt.Errorf("load %s: %s", st.Target, st.Error)
		}
	}
	fmt.Fprintf(s.progress(), "lab: shell on %s (%s); exit or Ctrl-D ends it and stops the VM; console: %s\n", spec.Name, spec.Release, s.consolePath())
	type ended struct {
		code int
		err  error
	}
	done := make(chan ended, 1)
	go func() {
		code, err := s.client.Shell(sio.Stdin, sio.Stdout, sio.Term, sio.Size, sio.Resize)
		done <- ended{code, err}
	}()
	select {
	case e := <-done:
		return e.code, dir, e.err
	case <-s.machine.Exited():
		return -1, dir, fmt.Errorf("the VM stopped under the shell: %v", s.machine.ExitError())
	case <-ctx.Done():
		return -1, dir, ctx.Err()
	}
}

// stopShell ends the connection and the VM; the console log stays.
func (s *session) stopShell() {
	if s.client != nil {
		s.client.Close()
	}
	if s.machine != nil {
		time.Sleep(s.t.ConsoleFlush)
		s.machine.Stop()
	}
}
