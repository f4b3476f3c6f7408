package results

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMergeRealRunsWithRepeats: two real runs of other cells on one
// kernel, each cell of repeats, merge into one run that keeps every
// repeat's record byte for byte, spans both runs' time and says where
// each part came from.
func TestMergeRealRunsWithRepeats(t *testing.T) {
	a := filepath.Join("testdata", "runs", "20261204-135405-c5146c")
	b := filepath.Join("testdata", "runs", "20261204-143403-b0b311")
	out := filepath.Join(t.TempDir(), "merged")
	run, rs, err := Merge(out, []string{b, a}, time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(run.RunID, "20261205-090000-") || !run.Complete || len(rs) != 3 {
		t.Errorf("merged run %s, complete %v, %d results; want a new id, complete, 3 results", run.RunID, run.Complete, len(rs))
	}
	if !slices.Equal(run.Kernels, []string{"debian-6.1"}) || !slices.Equal(run.Experiments, []string{"fault-flaky", "timer-unsafe", "workqueue-unsafe"}) {
		t.Errorf("merged matrix %v × %v", run.Kernels, run.Experiments)
	}
	started := time.Date(2026, 12, 4, 13, 54, 5, 0, time.UTC)
	if run.Started.Truncate(time.Second) != started || run.Finished.Format(time.RFC3339) != "2026-12-04T14:35:27Z" || run.WallMS != run.Finished.Sub(run.Started).Milliseconds() || run.WallMS < 41*60*1000 {
		t.Errorf("merged run from %v to %v, wall %d ms; want the first run's start to the last one's end", run.Started, run.Finished, run.WallMS)
	}
	if len(run.Merged) != 2 || run.Merged[0] != (Source{Dir: b, RunID: "20261204-143403-b0b311", Complete: true, Cells: 2}) || run.Merged[1] != (Source{Dir: a, RunID: "20261204-135405-c5146c", Complete: true, Cells: 1}) {
		t.Errorf("merged from %+v", run.Merged)
	}
	var files []string
	for _, src := range []string{a, b} {
		got, _ := filepath.Glob(filepath.Join(src, "debian-6.1", "*", "repeat-*", "result.json"))
		for _, f := range got {
			rel, _ := filepath.Rel(src, f)
			files = append(files, rel)
			want, _ := os.ReadFile(f)
			copied, err := os.ReadFile(filepath.Join(out, rel))
			if err != nil || !bytes.Equal(copied, want) {
				t.Errorf("%s not copied as is: %v", rel, err)
			}
		}
	}
	if len(files) != 26 {
		t.Errorf("%d repeat records; want 6 + 10 + 10", len(files))
	}
	if st, err := os.Stat(filepath.Join(out, "debian-6.1", "timer-unsafe", "repeat-03")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("repeat directory: %v, %v; want 0700", st.Mode(), err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !bytes.HasPrefix(md, []byte("# lab run "+run.RunID+"\n\n2 pass, 0 fail, 1 error\n")) {
		t.Errorf("merged report.md:\n%s", md)
	}
	onDisk, _, err := LoadRun(out)
	if err != nil || onDisk.RunID != run.RunID || len(onDisk.Merged) != 2 {
		t.Errorf("merged run.json read back = %+v, %v", onDisk, err)
	}
}

// TestMergeRefusals: what Merge will not merge, each with its reason,
// and nothing written for it.
func TestMergeRefusals(t *testing.T) {
	base := t.TempDir()
	cell := func(dir, kernelDir, expDir, kernel, exp string) string {
		d, err := CellDir(dir, kernelDir, expDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(d, &Result{Experiment: exp, Kernel: Kernel{Name: kernel}, Verdict: Pass}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	good := cell(filepath.Join(base, "good"), "k", "e", "k", "e")
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o700)
	moved := cell(filepath.Join(base, "moved"), "k", "e2", "k", "e3")
	dotted := cell(filepath.Join(base, "dotted"), "k", "e4", "..", "e4")
	slashed := cell(filepath.Join(base, "slashed"), "k", "e5", "k/x", "e5")
	broken := filepath.Join(base, "broken")
	os.MkdirAll(filepath.Join(broken, "k", "e6"), 0o700)
	os.WriteFile(filepath.Join(broken, "k", "e6", "result.json"), []byte("{"), 0o600)
	file := filepath.Join(base, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	out := filepath.Join(base, "out")
	for _, tc := range []struct {
		name string
		out  string
		dirs []string
		want string
	}{
		{"nothing", out, nil, "merge: no run directories to merge"},
		{"not a run", out, []string{good, empty}, "merge: " + empty + " is not a run directory: no run.json and no */*/result.json"},
		{"a result in another cell's directory", out, []string{moved}, "merge: " + moved + ": the result of e3 on k lies in another cell's directory"},
		{"a kernel named ..", out, []string{dotted}, `merge: ` + dotted + `: a result names kernel "..", experiment "e4": not a cell directory`},
		{"a kernel with a slash", out, []string{slashed}, `a result names kernel "k/x"`},
		{"a broken result", out, []string{good, broken}, "merge: " + filepath.Join(broken, "k", "e6", "result.json")},
		{"out is a file", file, []string{good}, "merge: " + file + ": "},
		{"out under a file", filepath.Join(file, "out"), []string{good}, "merge: "},
	} {
		_, _, err := Merge(tc.out, tc.dirs, time.Now())
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Merge = %v; want %q", tc.name, err, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused merge wrote %s: %v", out, err)
	}
	for _, name := range []string{"", ".", "..", "a/b", "/a"} {
		if pathElement(name) {
			t.Errorf("pathElement(%q) = true", name)
		}
	}
	if !pathElement("debian-6.1") || !pathElement(".hidden") {
		t.Error("pathElement refuses a plain name")
	}
	// A run directory with only run.json (every cell failed to start) is
	// a run, of no cells.
	only := filepath.Join(base, "only")
	os.Mkdir(only, 0o700)
	WriteRun(only, &Run{RunID: "only", Kernels: []string{"k"}, Experiments: []string{"e9"}})
	run, rs, err := Merge(out, []string{good, only}, time.Now())
	if err != nil || len(rs) != 1 || run.Complete || !slices.Equal(run.Experiments, []string{"e", "e9"}) || run.Merged[1].Cells != 0 {
		t.Errorf("Merge with a run of no cells = %+v, %d results, %v; want it incomplete, e9 planned", run, len(rs), err)
	}
	if run.WallMS != 0 || !run.Started.IsZero() {
		t.Errorf("runs without times made a merged wall time %d ms, start %v", run.WallMS, run.Started)
	}
}

// TestMergeOrderAndCleanUp: the merged results come in the matrix's
// order, experiment then kernel, whatever the order of the directories;
// a merge that fails part way (here a repeat's file whose name leaves no
// room for the copy's temporary name) leaves nothing behind.
func TestMergeOrderAndCleanUp(t *testing.T) {
	base := t.TempDir()
	put := func(dir, kernel, exp string) string {
		d, err := CellDir(dir, kernel, exp)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(d, &Result{Experiment: exp, Kernel: Kernel{Name: kernel}, Verdict: Pass}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	one, two := filepath.Join(base, "one"), filepath.Join(base, "two")
	put(one, "debian-6.12", "proc-safe")
	put(one, "debian-6.1", "chardev-safe")
	put(two, "debian-5.10", "proc-safe")
	put(two, "debian-7.2", "chardev-safe")
	_, rs, err := Merge(filepath.Join(base, "merged"), []string{one, two}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range rs {
		order = append(order, r.Experiment+"@"+r.Kernel.Name)
	}
	if want := []string{"chardev-safe@debian-6.1", "chardev-safe@debian-7.2", "proc-safe@debian-5.10", "proc-safe@debian-6.12"}; !slices.Equal(order, want) {
		t.Errorf("merged results in order %v; want %v", order, want)
	}

	cell := put(filepath.Join(base, "three"), "debian-6.1", "timer-unsafe")
	rep := filepath.Join(cell, "repeat-01")
	os.Mkdir(rep, 0o700)
	if err := os.WriteFile(filepath.Join(rep, strings.Repeat("x", 245)), []byte("x"), 0o600); err != nil {
		t.Skipf("this file system takes no 245-byte names: %v", err)
	}
	parent := filepath.Join(base, "failed")
	out := filepath.Join(parent, "merged")
	if _, _, err := Merge(out, []string{filepath.Join(base, "three")}, time.Now()); err == nil || !strings.HasPrefix(err.Error(), "merge: ") {
		t.Fatalf("Merge with an uncopyable file = %v; want an error", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a failed merge left %v in %s", entries, parent)
	}
}
