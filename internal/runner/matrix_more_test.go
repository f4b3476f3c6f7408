package runner

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
)

// unbuiltTree is the spec of a kernel tree that was never built: it
// fails to prepare at once, without a network or a build.
func unbuiltTree(t *testing.T, name string) *image.Spec {
	return &image.Spec{Name: name, Tree: filepath.Join(t.TempDir(), "linux")}
}

// TestMatrixUnbuiltTrees: every cell of each kernel that cannot be
// prepared gets its error result, reported and written, and the kernel's
// error names it; no cell boots.
func TestMatrixUnbuiltTrees(t *testing.T) {
	var progress syncBuffer
	b := &fakeBackend{}
	o := Options{CacheDir: t.TempDir(), QEMUVersion: "fake 8.0", Progress: &progress, backend: b}
	runDir := t.TempDir()
	exps := []*experiment.Spec{{Name: "a", Summary: "sa"}, {Name: "b"}}
	var got []*results.Result
	err := Matrix(context.Background(), o, []*image.Spec{unbuiltTree(t, "tree-1"), unbuiltTree(t, "tree-2")}, exps, "r1", runDir, 0, func(r *results.Result) { got = append(got, r) })
	if err != nil {
		t.Fatalf("Matrix = %v", err)
	}
	if len(got) != 4 {
		t.Fatalf("%d results, want 4", len(got))
	}
	for i, r := range got {
		kernel, exp := []string{"tree-1", "tree-2"}[i/2], exps[i%2]
		if r.Kernel.Name != kernel || r.Experiment != exp.Name || r.Summary != exp.Summary || r.RunID != "r1" ||
			r.Verdict != results.Error || r.ErrorKind != results.KindBuild || !strings.Contains(r.Error, "is not built") {
			t.Errorf("result %d: %+v", i, r)
		}
		if _, err := results.Read(filepath.Join(runDir, kernel, exp.Name, "result.json")); err != nil {
			t.Errorf("%s/%s not written: %v", kernel, exp.Name, err)
		}
	}
	out := progress.String()
	if !strings.Contains(out, "lab: preparing tree-1 (kernel packages, modules, initramfs)\n") || !strings.Contains(out, "lab: tree-2 cannot run: kernel tree ") {
		t.Errorf("progress %q", out)
	}
	if len(b.machines()) != 0 {
		t.Errorf("machines started")
	}
	// Without done the results are still written.
	runDir = t.TempDir()
	if err := Matrix(context.Background(), o, []*image.Spec{unbuiltTree(t, "tree-3")}, exps[:1], "r2", runDir, 2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := results.Read(filepath.Join(runDir, "tree-3", "a", "result.json")); err != nil {
		t.Errorf("not written without done: %v", err)
	}
}

// TestMatrixInterruptedWhilePreparing: an interruption while a kernel is
// prepared ends the matrix with it, without error results.
func TestMatrixInterruptedWhilePreparing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := Matrix(ctx, Options{CacheDir: t.TempDir(), QEMUVersion: "x"}, []*image.Spec{unbuiltTree(t, "tree-1")}, []*experiment.Spec{{Name: "a"}}, "r", t.TempDir(), 1, func(*results.Result) { called = true })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Matrix = %v (results reported: %v)", err, called)
	}
}

// TestUnprepared: the kind of a runError is kept; an error result is
// written where the cell's directory can be made.
func TestUnprepared(t *testing.T) {
	spec := &image.Spec{Name: "k", Release: "6.1.0-9"}
	runDir := t.TempDir()
	r := unprepared(spec, &experiment.Spec{Name: "e"}, "r", runDir, fail(results.KindBadExperiment, errors.New("no")))
	if r.ErrorKind != results.KindBadExperiment || r.Error != "no" || r.Kernel.Release != "6.1.0-9" || r.Checks == nil || r.Steps == nil {
		t.Errorf("%+v", r)
	}
	if _, err := results.Read(filepath.Join(runDir, "k", "e", "result.json")); err != nil {
		t.Errorf("not written: %v", err)
	}
	r = unprepared(spec, &experiment.Spec{Name: "e"}, "r", "/dev/null/x", errors.New("plain"))
	if r.ErrorKind != results.KindBuild || r.Verdict != results.Error {
		t.Errorf("%+v", r)
	}
}
