package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/vm"
)

func snapshotOpts(cache string) func(*Options) {
	return func(o *Options) { o.Snapshot, o.CacheDir = true, cache }
}

// TestSnapshotMakingFails: a snapshot boot that does not end waiting for
// its keys, or cannot be saved, makes no snapshot; the run boots cold and
// says why.
func TestSnapshotMakingFails(t *testing.T) {
	tests := []struct {
		name string
		sc   script
		note string
	}{
		{"the agent fails", script{snapshotLine: protocol.FatalLine(errors.New("no rng"))}, "guest agent failed: no rng"},
		{"the agent finds keys", script{snapshotLine: protocol.ReadyLine()}, "the agent found keys in a snapshot boot"},
		{"the agent never waits for keys", script{snapshotLine: "none"}, "the agent did not wait for keys within 600ms; last console lines:\n  [    1.000000] Linux version"},
		{"saving fails", script{saveErr: errors.New("disk full")}, "disk full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			var progress syncBuffer
			r, b, _ := fakeRun(t, tc.sc, func(o *Options) { snapshotOpts(cache)(o); o.Progress = &progress })
			if r.ErrorKind != "" {
				t.Fatalf("the cold boot failed: %s", r.Error)
			}
			if !hasNote(r, "snapshot restore failed (make snapshot ") || !hasNote(r, tc.note) {
				t.Errorf("notes %q lack %q", r.Notes, tc.note)
			}
			ms := b.machines()
			if len(ms) != 2 || !ms[0].KeyChannel || ms[1].KeyChannel || ms[1].Incoming {
				t.Errorf("machines %+v; want the snapshot maker, then a cold boot", ms)
			}
			if !strings.Contains(progress.String(), "making a snapshot of a booted guest") || !strings.Contains(progress.String(), "lab: snapshot restore failed") {
				t.Errorf("progress %q", progress.String())
			}
			if snaps, _ := Snapshots(cache, false); len(snaps) != 0 {
				t.Errorf("snapshots %+v after a failed making", snaps)
			}
			left, _ := filepath.Glob(filepath.Join(SnapshotDir(cache), "making-*"))
			if len(left) != 0 {
				t.Errorf("the maker's files stay: %v", left)
			}
		})
	}
}

// TestSnapshotDescribedAndUsed: a new snapshot is described; each restore
// marks it used; making one prunes those unused for a month, restoring
// does not.
func TestSnapshotDescribedAndUsed(t *testing.T) {
	cache := t.TempDir()
	dir := SnapshotDir(cache)
	os.MkdirAll(dir, 0o700)
	old := time.Now().Add(-SnapshotUnusedFor - time.Hour)
	stale := filepath.Join(dir, "stale.snap")
	os.WriteFile(stale, []byte("old"), 0o600)
	os.Chtimes(stale, old, old)

	r, _, _ := fakeRun(t, script{}, snapshotOpts(cache))
	if r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("making a snapshot left a stale one")
	}
	snaps, _ := Snapshots(cache, true)
	if len(snaps) != 1 || !snaps[0].Sealed || snaps[0].Image != "fake-6.1" || snaps[0].Release != "6.1.0-fake" || snaps[0].Accel != vm.AccelTCG || snaps[0].Made.IsZero() {
		t.Fatalf("snapshots %+v", snaps)
	}
	snap := snaps[0].Path
	if len(filepath.Base(snap)) != 24+len(".snap") {
		t.Errorf("snapshot name %s: want a 24-digit key", filepath.Base(snap))
	}
	// Age its description and put another stale snapshot beside it.
	os.Chtimes(metaOf(snap), old, old)
	os.WriteFile(stale, []byte("old"), 0o600)
	os.Chtimes(stale, old, old)
	r, _, _ = fakeRun(t, script{}, snapshotOpts(cache))
	if r.ErrorKind != "" || !hasNote(r, "restored from snapshot "+filepath.Base(snap)) {
		t.Fatalf("%s: %q", r.Error, r.Notes)
	}
	fi, err := os.Stat(metaOf(snap))
	if err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Errorf("the restore did not mark the snapshot used: %v %v", fi, err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("a restore pruned a snapshot: %v", err)
	}
	// A snapshot an older lab made, without a description, gets one.
	os.Remove(metaOf(snap))
	if r, _, _ = fakeRun(t, script{}, snapshotOpts(cache)); r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	var meta snapshotMeta
	if b, err := os.ReadFile(metaOf(snap)); err != nil || json.Unmarshal(b, &meta) != nil || meta.Image != "fake-6.1" || meta.Accel != "tcg" {
		t.Errorf("description %+v, %v", meta, err)
	}
}

// TestRestoredRecord: a restored run records the restore's timings and
// the snapshot's command line (no keys, no nokaslr).
func TestRestoredRecord(t *testing.T) {
	cache := t.TempDir()
	fakeRun(t, script{}, snapshotOpts(cache))
	var progress syncBuffer
	r, b, dir := fakeRun(t, script{}, func(o *Options) { snapshotOpts(cache)(o); o.Progress = &progress })
	if r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	for _, k := range []string{"restore", "boot"} {
		if _, ok := r.TimingsMS[k]; !ok {
			t.Errorf("timings %v lack %s", r.TimingsMS, k)
		}
	}
	if _, ok := r.TimingsMS["kernel_output"]; ok {
		t.Errorf("a restore has a kernel_output timing")
	}
	if r.Provenance.Cmdline != "console=ttyS0 panic=-1 acpi=noirq" || r.Accel != vm.AccelTCG || r.Provenance.QEMU != "fake 8.0" {
		t.Errorf("provenance %+v, accel %s", r.Provenance, r.Accel)
	}
	ms := b.machines()
	if len(ms) != 1 || !ms[0].Incoming || !ms[0].KeyChannel || ms[0].Console != filepath.Join(dir, "console.log") || filepath.Base(ms[0].Initrd) != "initramfs.cpio" {
		t.Errorf("machines %+v", ms)
	}
	if !strings.Contains(progress.String(), "lab: fake-6.1 restored on tcg in ") || strings.Contains(progress.String(), "making a snapshot") {
		t.Errorf("progress %q", progress.String())
	}
}

// TestSnapshotNotUsed: --cold and --gdb boot cold even with snapshots.
func TestSnapshotNotUsed(t *testing.T) {
	for _, tweak := range []func(*Options){
		func(o *Options) { o.Cold = true },
		func(o *Options) { o.GDB = true; o.GDBStep = 1; go o.backend.(*fakeBackend).continueWhenPaused() },
	} {
		cache := t.TempDir()
		r, b, _ := fakeRun(t, script{}, func(o *Options) { snapshotOpts(cache)(o); tweak(o) })
		if ms := b.machines(); r.ErrorKind != "" || len(ms) != 1 || ms[0].Incoming || ms[0].KeyChannel {
			t.Errorf("%s: machines %+v", r.Error, ms)
		}
		if snaps, _ := Snapshots(cache, false); len(snaps) != 0 {
			t.Errorf("a snapshot was made: %+v", snaps)
		}
	}
}

// TestRestoreInterrupted: an interrupted restore is not followed by a
// cold boot.
func TestRestoreInterrupted(t *testing.T) {
	cache := t.TempDir()
	fakeRun(t, script{}, snapshotOpts(cache))
	ctx, cancel := context.WithCancel(context.Background())
	r, b, _ := fakeRunCtx(t, ctx, script{silentAfterRestore: true}, func(o *Options) {
		snapshotOpts(cache)(o)
		o.waits.Dial = 5 * time.Second
		time.AfterFunc(50*time.Millisecond, cancel)
	})
	if r.ErrorKind != results.KindInterrupted || len(b.machines()) > 1 || hasNote(r, "booted cold") {
		t.Errorf("%s (%s): machines %+v, notes %q", r.ErrorKind, r.Error, b.machines(), r.Notes)
	}
}

// TestRestoreDialFails: a restored agent that refuses the connection
// fails the restore; the cold boot's agent refuses too.
func TestRestoreDialFails(t *testing.T) {
	cache := t.TempDir()
	fakeRun(t, script{}, snapshotOpts(cache))
	r, _, _ := fakeRun(t, script{noAgent: true}, snapshotOpts(cache))
	// The restore's dial fails; the cold boot's too.
	if r.ErrorKind != results.KindAgentLost || !hasNote(r, "snapshot restore failed (") {
		t.Errorf("%s: %s; notes %q", r.ErrorKind, r.Error, r.Notes)
	}
}

// TestSnapshotKey: the key changes with everything a snapshot depends on
// and with nothing else.
func TestSnapshotKey(t *testing.T) {
	f := newFixture(t, script{})
	exp := stepsOf("k")
	key := func(tweak func(*session), acc, cmdline string) string {
		p := *f.p
		img := *p.Image
		p.Image = &img
		ir := *p.Initramfs
		p.Initramfs = &ir
		s := &session{o: f.o, p: &p, exp: exp}
		if tweak != nil {
			tweak(s)
		}
		return s.snapshotKey(s.snapshotSpec(acc, cmdline))
	}
	base := key(nil, vm.AccelTCG, "console=ttyS0")
	if len(base) != 24 || base != key(nil, vm.AccelTCG, "console=ttyS0") {
		t.Fatalf("key %q is not a stable 24-digit key", base)
	}
	if key(func(s *session) { s.exp = stepsOf("other") }, vm.AccelTCG, "console=ttyS0") != base {
		t.Errorf("the key depends on the experiment")
	}
	changes := map[string]string{
		"accel":     key(nil, vm.AccelKVM, "console=ttyS0"),
		"cmdline":   key(nil, vm.AccelTCG, "console=ttyS0 quiet"),
		"kernel":    key(func(s *session) { s.p.KernelSHA256 = "00" }, vm.AccelTCG, "console=ttyS0"),
		"initramfs": key(func(s *session) { s.p.Initramfs = &initramfs.Image{Path: s.p.Initramfs.Path, SHA256: "00"} }, vm.AccelTCG, "console=ttyS0"),
		"qemu":      key(func(s *session) { s.o.QEMUVersion = "fake 9.0" }, vm.AccelTCG, "console=ttyS0"),
		"pvh":       key(func(s *session) { s.p.BootKernel = s.p.Image.KernelPath() }, vm.AccelTCG, "console=ttyS0"),
	}
	for what, k := range changes {
		if k == base {
			t.Errorf("the key does not change with the %s", what)
		}
	}
}

// TestPreload: a preloaded guest is adopted by the run it was loaded for;
// one loaded from another snapshot is stopped and the run restores its
// own; a cell that will not restore is not preloaded.
func TestPreload(t *testing.T) {
	exp := stepsOf("pre", experiment.Step{Action: protocol.ActionLoad, Target: "m"})
	f := newFixture(t, script{})
	f.o.Snapshot = true
	// Not preloaded: no snapshot yet, --cold, --gdb, no accelerator chosen.
	for name, o := range map[string]Options{
		"no snapshot option": func() Options { o := f.o; o.Snapshot = false; return o }(),
		"cold":               func() Options { o := f.o; o.Cold = true; return o }(),
		"gdb":                func() Options { o := f.o; o.GDB = true; return o }(),
		"no choice":          func() Options { o := f.o; o.Choice = nil; return o }(),
		"no snapshot made":   f.o,
	} {
		pl := preload(context.Background(), o, f.p, exp, t.TempDir())
		<-pl.ready
		if pl.err != errNoPreload || pl.s != nil {
			t.Errorf("%s: preload %v", name, pl.err)
		}
	}
	if len(f.b.machines()) != 0 {
		t.Fatalf("machines started: %+v", f.b.machines())
	}
	// Make the snapshot.
	if r, _ := f.run(exp); r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	made := len(f.b.machines())

	dir, err := unitDir(f.runDir, f.p, exp, 2)
	if err != nil || filepath.Base(dir) != "repeat-02" {
		t.Fatalf("unitDir = %s, %v", dir, err)
	}
	pl := preload(context.Background(), f.o, f.p, exp, dir)
	<-pl.ready
	if pl.err != nil || pl.s == nil {
		t.Fatalf("preload: %v", pl.err)
	}
	r := runIn(context.Background(), f.o, f.p, exp, "run-2", dir, nil, pl)
	if r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	if n := len(f.b.machines()) - made; n != 1 {
		t.Errorf("%d machines for the preloaded run, want the preloaded one", n)
	}
	if _, ok := r.TimingsMS["preloaded"]; !ok || !hasNote(r, "restored from snapshot ") || r.Accel != vm.AccelTCG || r.Provenance.Cmdline == "" {
		t.Errorf("adopted run: timings %v, notes %q, accel %q, provenance %+v", r.TimingsMS, r.Notes, r.Accel, r.Provenance)
	}
	if _, ok := r.TimingsMS["restore"]; !ok {
		t.Errorf("timings %v lack the preload's restore", r.TimingsMS)
	}
	if _, err := results.Read(filepath.Join(dir, "result.json")); err != nil {
		t.Errorf("the repeat's result: %v", err)
	}
	if f.b.running() != 0 {
		t.Errorf("%d machines run", f.b.running())
	}

	// Preloaded for another snapshot (another command line): discarded.
	other := stepsOf("pre", experiment.Step{Action: protocol.ActionLoad, Target: "m"})
	other.Cmdline = "quiet"
	if r, _ := f.run(other); r.ErrorKind != "" { // makes that snapshot
		t.Fatal(r.Error)
	}
	before := len(f.b.machines())
	pl = preload(context.Background(), f.o, f.p, other, dir)
	<-pl.ready
	if pl.s == nil {
		t.Fatalf("preload: %v", pl.err)
	}
	r = runIn(context.Background(), f.o, f.p, exp, "run-3", dir, nil, pl)
	if r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	if _, ok := r.TimingsMS["preloaded"]; ok {
		t.Errorf("a guest of another snapshot was adopted")
	}
	if n := len(f.b.machines()) - before; n != 2 {
		t.Errorf("%d machines, want the discarded preload and the run's own restore", n)
	}
	if f.b.running() != 0 {
		t.Errorf("%d machines run after the discarded preload", f.b.running())
	}

	// A run that boots cold (its directory failed) discards the preload.
	pl = preload(context.Background(), f.o, f.p, exp, dir)
	runIn(context.Background(), f.o, f.p, exp, "run-4", dir, errors.New("no dir"), pl)
	if f.b.running() != 0 || pl.s != nil {
		t.Errorf("%d machines run after an unused preload", f.b.running())
	}
	var nilPre *preloaded
	nilPre.discard()
	if nilPre.take("x") != nil {
		t.Errorf("a nil preload handed a session")
	}
}

// TestPreloadRestoreFails: a preload whose restore fails stops its VM and
// leaves the run to restore (and here fall back) by itself.
func TestPreloadRestoreFails(t *testing.T) {
	exp := stepsOf("pre", experiment.Step{Action: protocol.ActionLoad, Target: "m"})
	f := newFixture(t, script{})
	f.o.Snapshot = true
	if r, _ := f.run(exp); r.ErrorKind != "" {
		t.Fatal(r.Error)
	}
	f.b.script.restoreErr = errors.New("bad snapshot")
	dir, _ := unitDir(f.runDir, f.p, exp, 0)
	pl := preload(context.Background(), f.o, f.p, exp, dir)
	<-pl.ready
	if pl.err == nil || pl.s != nil || f.b.running() != 0 {
		t.Fatalf("preload: %v, %d running", pl.err, f.b.running())
	}
	r := runIn(context.Background(), f.o, f.p, exp, "run-2", dir, nil, pl)
	if r.ErrorKind != "" || !hasNote(r, "snapshot restore failed (bad snapshot)") {
		t.Errorf("%s: notes %q", r.Error, r.Notes)
	}
}

// TestSnapshotsMeta: the listing reads each snapshot's description.
func TestSnapshotsMeta(t *testing.T) {
	cache := t.TempDir()
	dir := SnapshotDir(cache)
	os.MkdirAll(dir, 0o700)
	p := filepath.Join(dir, "k.snap")
	os.WriteFile(p, []byte("state"), 0o600)
	made := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, _ := json.Marshal(snapshotMeta{Image: "debian-6.1", Release: "6.1.0-9", Accel: "kvm", Made: made})
	os.WriteFile(metaOf(p), b, 0o600)
	snaps, err := Snapshots(cache, false)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("%+v %v", snaps, err)
	}
	e := snaps[0]
	if e.Path != p || e.Size != 5 || e.Sealed || e.Image != "debian-6.1" || e.Release != "6.1.0-9" || e.Accel != "kvm" || !e.Made.Equal(made) {
		t.Errorf("entry %+v", e)
	}
	if safefile.Sealed(p) {
		t.Errorf("unsealed counts as sealed")
	}
}

// TestPruneSnapshotsAtTheBound: a snapshot unused for exactly
// SnapshotUnusedFor goes.
func TestPruneSnapshotsAtTheBound(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p := filepath.Join(dir, "bound.snap")
	os.WriteFile(p, []byte("x"), 0o600)
	at := now.Add(-SnapshotUnusedFor)
	os.Chtimes(p, at, at)
	if fi, _ := os.Stat(p); !fi.ModTime().Equal(at) {
		t.Skip("the file system does not keep nanoseconds")
	}
	if removed := pruneSnapshots(dir, now); len(removed) != 1 {
		t.Errorf("removed %v", removed)
	}
	q := filepath.Join(dir, "young.snap")
	os.WriteFile(q, []byte("x"), 0o600)
	at = now.Add(-SnapshotUnusedFor + time.Nanosecond)
	os.Chtimes(q, at, at)
	if removed := pruneSnapshots(dir, now); len(removed) != 0 {
		t.Errorf("removed %v", removed)
	}
}

// TestSnapshotBootWaitsForKeysLine: the snapshot boot waits for the
// awaiting-keys line up to both boot waits.
func TestSnapshotBootWaitsForKeysLine(t *testing.T) {
	cache := t.TempDir()
	r, b, _ := fakeRun(t, script{keysAfter: 80 * time.Millisecond}, snapshotOpts(cache))
	if r.ErrorKind != "" || hasNote(r, "snapshot restore failed") || len(b.machines()) != 2 {
		t.Errorf("%s: notes %q", r.Error, r.Notes)
	}
}

// TestSnapshotKeyContent: the key is the documented hash of what the
// snapshot depends on.
func TestSnapshotKeyContent(t *testing.T) {
	f := newFixture(t, script{})
	for _, pvh := range []bool{true, false} {
		p := *f.p
		if !pvh {
			p.BootKernel = p.Image.KernelPath()
		}
		s := &session{o: f.o, p: &p, exp: stepsOf("k")}
		sp := s.snapshotSpec(vm.AccelTCG, "console=ttyS0")
		h := sha256.New()
		fmt.Fprintln(h, "lab-snapshot-1")
		fmt.Fprintln(h, "kernel", p.KernelSHA256, "pvh", pvh)
		fmt.Fprintln(h, "initramfs", p.Initramfs.SHA256)
		fmt.Fprintln(h, "qemu", "fake 8.0")
		fmt.Fprintln(h, "machine", vm.MachineSignature(sp.cfg))
		if got, want := s.snapshotKey(sp), hex.EncodeToString(h.Sum(nil))[:24]; got != want {
			t.Errorf("pvh %v: key %s, want %s", pvh, got, want)
		}
		if !sp.cfg.KeyChannel || sp.cfg.Incoming || sp.cfg.Initrd != p.Initramfs.Path || sp.cfg.Kernel != p.BootKernel || sp.cfg.Append != "console=ttyS0" || sp.cfg.Accel != vm.AccelTCG {
			t.Errorf("snapshot machine %+v", sp.cfg)
		}
	}
}
