package runner

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/vm"
)

// Snapshots: per kernel, initramfs, QEMU, accelerator, machine and kernel
// command line, lab boots once to the point where the agent listens and
// waits for its keys, saves the VM to a file in the cache, and every later
// run restores a copy of it (see docs/design.md, "Snapshots").

// snapshotVersion changes when what a snapshot holds changes meaning.
const snapshotVersion = "lab-snapshot-1"

// restoreTimeout bounds loading a snapshot (it took ~2 s under TCG).
const restoreTimeout = 60 * time.Second

// snapshotSpec is everything a snapshot depends on.
type snapshotSpec struct {
	accel   string
	cmdline string
	cfg     vm.Config
}

func (s *session) snapshotSpec(acc, cmdline string) snapshotSpec {
	return snapshotSpec{accel: acc, cmdline: cmdline, cfg: vm.Config{
		Arch: s.p.Arch(), QEMU: s.o.qemuFor(s.p.Arch()), Kernel: s.p.BootKernel, Initrd: s.p.Initramfs.Path, Append: cmdline,
		Accel: acc, GuestPort: protocol.Port, KeyChannel: true, Log: s.o.Log,
	}}
}

// key names the snapshot: the kernel's and the keyless initramfs's content,
// how the kernel boots, QEMU's version and the machine's command line
// (accelerator, CPU, memory, devices, kernel command line included). The
// vmlinux a PVH boot starts is unpacked from the bzImage, so the bzImage's
// sha256, taken once in Prepare, names both: hashing the 60 MB vmlinux
// here again cost each cell about 50 ms.
func (s *session) snapshotKey(sp snapshotSpec) string {
	h := sha256.New()
	fmt.Fprintln(h, snapshotVersion)
	fmt.Fprintln(h, "kernel", s.p.KernelSHA256, "pvh", sp.cfg.Kernel != s.p.Image.KernelPath())
	fmt.Fprintln(h, "initramfs", s.p.Initramfs.SHA256)
	fmt.Fprintln(h, "qemu", s.o.qemuVersion(s.p.Arch()))
	fmt.Fprintln(h, "machine", vm.MachineSignature(sp.cfg))
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// SnapshotDir is where snapshots live in the cache.
func SnapshotDir(cacheDir string) string { return filepath.Join(cacheDir, "snapshots") }

// ensureSnapshot returns the sealed snapshot for sp, making it first when
// it is missing or damaged. A lock makes concurrent cells wait for one
// maker; once sealed the file is only ever read.
func (s *session) ensureSnapshot(ctx context.Context, sp snapshotSpec) (string, error) {
	dir := SnapshotDir(s.o.CacheDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("snapshot dir: %w", err)
	}
	path := filepath.Join(dir, s.snapshotKey(sp)+".snap")
	if safefile.Sealed(path) {
		return path, s.useSnapshot(path, sp)
	}
	unlock, err := safefile.Lock(ctx, path+".lock", s.o.Log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if safefile.Sealed(path) {
		return path, s.useSnapshot(path, sp)
	}
	fmt.Fprintf(s.progress(), "lab: %s: making a snapshot of a booted guest (once per kernel, initramfs and QEMU)\n", s.p.Image.Spec.Name)
	start := time.Now()
	if err := s.makeSnapshot(ctx, sp, path); err != nil {
		return "", fmt.Errorf("make snapshot %s: %w", path, err)
	}
	s.o.Log.Info("made snapshot", "path", path, "took", time.Since(start).Round(time.Millisecond))
	for _, old := range pruneSnapshots(dir, time.Now()) {
		s.o.Log.Info("removed a snapshot no run used", "path", old, "for", SnapshotUnusedFor)
	}
	return path, nil
}

// useSnapshot describes the snapshot (when it has no description yet) and
// marks it used now: the description's modification time is its last use.
func (s *session) useSnapshot(path string, sp snapshotSpec) error {
	if err := s.describeSnapshot(path, sp); err != nil {
		return err
	}
	now := time.Now()
	return os.Chtimes(metaOf(path), now, now)
}

// SnapshotUnusedFor is how long a snapshot may go unrestored before lab
// removes it (each is about 110 MB, and every new initramfs, kernel build or
// QEMU makes new ones while the old stay behind). Removal happens when a
// run makes a new snapshot, so a cache that only restores never shrinks
// under a run, and one of a project not touched for a month is made again
// (one cold boot) on its next run.
const SnapshotUnusedFor = 30 * 24 * time.Hour

// pruneSnapshots removes the snapshots in dir last used before now less
// SnapshotUnusedFor, with their seals and descriptions, and returns their
// paths. The last use is the description's modification time, or the
// snapshot's own for one without a description.
func pruneSnapshots(dir string, now time.Time) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.snap"))
	var removed []string
	for _, p := range paths {
		fi, err := os.Stat(metaOf(p))
		if err != nil {
			if fi, err = os.Stat(p); err != nil {
				continue
			}
		}
		if now.Sub(fi.ModTime()) < SnapshotUnusedFor {
			continue
		}
		if os.Remove(p) == nil {
			os.Remove(safefile.SealOf(p))
			os.Remove(metaOf(p))
			removed = append(removed, p)
		}
	}
	return removed
}

// makeSnapshot boots the keyless initramfs until the agent waits for its
// keys, saves the VM into a temporary file and seals it as path. The
// hung-task detector is not armed yet (runs arm it after restore), so no
// time the snapshot spends on disk can look like a hung task.
func (s *session) makeSnapshot(ctx context.Context, sp snapshotSpec, path string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(path), "making-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cfg := sp.cfg
	cfg.Console, cfg.Stderr = filepath.Join(tmp, "console.log"), filepath.Join(tmp, "qemu.stderr")
	t := s.o.timeouts(sp.accel)
	m, err := s.o.machines().start(ctx, cfg)
	if err != nil {
		return err
	}
	defer m.Stop()
	w := &consoleWatch{path: cfg.Console}
	err = w.waitFor(ctx, m, t.KernelOutput+t.AgentReady, func(line string) (bool, error) {
		if protocol.IsAwaitingKeys(line) {
			return true, nil
		}
		if msg, ok := protocol.ParseFatal(line); ok {
			return false, fmt.Errorf("guest agent failed: %s", msg)
		}
		if protocol.IsReady(line) {
			return false, errors.New("the agent found keys in a snapshot boot")
		}
		return false, nil
	})
	if errors.Is(err, errTimeout) {
		return fmt.Errorf("the agent did not wait for keys within %s%s", t.KernelOutput+t.AgentReady, w.tail())
	}
	if err != nil {
		return err
	}
	file := filepath.Join(tmp, "snap")
	if err := m.SaveSnapshot(file, 5*time.Minute); err != nil {
		return err
	}
	m.Stop()
	// The file first, then its seal: a reader trusts only a file whose
	// seal matches.
	os.Remove(safefile.SealOf(path))
	if err := os.Rename(file, path); err != nil {
		return err
	}
	os.Remove(metaOf(path))
	if err := safefile.Seal(path); err != nil {
		return err
	}
	return s.describeSnapshot(path, sp)
}

// describeSnapshot writes the snapshot's description when it has none (a
// new snapshot, or one an older lab made).
func (s *session) describeSnapshot(path string, sp snapshotSpec) error {
	if _, err := os.Stat(metaOf(path)); err == nil {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	meta, err := json.Marshal(snapshotMeta{Image: s.p.Image.Spec.Name, Release: s.p.Image.Spec.Release, Accel: sp.accel, Made: fi.ModTime().UTC()})
	if err != nil {
		return err
	}
	return safefile.WriteAtomic(metaOf(path), meta)
}

// snapshotMeta is written beside a snapshot (KEY.json): the key is a hash,
// and lab images and lab doctor say which image each snapshot is of.
type snapshotMeta struct {
	Image   string    `json:"image"`
	Release string    `json:"release"`
	Accel   string    `json:"accel"`
	Made    time.Time `json:"made"`
}

func metaOf(snap string) string { return strings.TrimSuffix(snap, ".snap") + ".json" }

// restore boots this run from the snapshot: QEMU loads it, the run's fresh
// keys and a random seed go over the key channel, and the agent, ready,
// takes the SSH connection as after a cold boot.
func (s *session) restore(ctx context.Context, acc string) error {
	s.newAttempt(acc)
	cmdline := kernelCmdline(s.p.Arch(), s.exp.Cmdline)
	sp := s.snapshotSpec(acc, cmdline)
	path, err := s.ensureSnapshot(ctx, sp)
	if err != nil {
		return err
	}
	s.r.Provenance = s.provenance(cmdline)
	s.t = s.o.timeouts(acc)
	keys, err := agentclient.NewKeys()
	if err != nil {
		return err
	}
	seed := make([]byte, protocol.SeedBytes)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	start := time.Now()
	if ps := s.pre.take(path); ps != nil {
		// Restored ahead of time, while the cells before this one ran.
		s.pre = nil
		s.adopt(ps, time.Since(start))
		return nil
	}
	s.pre = nil
	s.snapshotPath = path
	cfg := sp.cfg
	cfg.Incoming = true
	cfg.Console, cfg.Stderr = s.consolePath(), filepath.Join(s.dir, "qemu.stderr")
	m, err := s.o.machines().start(ctx, cfg)
	if err != nil {
		return err
	}
	s.machine = m
	if err := m.Restore(path, restoreTimeout); err != nil {
		return err
	}
	restored := time.Since(start)
	// The restored kernel has printed long ago; a death from now on is the
	// guest's, not the accelerator's.
	s.kernelPrinted = true
	msg := protocol.EncodeKeyMessage(protocol.KeyMessage{HostKeyPEM: string(keys.HostPEM), AuthorizedKey: string(keys.AuthorizedKey), Seed: seed})
	if err := m.SendKeys(msg, s.t.Dial); err != nil {
		return err
	}
	w := &consoleWatch{path: s.consolePath()}
	if err := w.waitFor(ctx, m, s.t.Dial, func(line string) (bool, error) {
		if msg, ok := protocol.ParseFatal(line); ok {
			return false, fmt.Errorf("guest agent failed: %s", msg)
		}
		return protocol.IsReady(line), nil
	}); err != nil {
		if errors.Is(err, errTimeout) {
			return fmt.Errorf("the restored agent was not ready within %s%s", s.t.Dial, w.tail())
		}
		return err
	}
	if err := s.dial(ctx, m, keys, w); err != nil {
		return err
	}
	s.r.TimingsMS["boot"] = time.Since(start).Milliseconds()
	s.r.TimingsMS["restore"] = restored.Milliseconds()
	s.r.Notes = append(s.r.Notes, fmt.Sprintf("restored from snapshot %s", filepath.Base(path)))
	fmt.Fprintf(s.progress(), "lab: %s restored on %s in %.1f s\n", s.p.Image.Spec.Name, acc, time.Since(start).Seconds())
	return nil
}

// bootOrRestore restores from a snapshot when the options ask for it, and
// boots cold when they do not or the restore fails (with a note saying why).
func (s *session) bootOrRestore(ctx context.Context, acc string) error {
	// A debugger wants the boot from its first instruction (and nokaslr).
	if !s.o.Snapshot || s.o.Cold || s.o.GDB {
		return s.boot(ctx, acc)
	}
	err := s.restore(ctx, acc)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fail(results.KindInterrupted, ctx.Err())
	}
	s.newAttempt(acc) // the failed restore's QEMU stops: its files are whole
	kept := s.keepFailedRestore()
	note := fmt.Sprintf("snapshot restore failed (%v); booted cold%s", err, kept)
	s.r.Notes = append(s.r.Notes, note)
	fmt.Fprintln(s.progress(), "lab:", note)
	return s.boot(ctx, acc)
}

// keepFailedRestore moves the failed restore's console log and QEMU stderr
// aside (restore-console.log, restore-qemu.stderr) before the cold boot
// writes its own: they are the evidence of what went wrong. It returns
// what the note says about them.
func (s *session) keepFailedRestore() string {
	moved := false
	for _, name := range []string{"console.log", "qemu.stderr", "qemu.cmdline"} {
		if os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, "restore-"+name)) == nil {
			moved = true
		}
	}
	if !moved {
		return ""
	}
	return "; its console log is restore-console.log"
}

// SnapshotEntry is one snapshot in the cache, for lab doctor and lab
// images. Image, Release and Accel are empty for a snapshot without its
// description (made by an older lab).
type SnapshotEntry struct {
	Path                  string
	Size                  int64
	Sealed                bool
	Image, Release, Accel string
	Made                  time.Time
}

// Snapshots lists the snapshots under cacheDir. With verify, Sealed says
// whether each matches its seal (a damaged one is made again by the next
// run that needs it), which hashes every file, about 110 MB each; without,
// it says only that the seal is there (lab images lists snapshots on every
// call and leaves the hashing to lab doctor and to the run that restores).
func Snapshots(cacheDir string, verify bool) ([]SnapshotEntry, error) {
	paths, err := filepath.Glob(filepath.Join(SnapshotDir(cacheDir), "*.snap"))
	if err != nil {
		return nil, err
	}
	var out []SnapshotEntry
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		e := SnapshotEntry{Path: p, Size: fi.Size()}
		if verify {
			e.Sealed = safefile.Sealed(p)
		} else {
			_, err := os.Stat(safefile.SealOf(p))
			e.Sealed = err == nil
		}
		var m snapshotMeta
		if b, err := os.ReadFile(metaOf(p)); err == nil && json.Unmarshal(b, &m) == nil {
			e.Image, e.Release, e.Accel, e.Made = m.Image, m.Release, m.Accel, m.Made
		}
		out = append(out, e)
	}
	return out, nil
}
