package results

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The runs in testdata/runs are real lab runs (result.json, run.json and
// the reports lab wrote then; console logs left out):
//
//   - 20261204-143940-79b870: a 24-cell matrix, debugfs, notifier and
//     sysfs experiments on debian-5.10, 6.1, 6.12 and 7.2, with two fails
//     and kernels that differ;
//   - 20261204-143403-b0b311: two cells run with --repeat 10 on debian-6.1,
//     both flaky, one an error (2 of 10 repeats hung the guest), the other
//     with two signatures that read alike (its shares are told apart as
//     variants); each repeat's own record is in repeat-NN/;
//   - 20261204-135405-c5146c: fault-flaky, --repeat 6, half of the repeats
//     failing;
//   - 20261204-193440-977972: every experiment on debian-6.1 and
//     debian-6.1-arm64, one Debian build (6.1.192-3) on two architectures,
//     all 42 cells passing.
var realRuns = []string{"20261204-143940-79b870", "20261204-143403-b0b311", "20261204-135405-c5146c", "20261204-193440-977972"}

func loadRealRun(t *testing.T, id string) (string, *Run, []*Result) {
	t.Helper()
	dir := filepath.Join("testdata", "runs", id)
	run, rs, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, run, rs
}

var update = flag.Bool("update", false, "rewrite the reports kept with testdata/runs from their records (after a deliberate change to how reports look)")

// TestRealRunsReportsAsWritten: the reports rendered now from the records
// of a real run are byte for byte those lab wrote when the run finished.
// A deliberate change to the reports updates them with
// go test ./internal/results -run TestRealRunsReportsAsWritten -update;
// git diff then shows the change on real runs.
func TestRealRunsReportsAsWritten(t *testing.T) {
	for _, id := range realRuns {
		t.Run(id, func(t *testing.T) {
			dir, run, rs := loadRealRun(t, id)
			out := t.TempDir()
			if err := WriteReports(out, NewMatrix(run, rs)); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"report.md", "junit.xml", "report.html"} {
				want, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					if err := os.WriteFile(filepath.Join(dir, name), got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the one lab wrote:\n%s", name, firstDiff(string(got), string(want)))
				}
			}
		})
	}
}

// TestRealMatrix: the 24-cell matrix read back: its layout, verdicts and
// where the kernels differ, as a person reads them in the terminal.
func TestRealMatrix(t *testing.T) {
	_, run, rs := loadRealRun(t, "20261204-143940-79b870")
	if run.RunID != "20261204-143940-79b870" || !run.Complete || run.Schema != 2 || len(rs) != 24 {
		t.Fatalf("LoadRun = %+v with %d results; want the complete 24-cell run", run, len(rs))
	}
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if a.Experiment > b.Experiment || a.Experiment == b.Experiment && a.Kernel.Name >= b.Kernel.Name {
			t.Errorf("results %d and %d out of order: %s on %s, then %s on %s", i-1, i, a.Experiment, a.Kernel.Name, b.Experiment, b.Kernel.Name)
		}
	}
	m := NewMatrix(run, rs)
	if got := strings.Join(m.Kernels, " "); got != "debian-5.10 debian-6.1 debian-6.12 debian-7.2" {
		t.Errorf("kernels %s", got)
	}
	if c := m.Counts(); c[Pass] != 22 || c[Fail] != 2 || c[Error] != 0 || c["missing"] != 0 {
		t.Errorf("Counts = %v; want 22 pass, 2 fail", c)
	}
	var diffs []string
	for _, d := range m.Differences() {
		diffs = append(diffs, d.Experiment+" "+strings.Join(d.Kernels, ","))
	}
	if want := []string{"debugfs-unsafe debian-5.10,debian-6.1,debian-6.12,debian-7.2", "notifier-unsafe debian-5.10,debian-6.1,debian-6.12,debian-7.2", "sysfs-safe debian-5.10,debian-6.1,debian-6.12,debian-7.2"}; !slices.Equal(diffs, want) {
		t.Errorf("Differences = %q; want %q", diffs, want)
	}
	var b strings.Builder
	Table(&b, m)
	for _, want := range []string{
		"experiment       debian-5.10",
		"notifier-unsafe  PASS: oops: kernel NULL pointer dereference, address: ADDR",
		"FAIL: read ENODEV",
		"\nnotifier-unsafe differs between kernels:\n  debian-5.10    step 3 exec no answer; kernel NULL pointer dereference, address: ADDR\n",
		"  debian-6.12    step 3 exec failed\n",
		"\n22 pass, 2 fail, 0 error\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "not run") || strings.Contains(b.String(), "incomplete") {
		t.Errorf("a complete run's table says cells are missing:\n%s", b.String())
	}
}

// TestRealRepeatsRedistribute: tallying the records of a real cell's
// repeats (repeat-NN/result.json) again gives the distribution lab
// recorded at the top of the cell: the same counts, the same repeats in
// each share, rates and Wilson intervals, and the signatures' facts.
func TestRealRepeatsRedistribute(t *testing.T) {
	cells := []string{
		"20261204-143403-b0b311/debian-6.1/timer-unsafe",
		"20261204-143403-b0b311/debian-6.1/workqueue-unsafe",
		"20261204-135405-c5146c/debian-6.1/fault-flaky",
	}
	for _, cell := range cells {
		dir := filepath.Join("testdata", "runs", cell)
		top, err := Read(filepath.Join(dir, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		if top.Schema != 2 || top.Repeats == nil {
			t.Fatalf("%s: schema %d, repeats %v; want a schema 2 record of repeats", cell, top.Schema, top.Repeats)
		}
		paths, _ := filepath.Glob(filepath.Join(dir, "repeat-*", "result.json"))
		var rs []*Result
		for _, p := range paths {
			r, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		want := top.Repeats
		got := Distribute(rs)
		if got.N != want.N || got.N != len(paths) || got.Passed != want.Passed || got.Flaky != want.Flaky || len(got.Distribution) != len(want.Distribution) {
			t.Errorf("%s: Distribute = n %d, %d passed, flaky %v, %d shares; lab recorded n %d, %d passed, flaky %v, %d shares",
				cell, got.N, got.Passed, got.Flaky, len(got.Distribution), want.N, want.Passed, want.Flaky, len(want.Distribution))
			continue
		}
		for i, g := range got.Distribution {
			w := want.Distribution[i]
			if g.Count != w.Count || !slices.Equal(g.Repeats, w.Repeats) || g.Rate != w.Rate || math.Abs(g.Low-w.Low) > 1e-12 || math.Abs(g.High-w.High) > 1e-12 {
				t.Errorf("%s share %d: %d %v rate %v [%v, %v]; recorded %d %v rate %v [%v, %v]", cell, i+1, g.Count, g.Repeats, g.Rate, g.Low, g.High, w.Count, w.Repeats, w.Rate, w.Low, w.High)
			}
			if !slices.Equal(g.Signature.Lines(), w.Signature.Lines()) {
				t.Errorf("%s share %d: signature\n%q\nrecorded\n%q", cell, i+1, g.Signature.Lines(), w.Signature.Lines())
			}
		}
		if len(got.Spread) != len(want.Spread) {
			t.Errorf("%s: %d spread points; recorded %d", cell, len(got.Spread), len(want.Spread))
		}
		for i := range min(len(got.Spread), len(want.Spread)) {
			if g, w := got.Spread[i], want.Spread[i]; g.Repeat != w.Repeat || g.Step != w.Step || math.Abs(g.After-w.After) > 1e-9 || g.Title != w.Title {
				t.Errorf("%s: spread point %d = %+v; recorded %+v", cell, i, g, w)
			}
		}
		// The steps and reports at the top of the cell are repeat 1's.
		if a, b := top.Behaviour(), rs[0].Behaviour(); !slices.Equal(a.Steps, b.Steps) || !slices.Equal(a.Reports, b.Reports) {
			t.Errorf("%s: the top record's steps and reports are not repeat 1's", cell)
		}
		if shares, n := top.Shares(); n != want.N || len(shares) != len(want.Distribution) {
			t.Errorf("%s: Shares = %d over %d; want the recorded distribution", cell, len(shares), n)
		}
	}
}
