package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// The runner on scripted guests (fake_machine_test.go): how a run
// classifies what went wrong, waits for a boot, falls back from a failed
// restore to a cold boot, and stops every machine it started. The e2e
// tests boot real kernels for the same paths; these take milliseconds.

// fakeWaits are every wait of a run, shrunk for guests that answer at
// once: a wait that expires means the script made the guest silent.
var fakeWaits = Timeouts{
	KernelOutput: 300 * time.Millisecond, AgentReady: 300 * time.Millisecond,
	Dial: 300 * time.Millisecond, StepGrace: 100 * time.Millisecond,
	Guest: 200 * time.Millisecond, Settle: 30 * time.Millisecond,
	QMP: 100 * time.Millisecond, Dump: 100 * time.Millisecond,
	ConsoleFlush: 5 * time.Millisecond, EndLine: 200 * time.Millisecond,
}

// fakeRun runs the four-step rmmod-while-open experiment (load, open,
// unload, read) on a fake guest playing sc and returns the result, the
// backend and the cell's directory.
func fakeRun(t *testing.T, sc script, tweak func(*Options)) (*results.Result, *fakeBackend, string) {
	t.Helper()
	return fakeRunCtx(t, context.Background(), sc, tweak)
}

func fakeRunCtx(t *testing.T, ctx context.Context, sc script, tweak func(*Options)) (*results.Result, *fakeBackend, string) {
	t.Helper()
	f := newFixture(t, sc)
	if tweak != nil {
		tweak(&f.o)
	}
	step := 200 * time.Millisecond
	r, dir := f.runCtx(ctx, stepsOf("fake-unsafe",
		experiment.Step{Action: protocol.ActionLoad, Target: "m", Timeout: step},
		experiment.Step{Action: protocol.ActionOpen, Target: "A", Path: "/dev/m", Timeout: step},
		experiment.Step{Action: protocol.ActionUnload, Target: "m", Timeout: step},
		experiment.Step{Action: protocol.ActionRead, Target: "A", Count: 8, Timeout: step},
	))
	return r, f.b, dir
}

func TestRunOnFakeGuests(t *testing.T) {
	tests := []struct {
		name  string
		sc    script
		tweak func(*Options)
		// kind is the result's error kind ("" for a run that completed);
		// errHas what its error says; steps how many steps were recorded.
		kind   string
		errHas []string
		steps  int
	}{
		{name: "every step answered", steps: 4},
		{name: "the guest hangs in a step",
			sc:   script{steps: map[int]behaviour{4: hangs}},
			kind: results.KindGuestHang, steps: 3,
			errHas: []string{"step 4 (read A)", "the guest did not answer", `QEMU status "running"`, "RIP=" + fakeRIP, "registers in "}},
		{name: "the kernel panics in a step",
			sc:   script{steps: map[int]behaviour{4: panics}},
			kind: results.KindKernelPanic, steps: 3,
			errHas: []string{"the kernel panicked during step 4 (read A)", "Kernel panic - not syncing: Fatal exception"}},
		{name: "pvpanic without a panic line",
			sc:   script{steps: map[int]behaviour{3: pvpanics}},
			kind: results.KindKernelPanic, steps: 2,
			errHas: []string{"step 3 (unload m)", "the guest reported a panic (pvpanic)"}},
		{name: "QEMU dies mid-step",
			sc:   script{steps: map[int]behaviour{2: qemuDies}},
			kind: results.KindQEMUExited, steps: 1,
			errHas: []string{"step 2 (open A)", "signal: killed"}},
		{name: "the agent's connection breaks while the guest runs",
			sc:   script{steps: map[int]behaviour{3: dropsAgent}},
			kind: results.KindAgentLost, steps: 2,
			errHas: []string{"step 3 (unload m)", "the connection to the agent broke while the guest still runs", "connection lost"}},
		{name: "the connection breaks and QEMU says the guest stopped",
			sc:   script{status: "internal-error", steps: map[int]behaviour{3: dropsAgent}},
			kind: results.KindGuestHang, steps: 2,
			errHas: []string{`QEMU status "internal-error"`}},
		{name: "QEMU does not start",
			sc:     script{startErr: errors.New("qemu-system-x86_64: no such file")},
			kind:   results.KindQEMUExited,
			errHas: []string{"no such file"}},
		{name: "the kernel prints nothing",
			sc:     script{silentOn: vm.AccelTCG},
			kind:   results.KindNoKernelOutput,
			errHas: []string{"fake-6.1: the kernel printed nothing within 300ms (accel tcg)", "the console is empty"}},
		{name: "the agent never says ready",
			sc:     script{notReady: true},
			kind:   results.KindGuestHang,
			errHas: []string{"the agent was not ready within 300ms", "Linux version 6.1.0-fake"}},
		{name: "the agent fails at boot",
			sc:     script{fatal: "no virtio-net"},
			kind:   results.KindAgentFailed,
			errHas: []string{"guest agent failed: no virtio-net"}},
		{name: "the kernel panics while booting",
			sc:     script{bootPanic: true},
			kind:   results.KindKernelPanic,
			errHas: []string{"the kernel panicked while booting", "Unable to mount root fs"}},
		{name: "KVM prints nothing under --accel kvm: no retry",
			sc:     script{silentOn: vm.AccelKVM},
			tweak:  func(o *Options) { o.Choice = &accel.Choice{Accel: vm.AccelKVM} },
			kind:   results.KindNoKernelOutput,
			errHas: []string{"(accel kvm)"}},
		{name: "the run outlives its bound",
			sc:    script{steps: map[int]behaviour{2: hangs}},
			tweak: func(o *Options) { o.RunTimeout = 150 * time.Millisecond },
			kind:  results.KindGuestHang, steps: 1,
			errHas: []string{"the run took longer than 150ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _, dir := fakeRun(t, tc.sc, tc.tweak)
			if r.ErrorKind != tc.kind {
				t.Fatalf("error kind %q, want %q (error: %s)", r.ErrorKind, tc.kind, r.Error)
			}
			if (tc.kind != "") != (r.Verdict == results.Error) {
				t.Errorf("verdict %s with error kind %q", r.Verdict, r.ErrorKind)
			}
			for _, want := range tc.errHas {
				if !strings.Contains(r.Error, want) {
					t.Errorf("error %q does not say %q", r.Error, want)
				}
			}
			if len(r.Steps) != tc.steps {
				t.Errorf("%d steps recorded, want %d", len(r.Steps), tc.steps)
			}
			if _, err := os.Stat(filepath.Join(dir, "console.log")); err != nil && tc.sc.startErr == nil {
				t.Errorf("the console log is gone: %v", err)
			}
		})
	}
}

// A guest that hangs gets its registers kept beside the console, and its
// memory dumped when asked for.
func TestHungGuestDiagnosis(t *testing.T) {
	var progress syncBuffer
	r, _, dir := fakeRun(t, script{steps: map[int]behaviour{3: hangs}}, func(o *Options) { o.Dump, o.Progress = true, &progress })
	if r.ErrorKind != results.KindGuestHang {
		t.Fatalf("error kind %q: %s", r.ErrorKind, r.Error)
	}
	// The command line of the failed boot is printed, to run by hand.
	if out := progress.String(); !strings.Contains(out, "fake-unsafe on fake-6.1 failed (guest-hang); QEMU ran as:\n  qemu-system-x86_64 -accel tcg -append 'console=ttyS0") {
		t.Errorf("progress does not print QEMU's command line:\n%s", out)
	}
	regs, err := os.ReadFile(filepath.Join(dir, "registers.txt"))
	if err != nil || !strings.Contains(string(regs), fakeRIP) {
		t.Errorf("registers.txt: %q, %v", regs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.dump")); err != nil || !strings.Contains(r.Error, "memory dump in ") {
		t.Errorf("memory dump not kept or not named (%v): %s", err, r.Error)
	}
}

// The holders' final states are asked of a guest that still answers; a
// completed run reaches the end-of-run line.
func TestCompletedRunObservesHolders(t *testing.T) {
	r, _, dir := fakeRun(t, script{}, nil)
	if len(r.Processes) != 1 || r.Processes[0].Holder != "A" || r.Processes[0].Comm != "holder" {
		t.Errorf("processes %+v, want holder A observed", r.Processes)
	}
	console, _ := os.ReadFile(filepath.Join(dir, "console.log"))
	if !protocol.IsEnd(string(console)) {
		t.Errorf("the run ended without the end-of-run line:\n%s", console)
	}
	for i, st := range r.Steps {
		if !st.OK || st.Index != i+1 {
			t.Errorf("step %d: %+v", i+1, st)
		}
	}
}

// Under auto, a KVM boot that prints nothing is retried once on TCG, with
// a note saying so; the first machine is stopped before the second starts.
func TestSilentKVMRetriedOnTCG(t *testing.T) {
	r, b, _ := fakeRun(t, script{silentOn: vm.AccelKVM}, func(o *Options) {
		o.Choice = &accel.Choice{Accel: vm.AccelKVM, Auto: true}
	})
	if r.Verdict == results.Error {
		t.Fatalf("the TCG retry failed: %s", r.Error)
	}
	if r.Accel != vm.AccelTCG {
		t.Errorf("accel %q, want tcg", r.Accel)
	}
	ms := b.machines()
	if len(ms) != 2 || ms[0].Accel != vm.AccelKVM || ms[1].Accel != vm.AccelTCG {
		t.Errorf("machines started %+v, want kvm then tcg", ms)
	}
	if !hasNote(r, "KVM booted nothing") || !hasNote(r, "retried with TCG") {
		t.Errorf("notes %q", r.Notes)
	}
}

// With snapshots, the first run boots a keyless guest once to make the
// snapshot, then restores it; a second run only restores.
func TestSnapshotMadeOnceThenRestored(t *testing.T) {
	cache := t.TempDir()
	var b1 *fakeBackend
	r, b1, _ := fakeRun(t, script{}, func(o *Options) { o.Snapshot, o.CacheDir = true, cache })
	if r.Verdict == results.Error {
		t.Fatalf("run: %s", r.Error)
	}
	ms := b1.machines()
	if len(ms) != 2 || !ms[0].KeyChannel || ms[0].Incoming || !ms[1].Incoming {
		t.Fatalf("machines %+v: want the snapshot maker, then the restore", ms)
	}
	if !hasNote(r, "restored from snapshot ") {
		t.Errorf("notes %q", r.Notes)
	}
	r, b2, _ := fakeRun(t, script{}, func(o *Options) { o.Snapshot, o.CacheDir = true, cache })
	if ms := b2.machines(); r.Verdict == results.Error || len(ms) != 1 || !ms[0].Incoming {
		t.Errorf("second run (%s): machines %+v, want one restore", r.Error, ms)
	}
}

// A restore that fails, or whose agent never says ready, falls back to a
// cold boot with a note, and the failed restore's console is kept.
func TestRestoreFallsBackToCold(t *testing.T) {
	for _, sc := range []script{
		{restoreErr: errors.New("Missing section footer for 0000:00:02.0/virtio-net")},
		{silentAfterRestore: true},
	} {
		cache := t.TempDir()
		// Make the snapshot with a guest that restores well.
		if r, _, _ := fakeRun(t, script{}, func(o *Options) { o.Snapshot, o.CacheDir = true, cache }); r.Verdict == results.Error {
			t.Fatal(r.Error)
		}
		r, b, dir := fakeRun(t, sc, func(o *Options) { o.Snapshot, o.CacheDir = true, cache })
		if r.Verdict == results.Error {
			t.Fatalf("the cold boot after the failed restore failed: %s", r.Error)
		}
		ms := b.machines()
		if len(ms) != 2 || !ms[0].Incoming || ms[1].Incoming || ms[1].KeyChannel {
			t.Errorf("machines %+v: want the restore, then a cold boot", ms)
		}
		if !hasNote(r, "snapshot restore failed") || !hasNote(r, "booted cold; its console log is restore-console.log") {
			t.Errorf("notes %q", r.Notes)
		}
		if _, err := os.Stat(filepath.Join(dir, "restore-console.log")); err != nil {
			t.Errorf("the failed restore's console is not kept: %v", err)
		}
		if sc.restoreErr != nil && !hasNote(r, "Missing section footer") {
			t.Errorf("the note does not say why the restore failed: %q", r.Notes)
		}
	}
}

// An interrupted run (Ctrl-C) is not a hang, and stops its machine.
func TestInterruptedRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, _, _ := fakeRunCtx(t, ctx, script{steps: map[int]behaviour{2: hangs}}, func(o *Options) {
		o.waits.StepGrace = 5 * time.Second // only the interruption ends the step
		time.AfterFunc(100*time.Millisecond, cancel)
	})
	if r.ErrorKind != results.KindInterrupted {
		t.Fatalf("error kind %q (%s), want interrupted", r.ErrorKind, r.Error)
	}
}

// Under --gdb-step the VM pauses before that step, says how to attach,
// and goes on once the debugger continues it.
func TestGDBPausesBeforeStep(t *testing.T) {
	var progress syncBuffer
	r, _, _ := fakeRun(t, script{}, func(o *Options) {
		o.GDB, o.GDBStep, o.Progress = true, 3, &progress
		go o.backend.(*fakeBackend).continueWhenPaused()
	})
	if r.Verdict == results.Error {
		t.Fatalf("run: %s", r.Error)
	}
	out := progress.String()
	for _, want := range []string{"paused before step 3", "127.0.0.1:1234", "add-symbol-file ", "the VM runs again"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(r.Provenance.Cmdline, "nokaslr") {
		t.Errorf("cmdline %q without nokaslr under --gdb", r.Provenance.Cmdline)
	}
}

// syncBuffer is a strings.Builder safe for the run's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func hasNote(r *results.Result, part string) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}
