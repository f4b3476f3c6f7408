package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/results"
)

// verdictSignature is what must not change between a restored and a cold
// run: the verdict, each step's outcome, every distinct report's kind,
// title and RIP function (distinctReports), and each process's final state (whether the kernel's
// hung-task report named it included). Addresses, PIDs and times move
// with every boot and are left out.
func verdictSignature(r *results.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s %s\n", r.Verdict, r.ErrorKind)
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "step %d %s %s ok=%v\n", s.Index, s.Action, s.Target, s.OK)
	}
	for _, o := range distinctReports(r) {
		fmt.Fprintf(&b, "report %s %q rip=%s\n", o.Kind, o.Title, o.RIPFunction)
	}
	for _, p := range r.Processes {
		fmt.Fprintf(&b, "process %s %s %s hung-report=%v\n", p.Holder, p.Comm, p.State, p.HungTaskReport != "")
	}
	return b.String()
}

var consoleTime = regexp.MustCompile(`^\[\s*(\d+\.\d+)\]`)

// checkOrderedTimestamps fails when a kernel log line of console.log is
// stamped earlier than the line before it.
func checkOrderedTimestamps(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := -1.0
	for _, line := range strings.Split(string(b), "\n") {
		m := consoleTime.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		if at < last {
			t.Errorf("%s: kernel log time goes back from %.6f to %.6f: %s", path, last, at, line)
		}
		last = at
	}
}

// TestSnapshotMatchesCold runs a few experiments cold and restored from a
// snapshot on Debian 6.1 and wants the same verdicts and evidence from
// both: the same reports (and no false hung-task, soft-lockup or RCU-stall
// report after a restore), the same process states, ordered kernel log
// times; the restored runs say so in a note and the snapshot is private.
func TestSnapshotMatchesCold(t *testing.T) {
	needVM(t)
	exps := []string{"chardev-unsafe", "chardev-safe", "proc-slow-hung"}
	args := func(boot string) []string {
		return append([]string{"run", boot, "--kernel", "debian-6.1", "-j", "1"}, exps...)
	}
	// Make the snapshot first, so the timed runs compare boot with restore.
	if code, _, _ := runLab(t, "run", "--snapshot", "--kernel", "debian-6.1", "chardev-safe"); code != 0 {
		t.Fatalf("making the snapshot: exit %d", code)
	}
	t0 := time.Now()
	coldCode, _, coldDir := runLab(t, args("--cold")...)
	coldWall := time.Since(t0)
	t0 = time.Now()
	warmCode, _, warmDir := runLab(t, args("--snapshot")...)
	warmWall := time.Since(t0)
	t.Logf("wall time: cold %s, restored %s (%.2fx)", coldWall.Round(time.Millisecond), warmWall.Round(time.Millisecond), warmWall.Seconds()/coldWall.Seconds())
	if coldCode != warmCode {
		t.Errorf("exit status: cold %d, restored %d", coldCode, warmCode)
	}
	for _, e := range exps {
		cold := readResult(t, coldDir, "debian-6.1", e)
		warm := readResult(t, warmDir, "debian-6.1", e)
		if cs, ws := verdictSignature(cold), verdictSignature(warm); cs != ws {
			t.Errorf("%s: restored differs from cold:\ncold:\n%s\nrestored:\n%s", e, cs, ws)
		}
		if cs, ws := evidenceSignature(cold), evidenceSignature(warm); cs != ws {
			t.Errorf("%s: restored evidence differs from cold:\ncold:\n%s\nrestored:\n%s", e, cs, ws)
		}
		restored := false
		for _, n := range warm.Notes {
			restored = restored || strings.HasPrefix(n, "restored from snapshot ")
			if strings.HasPrefix(n, "snapshot restore failed") {
				t.Errorf("%s: %s", e, n)
			}
		}
		if !restored {
			t.Errorf("%s: the --snapshot run has no restored note: %q", e, warm.Notes)
		}
		for _, n := range cold.Notes {
			if strings.Contains(n, "snapshot") {
				t.Errorf("%s: the --cold run mentions a snapshot: %s", e, n)
			}
		}
		console := filepath.Join(warmDir, "latest", "debian-6.1", e, "console.log")
		checkOrderedTimestamps(t, console)
		b, _ := os.ReadFile(console)
		for _, false_ := range []string{"soft lockup", "rcu_sched detected stall", "rcu: INFO:", "clocksource"} {
			if strings.Contains(string(b), false_) && !strings.Contains(string(readFileOr(filepath.Join(coldDir, "latest", "debian-6.1", e, "console.log"))), false_) {
				t.Errorf("%s: the restored console says %q and the cold one does not", e, false_)
			}
		}
	}
	snaps, _ := filepath.Glob(filepath.Join(cacheDir(t), "snapshots", "*.snap"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot in the cache")
	}
	for _, s := range snaps {
		if fi, err := os.Stat(s); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("snapshot %s: mode %v (%v), want 0600", s, fi.Mode().Perm(), err)
		}
	}
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("QEMU left running: %v", left)
	}
}

func readFileOr(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// cacheDir is the cache the in-process CLI uses.
func cacheDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LAB_CACHE"); d != "" {
		return d
	}
	home, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, "lab")
}
