package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNewRunID: a run id is the UTC time, sortable, and random bits that
// keep two runs started in the same second apart.
func TestNewRunID(t *testing.T) {
	now := time.Date(2026, 12, 4, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	id := NewRunID(now)
	if !regexp.MustCompile(`^20261204-140405-[0-9a-f]{6}$`).MatchString(id) {
		t.Errorf("NewRunID = %q; want 20261204-140405-XXXXXX (UTC)", id)
	}
	seen := map[string]bool{}
	for range 20 {
		seen[NewRunID(now)] = true
	}
	if len(seen) < 19 {
		t.Errorf("20 run ids of one second hold only %d distinct", len(seen))
	}
	if a, b := NewRunID(now), NewRunID(now.Add(time.Second)); a[:15] >= b[:15] {
		t.Errorf("a later run's id %s does not sort after %s", b, a)
	}
}

// TestRunDirMovesLatest: each run directory is private (0700) and
// results/latest follows the newest, replaced rather than left stale.
func TestRunDirMovesLatest(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results")
	for _, id := range []string{"20261204-100000-aaaaaa", "20261204-110000-bbbbbb"} {
		dir, err := RunDir(results, id)
		if err != nil || dir != filepath.Join(results, id) {
			t.Fatalf("RunDir(%s) = %s, %v", id, dir, err)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a 0700 directory", id, st.Mode(), err)
		}
		if target, err := os.Readlink(filepath.Join(results, "latest")); err != nil || target != id {
			t.Errorf("latest -> %s, %v; want %s", target, err, id)
		}
	}
	entries, _ := os.ReadDir(results)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"20261204-100000-aaaaaa", "20261204-110000-bbbbbb", "latest"}; !slices.Equal(names, want) {
		t.Errorf("results/ holds %v; want %v (no temporary link left)", names, want)
	}
	// A file where the results directory should be.
	blocked := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocked, nil, 0o600)
	if _, err := RunDir(blocked, "x"); err == nil {
		t.Error("RunDir under a file succeeded")
	}
	// A directory where the link should go cannot be renamed over.
	results2 := t.TempDir()
	os.MkdirAll(filepath.Join(results2, "latest", "x"), 0o700)
	if _, err := RunDir(results2, "r"); err == nil {
		t.Error("RunDir replaced a directory named latest")
	}
}

// TestReadSchemas: a schema 1 record gets its signature computed on read;
// a schema 2 record keeps the one lab wrote, even where this lab would
// compute another.
func TestReadSchemas(t *testing.T) {
	one, err := Read("testdata/cells/chardev-safe-pass/result.json")
	if err != nil || one.Schema != 1 || one.Signature == nil {
		t.Fatalf("Read(schema 1) = %+v, %v", one, err)
	}
	if got := one.Signature.Key(); got != SignatureOf(one).Key() || !strings.Contains(got, "step 4 unload chardev_safe: EAGAIN") {
		t.Errorf("schema 1 signature:\n%s", got)
	}
	two, err := Read("testdata/runs/20261204-143940-79b870/debian-6.12/notifier-unsafe/result.json")
	if err != nil || two.Schema != 2 || two.Signature == nil {
		t.Fatalf("Read(schema 2) = %+v, %v", two, err)
	}
	if want := []string{"verdict fail", "step 1 load notifier_unsafe: ok", "step 2 unload notifier_unsafe: ok", "step 3 exec insmod /lab/modules/timer_safe.ko: failed"}; !slices.Equal(two.Signature.Lines(), want) {
		t.Errorf("schema 2 signature %q; want %q", two.Signature.Lines(), want)
	}
	// The record's own signature is what Read gives.
	dir := t.TempDir()
	b, _ := os.ReadFile("testdata/runs/20261204-143940-79b870/debian-6.12/notifier-unsafe/result.json")
	var raw map[string]any
	json.Unmarshal(b, &raw)
	raw["signature"] = map[string]any{"verdict": "pass", "steps": []any{}, "reports": []any{}, "processes": []any{}}
	b, _ = json.Marshal(raw)
	os.WriteFile(filepath.Join(dir, "result.json"), b, 0o600)
	kept, err := Read(filepath.Join(dir, "result.json"))
	if err != nil || kept.Signature.Key() != "verdict pass" || kept.Verdict != Fail {
		t.Errorf("Read kept signature %v, %v; want the recorded one (verdict pass) on a fail record", kept.Signature, err)
	}
	if _, err := Read(filepath.Join(dir, "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read(missing) = %v", err)
	}
	var newer *NewerSchemaError
	os.WriteFile(filepath.Join(dir, "three.json"), []byte(fmt.Sprintf(`{"schema": %d}`, Schema+1)), 0o600)
	if _, err := Read(filepath.Join(dir, "three.json")); !errors.As(err, &newer) || err.Error() != fmt.Sprintf("%s: result schema 3 is newer than this lab reads (2): use the lab that wrote it, or a newer one", filepath.Join(dir, "three.json")) {
		t.Errorf("Read(schema 3) = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "zero.json"), []byte(`{"schema": 0}`), 0o600)
	if _, err := Read(filepath.Join(dir, "zero.json")); err == nil || !strings.Contains(err.Error(), "not a lab result (no schema)") {
		t.Errorf("Read(schema 0) = %v", err)
	}
}

// TestWriteReadRoundTrip: what Write stores, Read gives back, schema and
// signature set; the file ends in a newline and is indented.
func TestWriteReadRoundTrip(t *testing.T) {
	orig, err := Read("testdata/cells/chardev-unsafe-pass/result.json")
	if err != nil {
		t.Fatal(err)
	}
	orig.Signature = nil
	dir := t.TempDir()
	if err := Write(dir, orig); err != nil {
		t.Fatal(err)
	}
	if orig.Schema != Schema || orig.Signature == nil {
		t.Errorf("Write left schema %d, signature %v on the record", orig.Schema, orig.Signature)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "result.json"))
	if !strings.HasPrefix(string(b), "{\n  \"schema\": 2,\n  \"run_id\": \"20261202-174838-7aaf7e\",") || !strings.HasSuffix(string(b), "\n}\n") {
		t.Errorf("result.json begins %q, ends %q", b[:min(60, len(b))], b[max(0, len(b)-4):])
	}
	back, err := Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(orig)
	c, _ := json.Marshal(back)
	if string(a) != string(c) {
		t.Errorf("read back differs from what was written")
	}
	if err := Write(filepath.Join(dir, "missing"), &Result{}); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

// TestLoadRunWithoutRunJSON: a directory of cells alone is a run named by
// its directory, its kernels and experiments those of its results.
func TestLoadRunWithoutRunJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "20261204-120000-cccccc")
	for _, c := range [][2]string{{"debian-6.12", "proc-safe"}, {"debian-5.10", "chardev-safe"}, {"debian-6.12", "chardev-safe"}} {
		cell, err := CellDir(dir, c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(cell, &Result{Experiment: c[1], Kernel: Kernel{Name: c[0]}, Verdict: Pass}); err != nil {
			t.Fatal(err)
		}
	}
	run, rs, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.RunID != "20261204-120000-cccccc" || run.Complete || !slices.Equal(run.Kernels, []string{"debian-5.10", "debian-6.12"}) || !slices.Equal(run.Experiments, []string{"chardev-safe", "proc-safe"}) {
		t.Errorf("LoadRun = %+v", run)
	}
	var order []string
	for _, r := range rs {
		order = append(order, r.Experiment+"@"+r.Kernel.Name)
	}
	if want := []string{"chardev-safe@debian-5.10", "chardev-safe@debian-6.12", "proc-safe@debian-6.12"}; !slices.Equal(order, want) {
		t.Errorf("results in order %v; want %v", order, want)
	}
	// A run.json naming kernels but no experiments takes both from the
	// results; one naming both keeps its own.
	if err := WriteRun(dir, &Run{RunID: "named", Kernels: []string{"debian-7.2"}}); err != nil {
		t.Fatal(err)
	}
	if run, _, _ := LoadRun(dir); run.RunID != "named" || !slices.Equal(run.Kernels, []string{"debian-5.10", "debian-6.12"}) || len(run.Experiments) != 2 {
		t.Errorf("LoadRun with kernels only = %+v", run)
	}
	if err := WriteRun(dir, &Run{RunID: "named", Experiments: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if run, _, _ := LoadRun(dir); !slices.Equal(run.Kernels, []string{"debian-5.10", "debian-6.12"}) || !slices.Equal(run.Experiments, []string{"chardev-safe", "proc-safe"}) {
		t.Errorf("LoadRun with experiments only = %+v", run)
	}
	if err := WriteRun(dir, &Run{RunID: "named", Kernels: []string{"debian-7.2"}, Experiments: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if run, _, _ := LoadRun(dir); !slices.Equal(run.Kernels, []string{"debian-7.2"}) || !slices.Equal(run.Experiments, []string{"x"}) {
		t.Errorf("LoadRun with both = %+v; want run.json's own", run)
	}
	// A broken run.json or result.json is an error naming the file.
	os.WriteFile(filepath.Join(dir, "run.json"), []byte("{"), 0o600)
	if _, _, err := LoadRun(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "run.json")) {
		t.Errorf("LoadRun(broken run.json) = %v", err)
	}
	os.Remove(filepath.Join(dir, "run.json"))
	os.WriteFile(filepath.Join(dir, "debian-5.10", "chardev-safe", "result.json"), []byte(`{"schema": 9}`), 0o600)
	if _, _, err := LoadRun(dir); err == nil {
		t.Error("LoadRun with a result of a newer schema succeeded")
	}
	// run.json that cannot be read (a directory).
	odd := t.TempDir()
	os.Mkdir(filepath.Join(odd, "run.json"), 0o700)
	if _, _, err := LoadRun(odd); err == nil {
		t.Error("LoadRun with run.json a directory succeeded")
	}
}

// TestLastDurationsReadsTheLastTwenty: only the 20 newest earlier runs
// count, newest first; hidden entries and plain files are not runs.
func TestLastDurationsReadsTheLastTwenty(t *testing.T) {
	dir := t.TempDir()
	write := func(run, exp string, totalMS int64) {
		d, err := CellDir(filepath.Join(dir, run), "debian-6.1", exp)
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(d, &Result{Experiment: exp, TimingsMS: map[string]int64{"total": totalMS}}); err != nil {
			t.Fatal(err)
		}
	}
	// 21 runs of day 1 … 21; "old" ran only in the oldest.
	for day := 1; day <= 21; day++ {
		write(fmt.Sprintf("202612%02d-100000-aaaaaa", day), "every", int64(day*1000))
	}
	write("20261201-100000-aaaaaa", "old", 7000)
	write("20261202-100000-aaaaaa", "second", 2000)
	write(".20261230-100000-hidden", "every", 99000)
	write(".latest-x", "hidden", 1000)
	os.WriteFile(filepath.Join(dir, "20261231-notes"), nil, 0o600)
	got := LastDurations(dir, "")
	want := map[CellKey]time.Duration{
		{"debian-6.1", "every"}:  21 * time.Second,
		{"debian-6.1", "second"}: 2 * time.Second,
	}
	if len(got) != len(want) || got[CellKey{"debian-6.1", "every"}] != want[CellKey{"debian-6.1", "every"}] || got[CellKey{"debian-6.1", "second"}] != want[CellKey{"debian-6.1", "second"}] {
		t.Errorf("LastDurations = %v; want %v (the 21st run back is not read)", got, want)
	}
	if got := LastDurations(dir, "20261221-100000-aaaaaa"); got[CellKey{"debian-6.1", "every"}] != 20*time.Second || got[CellKey{"debian-6.1", "old"}] != 7*time.Second {
		t.Errorf("LastDurations skipping the newest = %v; want day 20's, and day 1's old", got)
	}
}
