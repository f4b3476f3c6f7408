package results

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/shard"
)

var (
	mergeKernels     = []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2"}
	mergeExperiments = []string{"chardev-safe", "chardev-unsafe"}
)

// realCell writes one cell of a run from a record a real `lab run` wrote
// on debian-6.1 (testdata/cells), moved to kernel and given some variety so
// that the matrix has a difference between kernels, a fail and an error.
func realCell(t *testing.T, runDir, runID, kernel, experiment string) {
	t.Helper()
	fixture := experiment + "-pass"
	if kernel == "debian-6.12" && experiment == "chardev-safe" {
		fixture = "chardev-safe-qemu-exited"
	}
	src := filepath.Join("testdata", "cells", fixture)
	r, err := Read(filepath.Join(src, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.RunID, r.Kernel.Name = runID, kernel
	if kernel == "debian-5.10" && experiment == "chardev-unsafe" {
		r.Verdict, r.Reason = Fail, "step 6: process state: want X, got D (disk sleep)"
		r.Processes[0].State = "D (disk sleep)"
	}
	dir, err := CellDir(runDir, kernel, experiment)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"console.log", "qemu.stderr"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// writeRun writes a finished run of every experiment in es on every kernel
// in ks, as lab matrix does (with --shard when sh is set).
func writeRun(t *testing.T, dir, runID string, ks, es []string, sh *shard.Shard) {
	t.Helper()
	run := &Run{RunID: runID, Kernels: ks, Experiments: es, Complete: true,
		Started: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), Finished: time.Date(2026, 1, 1, 10, 3, 0, 0, time.UTC)}
	if sh != nil {
		run.Shard, run.Planned = sh.String(), &Plan{Kernels: mergeKernels, Experiments: mergeExperiments}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		for _, e := range es {
			realCell(t, dir, runID, k, e)
		}
	}
}

// writeShards writes the n shards of the matrix, each as its own run.
func writeShards(t *testing.T, base string, n int) []string {
	t.Helper()
	var dirs []string
	for i := 1; i <= n; i++ {
		sh := shard.Shard{Index: i, Count: n}
		ks, es := sh.Split(mergeKernels, mergeExperiments)
		dir := filepath.Join(base, fmt.Sprintf("shard-%d", i))
		writeRun(t, dir, fmt.Sprintf("run-%d-of-%d", i, n), ks, es, &sh)
		dirs = append(dirs, dir)
	}
	return dirs
}

// withoutRunID drops the run's id from a report: all that may differ
// between one run and a merge of shards.
func withoutRunID(b []byte, id string) string {
	return strings.ReplaceAll(string(b), id, "ID")
}

// TestMergeShardsEqualsOneRun: the shards of a matrix, run apart and
// merged, give the matrix, verdicts, differences and reports of the same
// matrix run at once, and keep every cell's files as they were.
func TestMergeShardsEqualsOneRun(t *testing.T) {
	base := t.TempDir()
	full := filepath.Join(base, "full")
	writeRun(t, full, "unsharded-run", mergeKernels, mergeExperiments, nil)
	fullRun, fullRs, err := LoadRun(full)
	if err != nil {
		t.Fatal(err)
	}
	want := NewMatrix(fullRun, fullRs)
	if err := WriteReports(full, want); err != nil {
		t.Fatal(err)
	}
	var wantTable bytes.Buffer
	Table(&wantTable, want)
	for _, must := range []string{"debian-5.10", "debian-7.2", "FAIL", "ERROR: error: qemu-exited", "chardev-unsafe differs between kernels", "6 pass, 1 fail, 1 error\n"} {
		if !strings.Contains(wantTable.String(), must) {
			t.Fatalf("the unsharded matrix lacks %q; the fixture is not what this test needs:\n%s", must, wantTable.String())
		}
	}
	for _, n := range []int{2, 3, 4, 5} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			dirs := writeShards(t, filepath.Join(base, fmt.Sprint(n)), n)
			out := filepath.Join(base, fmt.Sprint(n), "merged")
			run, rs, err := Merge(out, dirs, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !run.Complete || len(rs) != 8 || len(run.Merged) != n || run.Merged[0].Shard != fmt.Sprintf("1/%d", n) || run.WallMS != 180000 {
				t.Errorf("merged run = complete %v, %d results, merged from %+v, wall %d ms; want complete, 8, the %d shards, 180000", run.Complete, len(rs), run.Merged, run.WallMS, n)
			}
			// What was written, read back as lab report would.
			onDisk, diskRs, err := LoadRun(out)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			Table(&got, NewMatrix(onDisk, diskRs))
			if got.String() != wantTable.String() {
				t.Errorf("merged matrix:\n%s\nwant, as one run:\n%s", got.String(), wantTable.String())
			}
			for _, f := range []string{"report.md", "junit.xml", "report.html"} {
				a, _ := os.ReadFile(filepath.Join(full, f))
				b, err := os.ReadFile(filepath.Join(out, f))
				wa, wb := withoutRunID(a, "unsharded-run"), withoutRunID(b, run.RunID)
				if err != nil || wa != wb {
					t.Errorf("merged %s differs from the unsharded one (%v):\n%s\nwant:\n%s", f, err, firstDiff(wb, wa), firstDiff(wa, wb))
				}
			}
			// Every cell's files, byte for byte from the shard that ran it.
			for i, dir := range dirs {
				cells, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
				for _, src := range cells {
					rel, _ := filepath.Rel(dir, src)
					a, _ := os.ReadFile(src)
					b, err := os.ReadFile(filepath.Join(out, rel))
					if err != nil || !bytes.Equal(a, b) {
						t.Errorf("%s of shard %d not copied as is: %v", rel, i+1, err)
					}
				}
			}
			if r, _ := Read(filepath.Join(out, "debian-7.2", "chardev-unsafe", "result.json")); r == nil || !strings.HasPrefix(r.RunID, "run-") {
				t.Errorf("merged result lost the run id of the shard that ran it: %+v", r)
			}
		})
	}
}

// firstDiff is the part of a from where it stops matching b.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[max(0, i-80):min(len(a), i+160)]
}

// TestMergeMissingShard: a shard that never uploaded leaves its cells
// missing and the merged run incomplete, though no surviving directory
// names its kernels: the shards record the whole matrix they belong to.
func TestMergeMissingShard(t *testing.T) {
	base := t.TempDir()
	dirs := writeShards(t, base, 4)
	run, rs, err := Merge(filepath.Join(base, "merged"), dirs[1:], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatrix(run, rs)
	if c := m.Counts(); run.Complete || c["missing"] != 2 || len(m.Kernels) != 4 {
		t.Errorf("merge without shard 1 = complete %v, counts %v, kernels %v; want incomplete, 2 missing of 4 kernels", run.Complete, c, m.Kernels)
	}
	md, _ := os.ReadFile(filepath.Join(base, "merged", "report.md"))
	if !bytes.Contains(md, []byte("2 not run — **incomplete run**")) {
		t.Errorf("report.md does not say the run is incomplete:\n%s", md)
	}
}

// TestMergeDuplicateCell: two results for one cell are an error naming
// both directories, and nothing is written.
func TestMergeDuplicateCell(t *testing.T) {
	base := t.TempDir()
	dirs := writeShards(t, base, 2)
	full := filepath.Join(base, "full")
	writeRun(t, full, "full", mergeKernels[:1], mergeExperiments[:1], nil)
	out := filepath.Join(base, "merged")
	_, _, err := Merge(out, append(dirs, full), time.Now())
	if err == nil || !strings.Contains(err.Error(), "chardev-safe on debian-5.10") || !strings.Contains(err.Error(), dirs[0]) || !strings.Contains(err.Error(), full) {
		t.Errorf("Merge with a cell twice = %v; want an error naming the cell, %s and %s", err, dirs[0], full)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 3 {
		t.Errorf("a failed merge left files behind: %v", entries)
	}
	if _, _, err := Merge(out, []string{dirs[0], dirs[1], dirs[0] + "/"}, time.Now()); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("Merge with a directory given twice = %v; want it named as given twice", err)
	}
}

// TestMergeRefusesNonEmptyOut: a merge never mixes with what is in OUT,
// but an empty OUT (made by a CI step, say) is fine.
func TestMergeRefusesNonEmptyOut(t *testing.T) {
	base := t.TempDir()
	dirs := writeShards(t, base, 2)
	out := filepath.Join(base, "out")
	os.MkdirAll(out, 0o700)
	if _, _, err := Merge(out, dirs, time.Now()); err != nil {
		t.Errorf("Merge into an empty directory = %v", err)
	}
	if _, _, err := Merge(out, dirs, time.Now()); err == nil || !strings.Contains(err.Error(), out+" is not empty") {
		t.Errorf("Merge into a full directory = %v; want it refused", err)
	}
}

// TestMergeSkipsLinks: a results artifact comes from another machine; a
// link in it must not be followed into this one.
func TestMergeSkipsLinks(t *testing.T) {
	base := t.TempDir()
	dirs := writeShards(t, base, 1)
	secret := filepath.Join(base, "secret")
	os.WriteFile(secret, []byte("host file"), 0o600)
	if err := os.Symlink(secret, filepath.Join(dirs[0], "debian-6.1", "chardev-safe", "console.log.1")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "merged")
	if _, _, err := Merge(out, dirs, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(out, "debian-6.1", "chardev-safe", "console.log.1")); !os.IsNotExist(err) {
		t.Errorf("merge copied a link (or what it points at): %v", err)
	}
}
