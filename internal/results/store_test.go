package results

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLastDurations: the newest earlier run that has a cell gives its
// duration; the starting run, links and results without a total do not.
func TestLastDurations(t *testing.T) {
	dir := t.TempDir()
	write := func(run, kernel, exp string, totalMS int64) {
		d, err := CellDir(filepath.Join(dir, run), kernel, exp)
		if err != nil {
			t.Fatal(err)
		}
		r := &Result{Experiment: exp, TimingsMS: map[string]int64{}}
		if totalMS > 0 {
			r.TimingsMS["total"] = totalMS
		}
		if err := Write(d, r); err != nil {
			t.Fatal(err)
		}
	}
	write("20261201-100000-aaaaaa", "debian-6.1", "chardev-safe", 5000)
	write("20261201-100000-aaaaaa", "debian-6.1", "proc-slow-hung", 16000)
	write("20261202-100000-bbbbbb", "debian-6.1", "chardev-safe", 1100)
	write("20261202-100000-bbbbbb", "debian-5.10", "proc-safe", 0)  // an error before timing
	write("20261203-100000-cccccc", "debian-6.1", "proc-safe", 900) // the run starting now
	if err := os.Symlink("20261203-100000-cccccc", filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	got := LastDurations(dir, "20261203-100000-cccccc")
	want := map[CellKey]time.Duration{
		{"debian-6.1", "chardev-safe"}:   1100 * time.Millisecond,
		{"debian-6.1", "proc-slow-hung"}: 16 * time.Second,
	}
	if len(got) != len(want) {
		t.Errorf("LastDurations = %v; want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%v: %v; want %v", k, got[k], w)
		}
	}
	if len(LastDurations(filepath.Join(dir, "none"), "")) != 0 {
		t.Error("a missing results directory has history")
	}
}
