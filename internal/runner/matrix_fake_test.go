package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/vm"
)

// A kernel "tree" that Prepare takes for a built one, and a lab source
// tree whose agent is an empty program: Prepare runs for real (make
// against the tree, go build of the agent, the initramfs packed) in a
// fraction of a second, so that Matrix can run cells on the fake guests.
// The tree's make writes m.ko; the C programs and the stripped module
// are put in the initramfs cache beforehand, so no compiler runs.
type fakeLab struct {
	repo, cache string
	vmlinux     string
	spec        *image.Spec
}

func newFakeLab(t *testing.T) *fakeLab {
	t.Helper()
	tree, repo, cache := t.TempDir(), t.TempDir(), t.TempDir()
	write := func(root string, files map[string]string) {
		for f, c := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(tree, map[string]string{
		"arch/x86/boot/bzImage": "not a kernel", "System.map": "", "Module.symvers": "",
		"include/config/kernel.release": "6.9.0-tree\n",
		"Makefile":                      "modules:\n\tprintf 'ko of m' > $(M)/m.ko\n",
		// Only a packaged kernel's build root follows this compiler.
		".kernelvariables": "CC = gcc-99\n",
	})
	srcs := map[string]string{
		initramfs.HolderSource: "int main(void) { return 0; }\n",
		initramfs.InitSource:   "int main(void) { return 1; }\n",
	}
	write(repo, map[string]string{
		"kmods/fam/Kbuild":      "obj-m += m.o\n",
		"go.mod":                "module fakelab\n\ngo 1.22\n",
		"cmd/lab-agent/main.go": "package main\n\nfunc main() {}\n",
	})
	write(repo, srcs)
	// initramfs.Build's cache of the C programs and the stripped module.
	cached := map[string]string{}
	for name, src := range map[string]string{"lab-holder": initramfs.HolderSource, "lab-init": initramfs.InitSource} {
		sum := sha256.Sum256([]byte("-static -Os -s -Wall\n" + srcs[src]))
		cached[filepath.Join("initramfs", name+"-"+hex.EncodeToString(sum[:])[:16])] = "a program"
	}
	sum := sha256.Sum256([]byte("ko of m"))
	cached[filepath.Join("initramfs", "ko-"+hex.EncodeToString(sum[:])[:16]+".ko")] = "ko of m"
	write(cache, cached)
	// The vmlinux of the tree's bzImage, unpacked by an earlier run.
	sum = sha256.Sum256([]byte("not a kernel"))
	vmlinux := filepath.Join(cache, "vmlinux", hex.EncodeToString(sum[:])[:32]+".elf")
	write(cache, map[string]string{filepath.Join("vmlinux", filepath.Base(vmlinux)): "an ELF vmlinux"})
	if err := safefile.Seal(vmlinux); err != nil {
		t.Fatal(err)
	}
	return &fakeLab{repo: repo, cache: cache, vmlinux: vmlinux, spec: &image.Spec{Name: "tree-x", Tree: tree, Compiler: "true"}}
}

func (l *fakeLab) options(b *fakeBackend, progress *syncBuffer) Options {
	waits := fakeWaits
	o := Options{
		RepoRoot: l.repo, CacheDir: l.cache, QEMUVersion: "fake 8.0", Accel: "tcg",
		backend: b, waits: &waits, RunTimeout: 10 * time.Second,
	}
	if progress != nil {
		o.Progress = progress
	}
	return o
}

type collected struct {
	mu sync.Mutex
	rs []*results.Result
}

func (c *collected) add(r *results.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rs = append(c.rs, r)
}

func (c *collected) byExperiment() map[string]*results.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*results.Result{}
	for _, r := range c.rs {
		out[r.Kernel.Name+"/"+r.Experiment] = r
	}
	return out
}

func loadExp(name string, extra ...experiment.Step) *experiment.Spec {
	return &experiment.Spec{Name: name, Modules: []string{"m"}, Steps: append([]experiment.Step{{Action: protocol.ActionLoad, Target: "m"}}, extra...)}
}

// TestMatrixOnFakeGuests: Matrix prepares each kernel, chooses the
// accelerator once, runs every cell (with --repeat, every repeat, each
// from a fresh restore, one preloaded ahead), reports each result once
// and writes it, and leaves no machine running.
func TestMatrixOnFakeGuests(t *testing.T) {
	lab := newFakeLab(t)
	exps := []*experiment.Spec{loadExp("e1"), loadExp("e2")}

	t.Run("once", func(t *testing.T) {
		b := &fakeBackend{}
		var progress syncBuffer
		var got collected
		runDir := filepath.Join(t.TempDir(), "run-1")
		o := lab.options(b, &progress)
		err := Matrix(context.Background(), o, []*image.Spec{lab.spec, unbuiltTree(t, "tree-bad")}, exps, "run-1", runDir, 2, got.add)
		if err != nil {
			t.Fatal(err)
		}
		rs := got.byExperiment()
		if len(got.rs) != 4 || len(rs) != 4 {
			t.Fatalf("results %d: %v", len(got.rs), rs)
		}
		for _, e := range exps {
			r := rs["tree-x/"+e.Name]
			if r == nil || r.Verdict != results.Pass || r.Accel != vm.AccelTCG || r.Kernel.Release != "6.9.0-tree" || r.Repeats != nil || r.Provenance.QEMU != "fake 8.0" {
				t.Errorf("%s: %+v", e.Name, r)
				continue
			}
			if _, err := results.Read(filepath.Join(runDir, "tree-x", e.Name, "result.json")); err != nil {
				t.Errorf("%s not written: %v", e.Name, err)
			}
			if !strings.Contains(progress.String(), "lab: "+e.Name+" on tree-x: pass (") {
				t.Errorf("progress %q", progress.String())
			}
			if rs["tree-bad/"+e.Name].ErrorKind != results.KindBuild {
				t.Errorf("the unbuilt tree's %s: %+v", e.Name, rs["tree-bad/"+e.Name])
			}
		}
		if len(b.machines()) != 2 || b.running() != 0 {
			t.Errorf("machines %d, %d running", len(b.machines()), b.running())
		}
		for _, c := range b.machines() {
			if c.Kernel != lab.vmlinux {
				t.Errorf("booted %s, want the tree's vmlinux %s", c.Kernel, lab.vmlinux)
			}
		}
	})

	t.Run("repeats", func(t *testing.T) {
		b := &fakeBackend{}
		var progress syncBuffer
		var got collected
		runDir := filepath.Join(t.TempDir(), "run-2")
		o := lab.options(b, &progress)
		// No choice given: Matrix makes it once, and preloading needs it.
		o.Repeat, o.Snapshot = 3, true
		if err := Matrix(context.Background(), o, []*image.Spec{lab.spec}, exps, "run-2", runDir, 1, got.add); err != nil {
			t.Fatal(err)
		}
		rs := got.byExperiment()
		if len(got.rs) != 2 {
			t.Fatalf("%d results reported, want one per cell", len(got.rs))
		}
		for _, e := range exps {
			r := rs["tree-x/"+e.Name]
			if r == nil || r.Repeats == nil || r.Repeats.N != 3 || r.Repeats.Passed != 3 || r.Verdict != results.Pass || r.TimingsMS["repeats_total"] == 0 && r.TimingsMS["total"] != 0 {
				t.Errorf("%s: %+v", e.Name, r)
				continue
			}
			if cell, err := results.Read(filepath.Join(runDir, "tree-x", e.Name, "result.json")); err != nil || cell.Repeats == nil || cell.Repeats.N != 3 {
				t.Errorf("%s's cell record: %v", e.Name, err)
			}
			for i := 1; i <= 3; i++ {
				if _, err := results.Read(filepath.Join(runDir, "tree-x", e.Name, RepeatDir(i), "result.json")); err != nil {
					t.Errorf("%s repeat %d: %v", e.Name, i, err)
				}
				if !strings.Contains(progress.String(), "lab: "+e.Name+" on tree-x, repeat "+string(rune('0'+i))+"/3: pass (") {
					t.Errorf("progress lacks repeat %d of %s: %q", i, e.Name, progress.String())
				}
			}
		}
		// One snapshot maker, then a restore per repeat; the third
		// repeat of e1 (loaded while the second ran) was preloaded.
		if n := len(b.machines()); n != 1+6 || b.running() != 0 {
			t.Errorf("%d machines (%d running), want the snapshot maker and 6 restores", n, b.running())
		}
		r3, err := results.Read(filepath.Join(runDir, "tree-x", "e1", RepeatDir(3), "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r3.TimingsMS["preloaded"]; !ok {
			t.Errorf("repeat 3 was not preloaded: timings %v", r3.TimingsMS)
		}
	})

	t.Run("jobs run at once", func(t *testing.T) {
		// Each cell's load waits until both cells loaded: with one job
		// the first would wait in vain.
		b := &fakeBackend{script: script{meetAt: 1, meetN: 2}}
		var got collected
		o := lab.options(b, nil)
		o.Choice = &accel.Choice{Accel: vm.AccelTCG}
		o.waits.StepGrace = 5 * time.Second
		if err := Matrix(context.Background(), o, []*image.Spec{lab.spec}, exps, "run-4", filepath.Join(t.TempDir(), "run-4"), 2, got.add); err != nil {
			t.Fatal(err)
		}
		for _, r := range got.rs {
			if r.Verdict != results.Pass {
				t.Errorf("%s: %s %s", r.Experiment, r.Verdict, r.Error)
			}
		}
		if len(got.rs) != 2 {
			t.Errorf("%d results", len(got.rs))
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		b := &fakeBackend{}
		var got collected
		runDir := filepath.Join(t.TempDir(), "run-3")
		o := lab.options(b, nil)
		o.Repeat = 3
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The first repeat's sleep ends; the second's is interrupted.
		loaded := protocol.StepLine(protocol.Request{Step: 1, Action: protocol.ActionLoad, Module: "m"})
		go func() {
			for {
				if strings.Contains(readFile(filepath.Join(runDir, "tree-x", "slow", RepeatDir(2), "console.log")), loaded) {
					time.Sleep(20 * time.Millisecond)
					cancel()
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		// Cells with history run first: "slow" (none yet), then "later",
		// which never starts.
		slowExp := loadExp("slow", experiment.Step{Action: experiment.ActionSleep, Sleep: 150 * time.Millisecond})
		err := Matrix(ctx, o, []*image.Spec{lab.spec}, []*experiment.Spec{slowExp, loadExp("later")}, "run-3", runDir, 1, got.add)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Matrix = %v", err)
		}
		if len(got.rs) != 1 {
			t.Fatalf("%d results reported", len(got.rs))
		}
		r := got.rs[0]
		if r.Verdict != results.Error || r.ErrorKind != results.KindInterrupted || r.Repeats == nil {
			t.Errorf("the cut cell: %s %s %q", r.Verdict, r.ErrorKind, r.Error)
		}
		t.Logf("the cut cell: %s", r.Error)
		if strings.HasPrefix(r.Error, "only ") && (r.Error != "only 2 of 3 repeats ran: context canceled" || r.Repeats.N != 2) {
			t.Errorf("the cut cell: %q, %d repeats", r.Error, r.Repeats.N)
		}
		if cell, err := results.Read(filepath.Join(runDir, "tree-x", "slow", "result.json")); err != nil || cell.ErrorKind != results.KindInterrupted {
			t.Errorf("the cut cell's record: %v", err)
		}
		if b.running() != 0 {
			t.Errorf("%d machines run", b.running())
		}
	})
}
