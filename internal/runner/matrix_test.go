package runner

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
)

// TestMatrixUnpreparedKernel: a kernel whose packages cannot be had gets an
// error result in every cell, written to disk, instead of ending the run.
func TestMatrixUnpreparedKernel(t *testing.T) {
	spec := &image.Spec{Name: "debian-9.9", Release: "9.9.0-1-amd64", Suite: "nosuch",
		Packages: []image.Package{{Name: "linux-image-9.9.0-1-amd64", Version: "9.9-1", SHA256: strings.Repeat("0", 64)}}}
	exps := []*experiment.Spec{{Name: "a"}, {Name: "b"}}
	dir := t.TempDir()
	var got []*results.Result
	o := Options{CacheDir: t.TempDir(), Mirror: "http://127.0.0.1:9/debian", SecurityMirror: "http://127.0.0.1:9/debian-security"}
	err := Matrix(context.Background(), o, []*image.Spec{spec}, exps, "r", dir, 1, func(r *results.Result) { got = append(got, r) })
	// A background context is never canceled: any error here is Matrix's
	// own, and the kernel's cells should have carried it.
	if err != nil {
		t.Fatalf("Matrix = %v; want nil (the kernel's cells carry the error)", err)
	}
	if len(got) != 2 {
		t.Fatalf("Matrix reported %d results; want 2", len(got))
	}
	for _, r := range got {
		// The reason must be this image's fetch from its suite, not any
		// build error (a missing tool or a broken cache is "build" too).
		if r.Verdict != results.Error || r.ErrorKind != results.KindBuild || !strings.HasPrefix(r.Error, "image debian-9.9: nosuch serves no amd64 kernel") {
			t.Errorf("%s = %s/%s %q; want error/build: the image's kernel not served by its suite", r.Experiment, r.Verdict, r.ErrorKind, r.Error)
		}
		if _, err := results.Read(filepath.Join(dir, "debian-9.9", r.Experiment, "result.json")); err != nil {
			t.Errorf("result of %s not written: %v", r.Experiment, err)
		}
	}
}

// TestLongestFirst: cells with history run longest first, cells without
// any go first, and ties keep the matrix's order.
func TestLongestFirst(t *testing.T) {
	k := func(e string) results.CellKey { return results.CellKey{Kernel: "debian-6.1", Experiment: e} }
	last := map[results.CellKey]time.Duration{
		k("chardev-safe"): 1100 * time.Millisecond, k("proc-slow-hung"): 16 * time.Second,
		k("proc-slow"): 3 * time.Second, k("proc-safe"): 1100 * time.Millisecond,
	}
	cells := []string{"chardev-safe", "proc-safe", "new-one", "proc-slow-hung", "proc-slow", "another-new"}
	longestFirst(cells, k, last)
	want := []string{"new-one", "another-new", "proc-slow-hung", "proc-slow", "chardev-safe", "proc-safe"}
	if !slices.Equal(cells, want) {
		t.Errorf("order %v; want %v", cells, want)
	}
}
