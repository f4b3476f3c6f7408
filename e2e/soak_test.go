package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

var soak = flag.Int("soak", 0, "run chardev-unsafe this many times in a row (TestSoak)")

// TestSoak runs chardev-unsafe -soak times in a row in one process and
// checks that every verdict and observation is the same and that nothing
// leaks: QEMU processes, temporary directories, file descriptors,
// goroutines. It prints the figures. Off unless -soak N is given:
//
//	go test ./e2e -run TestSoak -soak 50 -timeout 60m -v
func TestSoak(t *testing.T) {
	if *soak == 0 {
		t.Skip("pass -soak N to run")
	}
	tmpBefore := labTemps()
	fdsBefore := countFDs()
	goroutinesBefore := runtime.NumGoroutine()
	resultsDir := t.TempDir()
	var boots, totals []int64
	verdicts := map[string]int{}
	observations := map[string]int{}
	evidenceSeen := map[string]int{}
	start := time.Now()
	for i := 0; i < *soak; i++ {
		var out, errb nullWriter
		code := cli.Main([]string{"--root", "..", "run", "--results", resultsDir, "chardev-unsafe"}, out, errb)
		path := filepath.Join(resultsDir, "latest", "debian-6.1", "chardev-unsafe", "result.json")
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("run %d: exit %d, %v", i, code, err)
		}
		r := readResultFile(t, path)
		verdicts[r.Verdict]++
		observations[results.Observation(r)]++
		evidenceSeen[evidenceSignature(r)]++
		boots = append(boots, r.TimingsMS["boot"])
		totals = append(totals, r.TimingsMS["total"])
		if left := qemuChildren(t); len(left) > 0 {
			t.Fatalf("run %d left QEMU processes: %v", i, left)
		}
	}
	t.Logf("%d runs in %s: verdicts %v", *soak, time.Since(start).Round(time.Second), verdicts)
	t.Logf("observations %v", observations)
	t.Logf("boot ms: min %d median %d max %d; total ms: min %d median %d max %d",
		minOf(boots), median(boots), maxOf(boots), minOf(totals), median(totals), maxOf(totals))
	if len(verdicts) != 1 || verdicts[results.Pass] != *soak || len(observations) != 1 {
		t.Errorf("verdicts %v, observations %v; want %d identical passes", verdicts, observations, *soak)
	}
	// The evidence too: the same reports naming the same freed symbols,
	// each flagged as a use after unload, every time.
	if len(evidenceSeen) != 1 {
		t.Errorf("evidence differs between runs: %v", evidenceSeen)
	}
	t.Logf("evidence %v", evidenceSeen)
	if after := labTemps(); len(after) > len(tmpBefore) {
		t.Errorf("temporary directories left: %v (before: %v)", after, tmpBefore)
	}
	if after := countFDs(); after > fdsBefore+2 {
		t.Errorf("open file descriptors grew from %d to %d", fdsBefore, after)
	}
	time.Sleep(time.Second)
	if after := runtime.NumGoroutine(); after > goroutinesBefore+5 {
		t.Errorf("goroutines grew from %d to %d", goroutinesBefore, after)
	}
}

// evidenceSignature is what a run's reports say without addresses and
// times, which move with every boot: titles and the module symbols named.
func evidenceSignature(r *results.Result) string {
	var parts []string
	for _, o := range distinctReports(r) {
		parts = append(parts, o.Title)
		for _, res := range o.Resolved {
			if res.Module != "" {
				parts = append(parts, fmt.Sprintf("  %s=%s:%s unloaded=%v", res.What, res.Module, res.Symbol, res.Unloaded))
			}
		}
	}
	return strings.Join(parts, "\n")
}

// distinctReports are r's kernel reports less the repeats of a hung-task
// report: khungtaskd reports a task that is still blocked at each of its
// checks, so how many times a task blocked through a 12 s sleep is
// reported (2 or 3 at a 5 s timeout) depends on the checker's phase, not
// on what the kernel did. Seen differing between a cold and a restored run.
func distinctReports(r *results.Result) []evidence.Report {
	seen := map[string]bool{}
	var out []evidence.Report
	for _, o := range r.Oopses {
		if o.Kind == evidence.KindHungTask {
			if seen[o.Title] {
				continue
			}
			seen[o.Title] = true
		}
		out = append(out, o)
	}
	return out
}

type nullWriter struct{}

func (nullWriter) Write(p []byte) (int, error) { return len(p), nil }

func labTemps() []string {
	var out []string
	for _, pat := range []string{"lab-vm-*", "lab-initrd-*"} {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), pat))
		out = append(out, m...)
	}
	return out
}

func countFDs() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

func median(v []int64) int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func minOf(v []int64) int64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []int64) int64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
