package runner

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/vm"
)

// TestAccelRetry: under auto, a KVM boot that dies before the kernel's
// first line is retried once on TCG; one that got as far as the kernel,
// one under --accel kvm, and one already on TCG are not.
func TestAccelRetry(t *testing.T) {
	kvmAuto := func(o *Options) { o.Choice = &accel.Choice{Accel: vm.AccelKVM, Auto: true} }
	kvm := func(o *Options) { o.Choice = &accel.Choice{Accel: vm.AccelKVM} }
	tcgAuto := func(o *Options) { o.Choice = &accel.Choice{Accel: vm.AccelTCG, Auto: true} }
	tests := []struct {
		name     string
		sc       script
		tweak    func(*Options)
		kind     string
		accels   []string // the machines started
		note     string   // a note the result must have
		noteNot  string   // a note it must not have
		progress string
	}{
		{name: "QEMU dies under KVM before the kernel printed", sc: script{dieOn: vm.AccelKVM}, tweak: kvmAuto,
			accels: []string{"kvm", "tcg"}, note: "QEMU died under KVM before the kernel printed (kvm: KVM_RUN failed", progress: "retried with TCG"},
		{name: "QEMU dies under --accel kvm", sc: script{dieOn: vm.AccelKVM}, tweak: kvm,
			kind: results.KindQEMUExited, accels: []string{"kvm"}, noteNot: "retried"},
		{name: "QEMU cannot start under KVM, nor under TCG", sc: script{startErr: errors.New("no qemu")}, tweak: kvmAuto,
			kind: results.KindQEMUExited, note: "QEMU died under KVM before the kernel printed (no qemu); retried with TCG"},
		{name: "the agent fails under KVM", sc: script{fatal: "no virtio-net"}, tweak: kvmAuto,
			kind: results.KindAgentFailed, accels: []string{"kvm"}, noteNot: "retried"},
		{name: "the kernel panics under KVM", sc: script{bootPanic: true}, tweak: kvmAuto,
			kind: results.KindKernelPanic, accels: []string{"kvm"}, noteNot: "retried"},
		{name: "the agent is never ready under KVM", sc: script{notReady: true}, tweak: kvmAuto,
			kind: results.KindGuestHang, accels: []string{"kvm"}, noteNot: "retried"},
		{name: "TCG under auto prints nothing", sc: script{silentOn: vm.AccelTCG}, tweak: tcgAuto,
			kind: results.KindNoKernelOutput, accels: []string{"tcg"}, noteNot: "retried"},
		{name: "a reason KVM is unusable is noted", sc: script{}, tweak: func(o *Options) {
			kvmAuto(o)
			o.Choice.Reason = "probe"
		}, accels: []string{"kvm"}, note: "KVM unusable (probe); running on TCG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var progress syncBuffer
			r, b, _ := fakeRun(t, tc.sc, func(o *Options) { tc.tweak(o); o.Progress = &progress })
			if r.ErrorKind != tc.kind {
				t.Fatalf("kind %q (%s), want %q", r.ErrorKind, r.Error, tc.kind)
			}
			var accels []string
			for _, c := range b.machines() {
				accels = append(accels, c.Accel)
			}
			if strings.Join(accels, ",") != strings.Join(tc.accels, ",") {
				t.Errorf("machines on %v, want %v", accels, tc.accels)
			}
			if tc.note != "" && !hasNote(r, tc.note) {
				t.Errorf("notes %q lack %q", r.Notes, tc.note)
			}
			if tc.noteNot != "" && hasNote(r, tc.noteNot) {
				t.Errorf("notes %q have %q", r.Notes, tc.noteNot)
			}
			if tc.progress != "" && !strings.Contains(progress.String(), tc.progress) {
				t.Errorf("progress %q lacks %q", progress.String(), tc.progress)
			}
		})
	}
}

// TestDialFailures: an agent that refuses the connection is lost; a QEMU
// that exits while the host dials is what the error names.
func TestDialFailures(t *testing.T) {
	r, _, _ := fakeRun(t, script{noAgent: true}, nil)
	if r.ErrorKind != results.KindAgentLost || !strings.Contains(r.Error, "connection refused") {
		t.Errorf("refused: %s: %s", r.ErrorKind, r.Error)
	}
	// The dial would wait past the run's bound: only QEMU's exit ends it.
	r, _, _ = fakeRun(t, script{diesOnDial: true}, func(o *Options) { o.waits.Dial = time.Minute })
	if r.ErrorKind != results.KindQEMUExited || !strings.Contains(r.Error, "while connecting to the agent: qemu: terminating on signal 15") || !strings.Contains(r.Error, "Linux version") {
		t.Errorf("QEMU exits: %s: %s", r.ErrorKind, r.Error)
	}
}

// TestColdBootRecord: a cold boot records its timings, its provenance and
// says where it booted.
func TestColdBootRecord(t *testing.T) {
	var progress syncBuffer
	f := newFixture(t, script{})
	f.o.Progress, f.o.LabVersion = &progress, "lab 1.2"
	f.p.Image.Spec.Packages = []image.Package{{Name: "linux-image-6.1", Version: "6.1.1-1", SHA256: "feed"}}
	exp := stepsOf("cmdline", experiment.Step{Action: protocol.ActionLoad, Target: "m"})
	exp.Cmdline = "slub_debug=FZ"
	r, dir := f.run(exp)
	if r.ErrorKind != "" {
		t.Fatalf("%s", r.Error)
	}
	for _, k := range []string{"kernel_output", "agent_ready", "boot", "steps", "total"} {
		if _, ok := r.TimingsMS[k]; !ok {
			t.Errorf("timings %v lack %s", r.TimingsMS, k)
		}
	}
	if _, ok := r.TimingsMS["restore"]; ok {
		t.Errorf("a cold boot has a restore timing")
	}
	pv := r.Provenance
	if pv.Cmdline != "console=ttyS0 panic=-1 acpi=noirq slub_debug=FZ" || pv.QEMU != "fake 8.0" || pv.Lab != "lab 1.2" ||
		pv.KernelSHA256 != f.p.KernelSHA256 || pv.InitramfsSHA256 != f.p.Initramfs.SHA256 {
		t.Errorf("provenance %+v", pv)
	}
	if want, _ := safefile.SHA256(f.p.Modules["m"]); pv.Modules["m"] != want || want == "" {
		t.Errorf("module provenance %v, want m=%s", pv.Modules, want)
	}
	if pv.Packages["linux-image-6.1=6.1.1-1"] != "feed" || len(pv.Packages) != 1 {
		t.Errorf("packages %v", pv.Packages)
	}
	if ms := f.b.machines(); len(ms) != 1 || ms[0].Append != pv.Cmdline || ms[0].Incoming || ms[0].KeyChannel || ms[0].GDB || ms[0].Paused {
		t.Errorf("machine %+v", ms)
	} else if ms[0].Initrd == f.p.Initramfs.Path || ms[0].Kernel != f.p.BootKernel || ms[0].Console != filepath.Join(dir, "console.log") || ms[0].Stderr != filepath.Join(dir, "qemu.stderr") || ms[0].GuestPort != protocol.Port {
		t.Errorf("machine %+v: the initramfs with the run's keys, the boot kernel, the cell's console", ms[0])
	}
	if !strings.Contains(progress.String(), "lab: fake-6.1 booted on tcg in ") {
		t.Errorf("progress %q", progress.String())
	}
	if r.Accel != vm.AccelTCG {
		t.Errorf("accel %q", r.Accel)
	}
	if len(r.Notes) != 0 || r.Oopses == nil || len(r.Oopses) != 0 {
		t.Errorf("a clean run: notes %q, reports %#v", r.Notes, r.Oopses)
	}
}

// TestResultNotWritten: a cell whose record cannot be written says so in
// the log.
func TestResultNotWritten(t *testing.T) {
	f := newFixture(t, script{})
	var log syncBuffer
	f.o.Log = slog.New(slog.NewTextHandler(&log, nil))
	dir := filepath.Join(f.tmp, "gone")
	r := runIn(context.Background(), f.o, f.p, stepsOf("x"), "run-1", dir, nil, nil)
	if r.Verdict != results.Error || !strings.Contains(log.String(), "write result") {
		t.Errorf("%s %q; log %q", r.Verdict, r.Error, log.String())
	}
	var quiet syncBuffer
	f.o.Log = slog.New(slog.NewTextHandler(&quiet, nil))
	if r, _ := f.run(stepsOf("y")); r.ErrorKind != "" || strings.Contains(quiet.String(), "write result") {
		t.Errorf("%s; log %q", r.Error, quiet.String())
	}
}

// TestLockNote: a run of an image that followed its series says so once.
func TestLockNote(t *testing.T) {
	f := newFixture(t, script{})
	spec := f.p.Image.Spec
	spec.Packages = []image.Package{{Name: "linux-image", Version: "6.1.2-1"}}
	f.p.Image.Resolution = image.Resolution{Followed: true, LockedRelease: "6.1.0-old", Locked: []image.Package{{Name: "linux-image", Version: "6.1.1-1"}}}
	r, _ := f.run(stepsOf("lock", experiment.Step{Action: protocol.ActionLoad, Target: "m"}))
	lp := r.Provenance.Lock
	if lp == nil || !lp.Followed || lp.Locked["linux-image"] != "6.1.1-1" || lp.Resolved["linux-image"] != "6.1.2-1" || lp.LockedRelease != "6.1.0-old" || lp.Note == "" {
		t.Fatalf("lock provenance %+v", lp)
	}
	n := 0
	for _, note := range r.Notes {
		if note == lp.Note {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the follow note appears %d times in %q", n, r.Notes)
	}
}

// TestLockProvenance: a local tree has no lock; a lock that held has no
// note.
func TestLockProvenance(t *testing.T) {
	img := &image.Image{Spec: &image.Spec{Name: "tree", Tree: "/src/linux"}}
	if lp := lockProvenance(img); lp != nil {
		t.Errorf("a tree's lock %+v", lp)
	}
	img = &image.Image{Spec: &image.Spec{Name: "d", Packages: []image.Package{{Name: "k", Version: "1"}}},
		Resolution: image.Resolution{LockedRelease: "r", Locked: []image.Package{{Name: "k", Version: "1"}}, Snapshot: "snap"}}
	lp := lockProvenance(img)
	if lp == nil || lp.Followed || lp.Note != "" || lp.Snapshot != "snap" || lp.Locked["k"] != "1" || lp.Resolved["k"] != "1" {
		t.Errorf("held lock %+v", lp)
	}
}

// TestHangDiagnosisFailures: what QEMU cannot tell is left out, or said.
func TestHangDiagnosisFailures(t *testing.T) {
	r, _, dir := fakeRun(t, script{regsErr: errors.New("QMP: timeout"), dumpErr: errors.New("no space"), steps: map[int]behaviour{2: hangs}},
		func(o *Options) { o.Dump = true })
	if r.ErrorKind != results.KindGuestHang || strings.Contains(r.Error, "registers in") || strings.Contains(r.Error, "RIP=") || !strings.Contains(r.Error, "; memory dump failed: no space") {
		t.Errorf("%s: %s", r.ErrorKind, r.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "registers.txt")); err == nil {
		t.Errorf("registers.txt written without registers")
	}
	r, _, dir = fakeRun(t, script{steps: map[int]behaviour{2: hangs}}, nil)
	if strings.Contains(r.Error, "memory dump") {
		t.Errorf("a dump without --dump: %s", r.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.dump")); err == nil {
		t.Errorf("memory.dump written without --dump")
	}
	if !strings.Contains(r.Error, "; registers in ") || !strings.Contains(r.Error, "; RIP="+fakeRIP) || !strings.Contains(r.Error, "; last console lines:\n  [") {
		t.Errorf("hang diagnosis %s", r.Error)
	}
	// Neither registers nor a dump: no diagnosis at all.
	r, _, _ = fakeRun(t, script{regsErr: errors.New("QMP: timeout"), steps: map[int]behaviour{2: hangs}}, nil)
	if !strings.Contains(r.Error, `the guest did not answer (QEMU status "running"); last console lines`) {
		t.Errorf("no diagnosis: %s", r.Error)
	}
}

// TestQEMUCmdlineNote: a failed run points at QEMU's command line; an
// interrupted one, or one whose QEMU never started, does not.
func TestQEMUCmdlineNote(t *testing.T) {
	const note = "QEMU's command line is in qemu.cmdline"
	if r, _, _ := fakeRun(t, script{notReady: true}, nil); !hasNote(r, note) {
		t.Errorf("failed run: notes %q", r.Notes)
	}
	if r, _, _ := fakeRun(t, script{}, nil); hasNote(r, note) {
		t.Errorf("passed run: notes %q", r.Notes)
	}
	if r, _, _ := fakeRun(t, script{startErr: errors.New("no qemu")}, nil); hasNote(r, note) {
		t.Errorf("QEMU never started: notes %q", r.Notes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var progress syncBuffer
	r, _, _ := fakeRunCtx(t, ctx, script{steps: map[int]behaviour{2: hangs}}, func(o *Options) {
		o.waits.StepGrace, o.Progress = 5*time.Second, &progress
		time.AfterFunc(50*time.Millisecond, cancel)
	})
	if r.ErrorKind != results.KindInterrupted || hasNote(r, note) || strings.Contains(progress.String(), "QEMU ran as") {
		t.Errorf("interrupted %s: notes %q, progress %q", r.ErrorKind, r.Notes, progress.String())
	}
}

// TestRunSetupErrors: a cell directory that cannot be made, and a module
// no family builds, end the run before any machine starts.
func TestRunSetupErrors(t *testing.T) {
	f := newFixture(t, script{})
	if err := os.WriteFile(f.runDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	exp := stepsOf("x", experiment.Step{Action: protocol.ActionLoad, Target: "m"})
	r := Run(context.Background(), f.o, f.p, exp, "run-1", f.runDir)
	if r.Verdict != results.Error || r.ErrorKind != results.KindBoot || r.Error == "" || len(f.b.machines()) != 0 {
		t.Errorf("no cell directory: %s %s: %s", r.Verdict, r.ErrorKind, r.Error)
	}
	if r.Experiment != "x" || r.Kernel.Name != "fake-6.1" || r.RunID != "run-1" {
		t.Errorf("record %+v", r)
	}

	f = newFixture(t, script{})
	exp = stepsOf("y")
	exp.Modules = []string{"m", "nosuch"}
	r, _ = f.run(exp)
	if r.ErrorKind != results.KindBadExperiment || !strings.Contains(r.Error, "experiment y needs module nosuch") || len(f.b.machines()) != 0 {
		t.Errorf("missing module: %s: %s", r.ErrorKind, r.Error)
	}
}

// TestConsoleWatch: lines split across reads are joined, a wait leaves
// the lines after its match to the next, and the tail holds the partial
// line.
func TestConsoleWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	appendTo := func(s string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	w := &consoleWatch{path: path}
	if got := w.read(); len(got) != 0 {
		t.Errorf("a missing console read %q", got)
	}
	if got := w.tail(); got != "; the console is empty" {
		t.Errorf("empty tail %q", got)
	}
	appendTo("one\ntw")
	if got := w.read(); len(got) != 1 || got[0] != "one" {
		t.Errorf("read %q", got)
	}
	if got := w.tail(); got != "; last console lines:\n  one\n  tw" {
		t.Errorf("tail with a partial line %q", got)
	}
	appendTo("o\nthree\nfour\n")
	m := &fakeMachine{exited: make(chan struct{}), panicked: make(chan struct{})}
	var seen []string
	match := func(want string) func(string) (bool, error) {
		return func(line string) (bool, error) {
			seen = append(seen, line)
			return line == want, nil
		}
	}
	if err := w.waitFor(context.Background(), m, time.Second, match("two")); err != nil {
		t.Fatal(err)
	}
	if err := w.waitFor(context.Background(), m, time.Second, match("four")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "two,three,four" {
		t.Errorf("matched %q", seen)
	}
	if err := w.waitFor(context.Background(), m, 30*time.Millisecond, match("five")); !errors.Is(err, errTimeout) {
		t.Errorf("no more lines: %v", err)
	}
	wantErr := errors.New("fatal")
	appendTo("five\n")
	if err := w.waitFor(context.Background(), m, time.Second, func(string) (bool, error) { return false, wantErr }); err != wantErr {
		t.Errorf("a failing match: %v", err)
	}
	appendTo("Kernel panic - not syncing: boom\n")
	if err := w.waitFor(context.Background(), m, time.Second, match("x")); err == nil || !strings.Contains(err.Error(), "the kernel panicked while booting: Kernel panic - not syncing: boom") {
		t.Errorf("panic: %v", err)
	}
	for i := range 250 {
		appendTo("line " + strings.Repeat("x", i%3) + "\n")
	}
	w.read()
	if len(w.lines) != 200 {
		t.Errorf("%d lines kept, want the last 200", len(w.lines))
	}
	if tail := w.tail(); strings.Count(tail, "\n  ") != 15 {
		t.Errorf("tail of %d lines: %q", strings.Count(tail, "\n  "), tail)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var re *runError
	if err := w.waitFor(ctx, m, time.Second, match("x")); !errors.As(err, &re) || re.kind != results.KindInterrupted {
		t.Errorf("canceled: %v", err)
	}
	m.exit(errors.New("gone"))
	if err := w.waitFor(context.Background(), m, time.Second, match("x")); !errors.As(err, &re) || re.kind != results.KindQEMUExited || !strings.HasPrefix(err.Error(), "gone; last console lines") {
		t.Errorf("exited: %v", err)
	}
}

// TestConsoleTail: an empty console says so.
func TestConsoleTail(t *testing.T) {
	for _, lines := range [][]string{nil, {""}} {
		if got := consoleTail(lines); got != "; the console is empty" {
			t.Errorf("consoleTail(%q) = %q", lines, got)
		}
	}
	if got := consoleTail([]string{"a", "b"}); got != "; last console lines:\n  a\n  b" {
		t.Errorf("consoleTail = %q", got)
	}
}

// TestAccelChosenByRun: without Matrix's choice the run chooses; a
// choice that cannot be made is the run's boot error.
func TestAccelChosenByRun(t *testing.T) {
	r, b, _ := fakeRun(t, script{}, func(o *Options) { o.Choice, o.Accel = nil, "tcg" })
	if r.ErrorKind != "" || r.Accel != vm.AccelTCG || len(b.machines()) != 1 {
		t.Errorf("tcg: %s %q, %d machines", r.Accel, r.Error, len(b.machines()))
	}
	r, b, _ = fakeRun(t, script{}, func(o *Options) { o.Choice, o.Accel = nil, "bogus" })
	if r.ErrorKind != results.KindBoot || !strings.Contains(r.Error, "bogus") || len(b.machines()) != 0 {
		t.Errorf("bogus: %s %q, %d machines", r.ErrorKind, r.Error, len(b.machines()))
	}
	if _, err := (Options{Accel: "bogus"}).chooseAccel(context.Background(), preparedOf("", "k")); err == nil {
		t.Errorf("no error for accel bogus")
	}
}

func preparedOf(archName, kernel string) *Prepared {
	return &Prepared{Image: &image.Image{Spec: &image.Spec{Name: "k", Arch: archName}}, BootKernel: kernel}
}

// TestForeignGuestsRunOnTCG: KVM runs only guests of the host's
// architecture. An arm64 kernel runs on TCG without a probe (no QEMU is
// started: the fake machine list stays empty) under auto, under a
// matrix's KVM choice too, and is refused under --accel kvm; amd64 keeps
// the choice.
func TestForeignGuestsRunOnTCG(t *testing.T) {
	ctx := context.Background()
	kvmAuto := &accel.Choice{Accel: vm.AccelKVM, Auto: true}
	for _, tc := range []struct {
		name    string
		o       Options
		arch    string
		want    string
		wantErr string
	}{
		{"arm64, auto, no probe", Options{Accel: "auto"}, "arm64", vm.AccelTCG, ""},
		{"arm64, default accel", Options{}, "arm64", vm.AccelTCG, ""},
		{"arm64, matrix chose KVM", Options{Choice: kvmAuto}, "arm64", vm.AccelTCG, ""},
		{"arm64, --accel kvm", Options{Accel: "kvm"}, "arm64", "", "not arm64 ones"},
		{"arm64, matrix chose KVM under --accel kvm", Options{Choice: &accel.Choice{Accel: vm.AccelKVM}}, "arm64", "", "use auto or tcg"},
		{"arm64, matrix chose TCG", Options{Choice: &accel.Choice{Accel: vm.AccelTCG}}, "arm64", vm.AccelTCG, ""},
		{"arm64, --accel tcg", Options{Accel: "tcg"}, "arm64", vm.AccelTCG, ""},
		{"arm64, --accel bogus", Options{Accel: "bogus"}, "arm64", "", "bogus"},
		{"amd64 keeps KVM", Options{Choice: kvmAuto}, "", vm.AccelKVM, ""},
	} {
		c, err := tc.o.chooseAccel(ctx, preparedOf(tc.arch, "/nonexistent/kernel"))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || c.Accel != tc.want {
			t.Errorf("%s: %q, %v; want %s", tc.name, c.Accel, err, tc.want)
		}
	}
}

// TestKVMInterruptedNotRetried: an interruption before the kernel printed
// under KVM is no reason to try TCG.
func TestKVMInterruptedNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, b, _ := fakeRunCtx(t, ctx, script{silentOn: vm.AccelKVM}, func(o *Options) {
		o.Choice = &accel.Choice{Accel: vm.AccelKVM, Auto: true}
		o.waits.KernelOutput = 5 * time.Second
		time.AfterFunc(50*time.Millisecond, cancel)
	})
	if r.ErrorKind != results.KindInterrupted || len(b.machines()) > 1 || hasNote(r, "retried") {
		t.Errorf("%s: %s; %d machines, notes %q", r.ErrorKind, r.Error, len(b.machines()), r.Notes)
	}
}

// TestSnapshotDirUnusable: a cache where no snapshot can be kept falls
// back to a cold boot.
func TestSnapshotDirUnusable(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	os.WriteFile(cache, nil, 0o600)
	r, b, _ := fakeRun(t, script{}, func(o *Options) { o.Snapshot, o.CacheDir = true, cache })
	if r.ErrorKind != "" || !hasNote(r, "snapshot restore failed (snapshot dir: ") || len(b.machines()) != 1 {
		t.Errorf("%s: notes %q, machines %+v", r.Error, r.Notes, b.machines())
	}
}

// TestQEMUBackendDialFails: a failed dial is a nil connection, not a
// typed nil in the interface.
func TestQEMUBackendDialFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	keys, err := agentclient.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	c, err := qemuBackend{}.dial(ctx, "127.0.0.1:1", keys)
	if err == nil || c != nil {
		t.Errorf("dial = %v, %v; want nil and an error", c, err)
	}
}

// TestQEMUBackendStartFails: a QEMU that cannot start is an error and
// no machine (nothing boots: the binary is not there).
func TestQEMUBackendStartFails(t *testing.T) {
	m, err := qemuBackend{}.start(context.Background(), vm.Config{QEMU: filepath.Join(t.TempDir(), "no-qemu")})
	if err == nil || m != nil {
		t.Errorf("start = %v, %v; want nil and an error", m, err)
	}
}
