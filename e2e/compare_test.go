package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/runner"
)

// TestDiffAndBaseline: two real runs of chardev-unsafe on debian-6.1 are
// the same behaviour; a baseline edited to lack the dying task's second
// oops makes --baseline exit 1 and name the new report first, in the
// terminal and in report.md; bad baselines stop the command before
// anything boots.
func TestDiffAndBaseline(t *testing.T) {
	needVM(t)
	code, _, dirA := runLab(t, "run", "chardev-unsafe")
	if code != cli.ExitPass {
		t.Fatalf("first run: exit %d", code)
	}
	code, _, dirB := runLab(t, "run", "chardev-unsafe")
	if code != cli.ExitPass {
		t.Fatalf("second run: exit %d", code)
	}
	runA, runB := filepath.Join(dirA, "latest"), filepath.Join(dirB, "latest")
	var out, errOut strings.Builder
	if code := cli.Main([]string{"diff", runA, runB}, &out, &errOut); code != cli.ExitPass || !strings.Contains(out.String(), ": 1 same") {
		t.Errorf("lab diff of two runs = exit %d:\n%s%s\nwant exit 0, 1 same", code, out.String(), errOut.String())
	}
	if b, err := os.ReadFile(filepath.Join(runB, "report.html")); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("report.html has no timeline: %v", err)
	}

	// The baseline: run A with the second oops cut out of its record.
	path := filepath.Join(runA, "debian-6.1", "chardev-unsafe", "result.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	json.Unmarshal(b, &rec)
	if oo, _ := rec["oopses"].([]any); len(oo) != 2 {
		t.Fatalf("run A has %d reports; want the two oopses", len(oo))
	}
	rec["oopses"] = rec["oopses"].([]any)[:1]
	delete(rec, "signature")
	b, _ = json.Marshal(rec)
	os.WriteFile(path, b, 0o600)

	code, stdout, dir := runLab(t, "run", "--baseline", runA, "chardev-unsafe")
	if code != cli.ExitFail {
		t.Errorf("lab run --baseline EDITED = exit %d; want 1 (a regression)", code)
	}
	reg := strings.Index(stdout, "REGRESSION: chardev-unsafe on debian-6.1")
	named := strings.Index(stdout, "new report: page fault in filp_close")
	if reg < 0 || named < reg || named > strings.Index(stdout, "chardev-unsafe on debian-6.1 (") {
		t.Errorf("output does not name the regression before the cell's summary:\n%s", stdout)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "latest", "report.md"))
	if i, j := strings.Index(string(md), "new report: page fault in filp\\_close"), strings.Index(string(md), "| experiment |"); i < 0 || i > j {
		t.Errorf("report.md does not lead with the regression:\n%s", md)
	}
	if code, _, _ := runLab(t, "run", "--baseline", runA, "--baseline-allow", "changed", "chardev-unsafe"); code != cli.ExitPass {
		t.Errorf("--baseline-allow changed = exit %d; want 0", code)
	}

	// Bad baselines: exit 2 at once, naming the path and why.
	newer := t.TempDir()
	os.MkdirAll(filepath.Join(newer, "debian-6.1", "chardev-unsafe"), 0o700)
	os.WriteFile(filepath.Join(newer, "debian-6.1", "chardev-unsafe", "result.json"), []byte(`{"schema": 99, "experiment": "chardev-unsafe", "verdict": "pass"}`), 0o600)
	for _, c := range []struct{ base, want string }{
		{filepath.Join(t.TempDir(), "nothing"), "no such run directory"},
		{t.TempDir(), "is not a lab run"},
		{newer, "schema 99 is newer"},
		{runA, "shares no cell"},
	} {
		args := []string{"run", "--baseline", c.base, "chardev-safe"}
		var o, e strings.Builder
		code := cli.Main(append([]string{"--root", "..", "--results", t.TempDir()}, args...), &o, &e)
		if code != cli.ExitError || !strings.Contains(e.String(), c.want) || !strings.Contains(e.String(), c.base) {
			t.Errorf("lab %s = exit %d, %q; want exit 2 naming the path and %q", strings.Join(args, " "), code, e.String(), c.want)
		}
	}
	if code, _, _ := runLab(t, "run", "--repeat", "0", "chardev-safe"); code != cli.ExitError {
		t.Errorf("--repeat 0 = exit %d; want 2", code)
	}
}

// TestRepeatFlaky: twenty repeats of a read that oopses on a coin toss
// (fault_inject mode=flaky) give a flaky cell with both behaviours, each
// with its Wilson interval, every repeat kept in its own directory; the
// experiment's expect.rate (>= 0.2) makes the cell pass.
func TestRepeatFlaky(t *testing.T) {
	needVM(t)
	const n = 20
	code, stdout, dir := runLab(t, "run", "--repeat", "20", "--jobs", "2", "testdata/fault-flaky.yaml")
	if code != cli.ExitPass {
		t.Errorf("exit %d; want 0", code)
	}
	cell := filepath.Join(dir, "latest", "debian-6.1", "fault-flaky")
	r := readResultFile(t, filepath.Join(cell, "result.json"))
	rp := r.Repeats
	if rp == nil || rp.N != n || !rp.Flaky || len(rp.Distribution) != 2 || rp.ExpectedRate != ">= 0.2" {
		t.Fatalf("repeats = %+v; want %d repeats, flaky, two signatures", rp, n)
	}
	sum := 0
	for _, s := range rp.Distribution {
		sum += s.Count
		lo, hi := results.Wilson(s.Count, n)
		if s.Low != lo || s.High != hi || s.Low >= s.Rate || s.Rate >= s.High {
			t.Errorf("%s: %d/%d, interval %.2f–%.2f; want the Wilson interval around the rate", s.Label, s.Count, n, s.Low, s.High)
		}
	}
	oops := rp.Distribution[0]
	if !strings.Contains(oops.Label, "NULL pointer dereference in fault_read") {
		oops = rp.Distribution[1]
	}
	if sum != n || !strings.Contains(oops.Label, "NULL pointer dereference in fault_read") || oops.Count+rp.Passed != n {
		t.Errorf("distribution %+v, %d passed; want the oops and the lucky read adding up to %d", rp.Distribution, rp.Passed, n)
	}
	for i := 1; i <= n; i++ {
		readResultFile(t, filepath.Join(cell, runner.RepeatDir(i), "result.json"))
		if _, err := os.Stat(filepath.Join(cell, runner.RepeatDir(i), "console.log")); err != nil {
			t.Errorf("repeat %d: %v", i, err)
		}
	}
	if !strings.Contains(stdout, "FLAKY") || !strings.Contains(stdout, "95% interval") {
		t.Errorf("the summary does not show the distribution:\n%s", stdout)
	}
}

// TestRepeatHungTaskCounts: the hung-task detector reports a blocked task
// every interval, and how many intervals fit in proc-slow-hung's 16 s read
// varies from run to run; the repeats still have one signature.
func TestRepeatHungTaskCounts(t *testing.T) {
	needVM(t)
	code, _, dir := runLab(t, "run", "--repeat", "2", "--jobs", "2", "proc-slow-hung")
	if code != cli.ExitPass {
		t.Errorf("exit %d; want 0", code)
	}
	r := readResultFile(t, filepath.Join(dir, "latest", "debian-6.1", "proc-slow-hung", "result.json"))
	if r.Repeats == nil || r.Repeats.N != 2 || r.Repeats.Flaky || r.Repeats.String() != "2/2 same" {
		t.Errorf("repeats = %+v; want 2/2 same", r.Repeats)
	}
}
