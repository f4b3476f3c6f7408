package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/schematest"
)

// TestResultsMatchSchema: the result.json files kept as test data, and one
// Write makes with every field set, validate against
// schema/result.schema.json; a field renamed in the Go types makes the
// written one fail.
func TestResultsMatchSchema(t *testing.T) {
	files, err := filepath.Glob("testdata/cells/*/result.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no result.json test data: %v", err)
	}
	dir := t.TempDir()
	yes := true
	full := &Result{
		RunID: "r1", Experiment: "chardev-unsafe", Summary: "s",
		Kernel: Kernel{Name: "debian-6.1", Release: "6.1.0-1-amd64", PackageVersion: "6.1.1-1"},
		Accel:  "tcg", Verdict: Fail, Reason: "r", Error: "e", ErrorKind: KindGuestHang, Panic: "Kernel panic - not syncing: x",
		Steps: []Step{{Index: 1, Line: 5, Action: "read", Target: "A", Errno: "EIO", Error: "x", Data: "d", NoAnswer: true, Exists: &yes, MS: 3, At: 12.5,
			Process: &StepProcess{PID: 9, Comm: "A", State: "D (disk sleep)", Wchan: "w", Stack: []string{"f"}, Exited: true, ExitStatus: "0"}, Oopses: []int{0}}},
		Checks:    []Check{{Step: 1, Line: 6, What: "ok", Want: "true", Got: "false"}},
		Oopses:    []evidence.Report{{Kind: evidence.KindPageFault, Title: "BUG: x", Line: 3}},
		Processes: []Process{{Holder: "A", PID: 9, Comm: "A", State: "X", Stack: []string{}, HungTaskReport: ""}},
		Modules:   []ModuleLayout{{Name: "m", Event: "unload", Base: 1, Size: 2, Sections: map[string]uint64{".text": 1}, Uptime: 1.5, GoneAt: 2.5}},
		TimingsMS: map[string]int64{"total": 1},
		Provenance: Provenance{KernelSHA256: "k", InitramfsSHA256: "i", Packages: map[string]string{"p=1": "s"}, Modules: map[string]string{"m": "s"},
			Lock: &LockProvenance{LockedRelease: "x"}, QEMU: "8.2.2", Lab: "dev", Cmdline: "console=ttyS0"},
		Notes: []string{"n"},
	}
	other := *full
	other.Oopses = nil
	full.Repeats = Distribute([]*Result{full, &other})
	full.Repeats.ExpectedRate = ">= 0.5"
	if err := Write(dir, full); err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(dir, "result.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schematest.ValidateJSON(schematest.Result, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "result.json"))
	renamed := strings.Replace(string(b), `"no_answer"`, `"noanswer"`, 1)
	if err := schematest.ValidateJSON(schematest.Result, []byte(renamed)); err == nil {
		t.Error("the schema accepts a result with a renamed field")
	}
}

// TestCorpusReportsMatchSchema: every report the parser makes of the real
// crash logs in evidence's corpus, of every architecture, fits the
// schema's report (an Arch the schema does not list fails here).
func TestCorpusReportsMatchSchema(t *testing.T) {
	logs, err := filepath.Glob("../evidence/testdata/corpus/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	dir := t.TempDir()
	archs := map[string]bool{}
	for _, log := range logs {
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		r := &Result{RunID: "r", Experiment: "e", Kernel: Kernel{Name: "k"}, Verdict: Pass,
			Steps: []Step{}, Processes: []Process{}, TimingsMS: map[string]int64{}, Oopses: evidence.ParseBytes(b)}
		if r.Oopses == nil {
			r.Oopses = []evidence.Report{}
		}
		for _, o := range r.Oopses {
			archs[o.Arch] = true
		}
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
		out, _ := os.ReadFile(filepath.Join(dir, "result.json"))
		if err := schematest.ValidateJSON(schematest.Result, out); err != nil {
			t.Errorf("%s: %v", filepath.Base(log), err)
		}
	}
	if len(archs) < 8 {
		t.Errorf("the corpus's reports came from %d architectures, want the 8 it holds and more: %v", len(archs), archs)
	}
}
