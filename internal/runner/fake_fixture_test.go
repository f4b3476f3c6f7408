package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// fixture is a prepared fake kernel, the options of a run on a fake
// backend and a run directory: the parts fakeRun fixes, for tests that
// run their own experiments, call runIn, Shell or preload themselves.
type fixture struct {
	t      *testing.T
	tmp    string
	p      *Prepared
	o      Options
	b      *fakeBackend
	runDir string
}

func newFixture(t *testing.T, sc script) *fixture {
	t.Helper()
	tmp := t.TempDir()
	initrd := filepath.Join(tmp, "initramfs.cpio")
	if err := os.WriteFile(initrd, []byte("070701"), 0o600); err != nil {
		t.Fatal(err)
	}
	ko := filepath.Join(tmp, "m.ko")
	if err := os.WriteFile(ko, []byte("\x7fELF"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Prepared{
		Image:        &image.Image{Spec: &image.Spec{Name: "fake-6.1", Release: "6.1.0-fake"}, Root: filepath.Join(tmp, "root")},
		KernelSHA256: strings.Repeat("ab", 32),
		BootKernel:   filepath.Join(tmp, "vmlinux"),
		Modules:      map[string]string{"m": ko},
		Initramfs:    &initramfs.Image{Path: initrd, SHA256: strings.Repeat("cd", 32)},
	}
	b := &fakeBackend{script: sc}
	waits := fakeWaits
	o := Options{
		CacheDir: filepath.Join(tmp, "cache"), QEMUVersion: "fake 8.0",
		Choice:  &accel.Choice{Accel: vm.AccelTCG},
		backend: b, waits: &waits, RunTimeout: 10 * time.Second,
	}
	return &fixture{t: t, tmp: tmp, p: p, o: o, b: b, runDir: filepath.Join(tmp, "run")}
}

// run runs exp with the fixture's options and checks what every run
// must leave: no machine running, a readable result.
func (f *fixture) run(exp *experiment.Spec) (*results.Result, string) {
	f.t.Helper()
	return f.runCtx(context.Background(), exp)
}

func (f *fixture) runCtx(ctx context.Context, exp *experiment.Spec) (*results.Result, string) {
	f.t.Helper()
	r := Run(ctx, f.o, f.p, exp, "run-1", f.runDir)
	if n := f.b.running(); n != 0 {
		f.t.Errorf("%d machines still run after the run returned", n)
	}
	dir, _ := results.CellDir(f.runDir, f.p.Image.Spec.Name, exp.Name)
	if _, err := results.Read(filepath.Join(dir, "result.json")); err != nil {
		f.t.Errorf("the run wrote no readable result: %v", err)
	}
	return r, dir
}

// stepsOf is an experiment of steps on module m.
func stepsOf(name string, steps ...experiment.Step) *experiment.Spec {
	return &experiment.Spec{Name: name, Modules: []string{"m"}, Steps: steps}
}

// ownRequests are the requests of the runner's own (step 0) of action a.
func ownRequests(b *fakeBackend, a string) int {
	n := 0
	for _, r := range b.requests() {
		if r.Step == 0 && string(r.Action) == a {
			n++
		}
	}
	return n
}
