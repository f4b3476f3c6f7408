package results

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// TestStepOutcomeWords: what a step's outcome is in a signature, for each
// kind of step.
func TestStepOutcomeWords(t *testing.T) {
	yes, no, zero, one := true, false, 0, 1
	r := &Result{
		Steps: []Step{
			{Index: 1, Action: "read", OK: true, Data: "hello"},
			{Index: 2, Action: "read", OK: true, Data: "bye"},
			{Index: 3, Action: "read", Errno: "EIO"},
			{Index: 4, Action: "exec", Error: "killed"},
			{Index: 5, Action: "exec", OK: true, Exit: &zero},
			{Index: 6, Action: "exec", Exit: &one, Errno: ""},
			{Index: 7, Action: "exists", OK: true, Exists: &yes},
			{Index: 8, Action: "exists", OK: true, Exists: &no},
			{Index: 9, Action: "read", NoAnswer: true, Errno: "EIO"},
		},
		Checks: []Check{{Step: 1, What: "data contains", OK: true}, {Step: 2, What: "data contains", OK: false}, {Step: 3, What: "errno", OK: true}},
	}
	want := []string{"ok, data matched", "ok, data differs", "EIO", "failed", "ok, exit 0", "failed", "ok, exists", "ok, absent", "no answer"}
	for i, st := range SignatureOf(r).Steps {
		if st.Outcome != want[i] {
			t.Errorf("step %d: %q; want %q", i+1, st.Outcome, want[i])
		}
	}
}

func TestSummaryAndLabel(t *testing.T) {
	errored := Signature{Verdict: Error, ErrorKind: KindGuestHang, Steps: []StepOutcome{{Index: 1, Action: "read", Outcome: "no answer"}}}
	if s, l := errored.Summary(), errored.Label(); s != "error: guest-hang" || l != "error: guest-hang" {
		t.Errorf("an error: summary %q, label %q", s, l)
	}
	failed := Signature{Verdict: Fail, Steps: []StepOutcome{{Index: 4, Action: "unload", Target: "m", Outcome: "EAGAIN"}},
		Processes: []ProcessEnd{{Holder: "B", State: "S"}}}
	if s, l := failed.Summary(), failed.Label(); s != "step 4 unload EAGAIN; B S" || l != "fail: step 4 unload EAGAIN; B S" {
		t.Errorf("a fail: summary %q, label %q", s, l)
	}
	// An expected panic: the run is a pass with the error kind kept.
	panicked := Signature{Verdict: Pass, ErrorKind: KindKernelPanic, Panic: true, Reports: []ReportIdentity{{Kind: "page-fault", Title: "BUG: unable to handle page fault in __run_timers"}}}
	if s := panicked.Summary(); s != "page fault in __run_timers; panic" {
		t.Errorf("an expected panic: %q", s)
	}
	if l := (Signature{Verdict: Pass}).Label(); l != "no report" {
		t.Errorf("nothing: %q", l)
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	var newer *NewerSchemaError
	if _, err := Read(write("newer.json", `{"schema": 99, "experiment": "e", "verdict": "pass"}`)); !errors.As(err, &newer) || newer.Schema != 99 || !strings.Contains(err.Error(), "newer.json: result schema 99 is newer") {
		t.Errorf("a newer schema: %v", err)
	}
	if _, err := Read(write("none.json", `{"experiment": "e"}`)); err == nil || !strings.Contains(err.Error(), "not a lab result") {
		t.Errorf("no schema: %v", err)
	}
	if _, err := Read(write("bad.json", `{`)); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("not JSON: %v", err)
	}
	run := t.TempDir()
	os.WriteFile(filepath.Join(run, "run.json"), []byte(`{"schema": 7}`), 0o600)
	if _, _, err := LoadRun(run); !errors.As(err, &newer) {
		t.Errorf("a run.json of a newer schema: %v", err)
	}
}

// TestRepeatsInReports: a cell of repeats shows its distribution in the
// terminal summary, the matrix cell and report.md, and a section leads
// report.md and report.html.
func TestRepeatsInReports(t *testing.T) {
	crash := &Result{Experiment: "e", Kernel: Kernel{Name: "k"}, Verdict: Pass, Oopses: []evidence.Report{{Kind: evidence.KindNullDeref, Title: "BUG: kernel NULL pointer dereference in f"}}}
	quiet := &Result{Experiment: "e", Kernel: Kernel{Name: "k"}, Verdict: Pass}
	agg := *crash
	agg.Repeats = Distribute([]*Result{crash, quiet, crash})
	agg.Repeats.ExpectedRate = ">= 0.5"
	var b strings.Builder
	PrintSummary(&b, &agg, "")
	for _, want := range []string{"repeats: 2/3 kernel NULL pointer dereference in f, 1/3 no report; 3 of 3 passed (expected rate >= 0.5); FLAKY", "rate 0.67, 95% interval 0.21–0.94  kernel NULL pointer dereference in f"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	m := NewMatrix(&Run{RunID: "r", Complete: true}, []*Result{&agg})
	m.Sections = []Section{{Title: "Against the baseline", Intro: "base → this run: 1 changed.", Items: []SectionItem{{Text: "regression: e on k", Strong: true, Sub: []string{"new report: x"}}}}}
	b.Reset()
	Markdown(&b, m)
	md := b.String()
	if i, j := strings.Index(md, "## Against the baseline"), strings.Index(md, "| experiment |"); i < 0 || j < i || !strings.Contains(md, "- **regression: e on k**\n  - new report: x\n") {
		t.Errorf("report.md does not lead with the section:\n%s", md)
	}
	if !strings.Contains(md, `\[2/3 kernel NULL pointer dereference in f, 1/3 no report; flaky\]`) {
		t.Errorf("report.md's cell lacks the distribution:\n%s", md)
	}
	b.Reset()
	HTML(&b, m)
	if h := b.String(); !strings.Contains(h, "<h2>Against the baseline</h2>") || !strings.Contains(h, "<strong>regression: e on k</strong>") || !strings.Contains(h, "3 repeats</strong> (flaky)") {
		t.Errorf("report.html lacks the section or the repeats")
	}
}
