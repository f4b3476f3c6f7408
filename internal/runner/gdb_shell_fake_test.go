package runner

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
)

// TestGDBAtStart: --gdb without a step starts QEMU paused with its
// gdbstub and waits for the debugger before watching the boot.
func TestGDBAtStart(t *testing.T) {
	var progress syncBuffer
	r, b, _ := fakeRun(t, script{}, func(o *Options) {
		o.GDB, o.Progress = true, &progress
		go o.backend.(*fakeBackend).continueWhenPaused()
	})
	if r.ErrorKind != "" {
		t.Fatalf("run: %s", r.Error)
	}
	ms := b.machines()
	if len(ms) != 1 || !ms[0].GDB || !ms[0].Paused {
		t.Errorf("machines %+v; want one started paused with its gdbstub", ms)
	}
	out := progress.String()
	want := "lab: the VM is paused before the kernel's first instruction; QEMU's gdbstub listens on 127.0.0.1:1234. Attach with:\n  gdb -ex 'target remote 127.0.0.1:1234'\nlab: waiting for the VM to run (type continue in gdb)\nlab: the VM runs again\n"
	if !strings.Contains(out, want) {
		t.Errorf("progress:\n%s\nwant\n%s", out, want)
	}
	if !strings.HasSuffix(r.Provenance.Cmdline, " nokaslr") {
		t.Errorf("cmdline %q", r.Provenance.Cmdline)
	}
}

// TestGDBStepWithoutGDB: --gdb-step means nothing without --gdb.
func TestGDBStepWithoutGDB(t *testing.T) {
	var progress syncBuffer
	r, b, _ := fakeRun(t, script{}, func(o *Options) { o.GDBStep, o.Progress = 2, &progress })
	if r.ErrorKind != "" || strings.Contains(progress.String(), "paused") || b.machines()[0].GDB || b.machines()[0].Paused {
		t.Errorf("%s: progress %q, machine %+v", r.Error, progress.String(), b.machines())
	}
	if strings.Contains(r.Provenance.Cmdline, "nokaslr") {
		t.Errorf("cmdline %q", r.Provenance.Cmdline)
	}
}

// TestGDBStepOnlyItsStep: a VM started for --gdb-step 2 runs from the
// start and pauses before step 2 only.
func TestGDBStepOnlyItsStep(t *testing.T) {
	var progress syncBuffer
	r, b, _ := fakeRun(t, script{}, func(o *Options) {
		o.GDB, o.GDBStep, o.Progress = true, 2, &progress
		go o.backend.(*fakeBackend).continueWhenPaused()
	})
	if r.ErrorKind != "" {
		t.Fatalf("run: %s", r.Error)
	}
	if ms := b.machines(); len(ms) != 1 || !ms[0].GDB || ms[0].Paused {
		t.Errorf("machines %+v; want the gdbstub, not paused at start", ms)
	}
	out := progress.String()
	if strings.Count(out, "the VM is paused") != 1 || !strings.Contains(out, "paused before step 2;") {
		t.Errorf("progress:\n%s", out)
	}
	// Module m, loaded by step 1, is offered to gdb at its layout.
	if !strings.Contains(out, "m.ko 0xffffffffc0a00000 -s .data 0xffffffffc0a00800'") {
		t.Errorf("progress does not offer m at its layout:\n%s", out)
	}
}

// TestGDBFailures: a VM that cannot pause, and a debugger that never
// continues, end the run with what happened.
func TestGDBFailures(t *testing.T) {
	r, _, _ := fakeRun(t, script{pauseErr: errors.New("QMP: stop failed")}, func(o *Options) { o.GDB, o.GDBStep = true, 2 })
	if r.Verdict != results.Error || r.Error != "pause the VM before step 2: QMP: stop failed" || len(r.Steps) != 1 {
		t.Errorf("pause fails: %s %q, %d steps", r.Verdict, r.Error, len(r.Steps))
	}
	r, _, _ = fakeRun(t, script{}, func(o *Options) { o.GDB, o.GDBStep, o.RunTimeout = true, 2, 600*time.Millisecond })
	if r.Verdict != results.Error || !strings.Contains(r.Error, "waiting for gdb to continue the VM: context deadline exceeded") {
		t.Errorf("never continued before a step: %s %q", r.Verdict, r.Error)
	}
	r, _, _ = fakeRun(t, script{}, func(o *Options) { o.GDB, o.RunTimeout = true, 600*time.Millisecond })
	if r.Verdict != results.Error || !strings.Contains(r.Error, "waiting for gdb to continue the VM") || len(r.Steps) != 0 {
		t.Errorf("never continued at start: %s %q", r.Verdict, r.Error)
	}
}

// shellRun runs Shell on a fake guest loading module m.
func shellRun(t *testing.T, ctx context.Context, sc script, tweak func(*fixture)) (int, string, error, *fixture, string) {
	t.Helper()
	f := newFixture(t, sc)
	var progress, stdout syncBuffer
	f.o.Progress = &progress
	if tweak != nil {
		tweak(f)
	}
	code, dir, err := Shell(ctx, f.o, f.p, []string{"m"}, "shell-1", f.runDir, ShellIO{Stdout: &stdout, Term: "xterm-256color", Size: agentclient.WinSize{Rows: 24, Cols: 80}})
	if n := f.b.running(); n != 0 {
		t.Errorf("%d machines run after the shell", n)
	}
	return code, dir, err, f, progress.String() + stdout.String()
}

// TestShell: lab shell boots, loads its modules as load steps, hands the
// terminal to the guest's shell and returns its exit status.
func TestShell(t *testing.T) {
	code, dir, err, f, out := shellRun(t, context.Background(), script{shellCode: 3}, nil)
	if err != nil || code != 3 {
		t.Fatalf("Shell = %d, %v; want 3", code, err)
	}
	if dir != filepath.Join(f.runDir, "fake-6.1", "shell") {
		t.Errorf("dir %s", dir)
	}
	if !strings.Contains(out, "lab: shell on fake-6.1 (6.1.0-fake); exit or Ctrl-D ends it and stops the VM; console: "+filepath.Join(dir, "console.log")) || !strings.Contains(out, "shell on xterm-256color") {
		t.Errorf("output %q", out)
	}
	var loads []string
	for _, q := range f.b.requests() {
		if q.Step > 0 {
			loads = append(loads, string(q.Action)+" "+q.Module)
		}
	}
	if strings.Join(loads, ",") != "load m" {
		t.Errorf("steps %q; want load m", loads)
	}
	if !strings.Contains(readFile(filepath.Join(dir, "console.log")), "Linux version") {
		t.Errorf("the shell's console is not kept")
	}

	if code, _, err, _, _ := shellRun(t, context.Background(), script{shellCode: 1, shellErr: errors.New("ssh: broken")}, nil); code != 1 || err == nil || err.Error() != "ssh: broken" {
		t.Errorf("a failing shell: %d, %v", code, err)
	}
}

// TestShellFailures: a module that does not load, a boot that fails, a
// VM that stops under the shell and an interruption end the shell with
// -1 and what happened.
func TestShellFailures(t *testing.T) {
	code, dir, err, _, _ := shellRun(t, context.Background(), script{replies: map[int]protocol.Reply{1: {OK: false, Error: "EEXIST"}}}, nil)
	if code != -1 || err == nil || err.Error() != "load m: EEXIST" || dir == "" {
		t.Errorf("load fails: %d %q %v", code, dir, err)
	}
	code, dir, err, _, _ = shellRun(t, context.Background(), script{fatal: "no virtio-net"}, nil)
	if code != -1 || err == nil || !strings.Contains(err.Error(), "guest agent failed: no virtio-net") || dir == "" {
		t.Errorf("boot fails: %d %q %v", code, dir, err)
	}
	code, _, err, _, _ = shellRun(t, context.Background(), script{shellBlocks: true}, func(f *fixture) {
		go func() {
			waitLoaded(f.b)
			f.b.vmsNow()[0].exit(errors.New("signal: killed"))
		}()
	})
	if code != -1 || err == nil || err.Error() != "the VM stopped under the shell: signal: killed" {
		t.Errorf("VM stops: %d %v", code, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code, _, err, _, _ = shellRun(t, ctx, script{shellBlocks: true}, func(f *fixture) {
		go func() {
			waitLoaded(f.b)
			cancel()
		}()
	})
	if code != -1 || !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted: %d %v", code, err)
	}
	// A run directory that cannot be made.
	code, dir, err, _, _ = shellRun(t, context.Background(), script{}, func(f *fixture) { f.runDir = "/dev/null/run" })
	if code != -1 || dir != "" || err == nil {
		t.Errorf("no directory: %d %q %v", code, dir, err)
	}
}

// waitLoaded waits until the shell's load step was asked, and a moment
// more for the shell to start.
func waitLoaded(b *fakeBackend) {
	for {
		for _, q := range b.requests() {
			if q.Step == 1 {
				time.Sleep(20 * time.Millisecond)
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}
