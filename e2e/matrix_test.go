package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/results"
)

// TestMatrix compares two kernels end to end: the chardev experiments on
// Debian 5.10 and 6.1 with two VMs at a time. The unsafe holder's final state
// is a real difference between them (D on 5.10, X on 6.1), and the reports
// must say so.
func TestMatrix(t *testing.T) {
	needVM(t)
	code, out, dir := runLab(t, "matrix", "--kernel", "debian-5.10,debian-6.1", "--jobs", "2", "chardev-unsafe", "chardev-safe")
	if code != cli.ExitPass {
		t.Errorf("lab matrix = exit %d; want 0", code)
	}
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("qemu processes left behind: %v", left)
	}
	run, rs, err := results.LoadRun(filepath.Join(dir, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if !run.Complete || len(rs) != 4 {
		t.Fatalf("run complete=%v with %d results; want complete with 4", run.Complete, len(rs))
	}
	states := map[string]string{}
	for _, r := range rs {
		if r.Verdict != results.Pass {
			t.Errorf("%s on %s = %s (%s %s); want pass", r.Experiment, r.Kernel.Name, r.Verdict, r.Reason, r.Error)
		}
		// A restore that fails boots cold and the cell still passes: the
		// note is what shows a restored guest that crashed.
		for _, n := range r.Notes {
			if strings.HasPrefix(n, "snapshot restore failed") {
				t.Errorf("%s on %s: %s", r.Experiment, r.Kernel.Name, n)
			}
		}
		if r.Experiment == "chardev-unsafe" && len(r.Processes) > 0 {
			states[r.Kernel.Name] = r.Processes[0].State
			// The read the holder dies in: a dead (X) holder ends it at
			// once; one in D might still answer, so its 3 s are waited.
			read := step(t, r, 5, "read", "A")
			dead := strings.HasPrefix(r.Processes[0].State, "X")
			if ended := strings.Contains(read.Error, "died and can never answer"); ended != dead || dead != (read.MS < 3000) {
				t.Errorf("chardev-unsafe on %s: the dying read took %d ms with %q, holder %s; want it ended at once exactly when the holder is X",
					r.Kernel.Name, read.MS, read.Error, r.Processes[0].State)
			}
			named := false
			for _, o := range r.Oopses {
				for _, res := range o.Resolved {
					named = named || res.What == "CR2" && res.Module == "chardev_unsafe" && res.Unloaded && strings.HasPrefix(res.Symbol, "fops+")
				}
			}
			if !named {
				t.Errorf("chardev-unsafe on %s: no CR2 named in the freed fops", r.Kernel.Name)
			}
		}
	}
	if !strings.HasPrefix(states["debian-5.10"], "D") || !strings.HasPrefix(states["debian-6.1"], "X") {
		t.Errorf("unsafe holder states = %v; want D on 5.10 and X on 6.1", states)
	}
	for _, want := range []string{"chardev-unsafe differs between kernels", "holder-A D", "holder-A X", "PASS: rmmod EAGAIN"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal table lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"report.md", "report.html", "junit.xml", "run.json"} {
		if st, err := os.Stat(filepath.Join(dir, "latest", f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	// lab diff --map compares the two images of one run: the unsafe
	// holder is D on 5.10 and X on 6.1, the safe device the same.
	var dout, derr strings.Builder
	latest := filepath.Join(dir, "latest")
	code = cli.Main([]string{"diff", "--map", "debian-5.10=debian-6.1", latest, latest}, &dout, &derr)
	if code != cli.ExitFail || !strings.Contains(dout.String(), "chardev-unsafe on debian-6.1 (against debian-5.10)") ||
		!strings.Contains(dout.String(), "process A: D → X") || !strings.Contains(dout.String(), "1 same") {
		t.Errorf("lab diff --map debian-5.10=debian-6.1 = exit %d:\n%s%s\nwant exit 1, the holder's D → X, chardev-safe the same", code, dout.String(), derr.String())
	}
	// lab report rebuilds the same reports from the result files alone.
	os.Remove(filepath.Join(dir, "latest", "report.md"))
	var stdout, stderr strings.Builder
	code = cli.Main([]string{"report", filepath.Join(dir, "latest")}, &stdout, &stderr)
	if b, err := os.ReadFile(filepath.Join(dir, "latest", "report.md")); code != 0 || err != nil || !strings.Contains(string(b), "Where kernels differ") {
		t.Errorf("lab report = exit %d, report.md %v; want it rebuilt with the differences", code, err)
	}
}
