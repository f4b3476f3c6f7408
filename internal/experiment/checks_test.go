package experiment

import (
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

// judged parses a one-step experiment (exists: /dev/null) with the step's
// expectations stepExpect and the run's runExpect (flow mappings, "" for
// none), judges what r observed against it and returns r.
func judged(t *testing.T, stepExpect, runExpect string, r *results.Result) *results.Result {
	t.Helper()
	y := "name: j\nsummary: s\nsteps:\n  - exists: /dev/null\n"
	if stepExpect != "" {
		y += "    expect: " + stepExpect + "\n"
	}
	if runExpect != "" {
		y += "expect: " + runExpect + "\n"
	}
	s, err := Parse("j.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kernel.Name == "" {
		r.Kernel.Name = "k"
	}
	Judge(s, r)
	return r
}

// oneStep is a result whose single step is st.
func oneStep(st results.Step, oopses ...evidence.Report) *results.Result {
	st.Index, st.Action = 1, "exists"
	return &results.Result{Steps: []results.Step{st}, Oopses: oopses}
}

type judgeCase struct {
	name                  string
	stepExpect, runExpect string
	r                     *results.Result
	reason                string // "" for a pass
}

func (tc judgeCase) run(t *testing.T) {
	t.Helper()
	r := judged(t, tc.stepExpect, tc.runExpect, tc.r)
	want := results.Pass
	if tc.reason != "" {
		want = results.Fail
	}
	if r.Verdict != want || r.Reason != tc.reason {
		t.Errorf("%s: verdict %s, reason %q; want %s, %q", tc.name, r.Verdict, r.Reason, want, tc.reason)
	}
}

// TestJudgeStepChecks: each step expectation, met and not met, with the
// reason a person reads.
func TestJudgeStepChecks(t *testing.T) {
	yes, no := true, false
	proc := func(state, wchan string, stack ...string) *results.StepProcess {
		return &results.StepProcess{PID: 7, State: state, Wchan: wchan, Stack: stack}
	}
	bug := evidence.Report{Kind: evidence.KindBug, Title: "kernel BUG at lab.c:10!"}
	warn := evidence.Report{Kind: evidence.KindWarning, Title: "WARNING: CPU: 0 PID: 1 at lab_exit"}
	for _, tc := range []judgeCase{
		{"ok met", "{ok: true}", "", oneStep(results.Step{OK: true}), ""},
		{"ok with errno", "{ok: true}", "", oneStep(results.Step{Errno: "EBUSY"}), "step 1: ok: want true, got false (EBUSY)"},
		{"ok without answer", "{ok: true}", "", oneStep(results.Step{NoAnswer: true}), "step 1: ok: want true, got false (no answer)"},
		{"ok plain false", "{ok: true}", "", oneStep(results.Step{}), "step 1: ok: want true, got false"},
		{"ok true unwanted", "{ok: false}", "", oneStep(results.Step{OK: true, Errno: "EIO"}), "step 1: ok: want false, got true"},
		{"errno alias", "{errno: [EBUSY, EAGAIN]}", "", oneStep(results.Step{Errno: "EWOULDBLOCK"}), ""},
		{"errno none", "{errno: [EBUSY, EAGAIN]}", "", oneStep(results.Step{OK: true}), "step 1: errno: want EBUSY or EAGAIN, got none"},
		{"wchan met", "{wchan: pipe_read}", "", oneStep(results.Step{Process: proc("S (sleeping)", "pipe_read_wait")}), ""},
		{"wchan other", "{wchan: pipe_read}", "", oneStep(results.Step{Process: proc("S (sleeping)", "do_wait")}), `step 1: wchan: want "pipe_read", got "do_wait"`},
		{"wchan no process", "{wchan: pipe_read}", "", oneStep(results.Step{}), `step 1: wchan: want "pipe_read", got ""`},
		{"wchan empty wants one", `{wchan: ""}`, "", oneStep(results.Step{}), `step 1: wchan: want "", got ""`},
		{"stack met", "{stack: lab_read}", "", oneStep(results.Step{Process: proc("D", "", "lab_read+0x10/0x20", "vfs_read+0x8/0x30")}), ""},
		{"stack other", "{stack: lab_read}", "", oneStep(results.Step{Process: proc("D", "", "pipe_read+0x1/0x2", "vfs_read+0x8/0x30")}),
			`step 1: kernel stack: want a frame "lab_read", got pipe_read+0x1/0x2 < vfs_read+0x8/0x30`},
		{"stack no process", "{stack: lab_read}", "", oneStep(results.Step{}), `step 1: kernel stack: want a frame "lab_read", got none`},
		{"state either", "{state: [D, S]}", "", oneStep(results.Step{Process: proc("S (sleeping)", "")}), ""},
		{"state none", "{state: [D, S]}", "", oneStep(results.Step{}), "step 1: process state: want D or S, got none"},
		{"state gone", "{state: gone}", "", oneStep(results.Step{Process: proc("gone", "")}), ""},
		{"exists true", "{exists: true}", "", oneStep(results.Step{OK: true, Exists: &yes}), ""},
		{"exists false", "{exists: false}", "", oneStep(results.Step{OK: true, Exists: &no}), ""},
		{"exists true not", "{exists: true}", "", oneStep(results.Step{OK: true, Exists: &no}), "step 1: path exists: want true, got false"},
		{"exists false not", "{exists: false}", "", oneStep(results.Step{OK: true, Exists: &yes}), "step 1: path exists: want false, got true"},
		{"exists unanswered", "{exists: false}", "", oneStep(results.Step{NoAnswer: true}), "step 1: path exists: want false, got false"},
		{"min_ms at the bound", "{min_ms: 100}", "", oneStep(results.Step{MS: 100}), ""},
		{"min_ms under", "{min_ms: 100}", "", oneStep(results.Step{MS: 99}), "step 1: elapsed ms: want >= 100, got 99"},
		{"max_ms at the bound", "{max_ms: 100}", "", oneStep(results.Step{MS: 100}), ""},
		{"max_ms over", "{max_ms: 100}", "", oneStep(results.Step{MS: 101}), "step 1: elapsed ms: want <= 100, got 101"},
		{"report any", "{report: true}", "", oneStep(results.Step{Oopses: []int{0}}, warn), ""},
		{"report missing", "{report: true}", "", oneStep(results.Step{}, warn), "step 1: kernel report during step: want a report, got no report"},
		{"no report met", "{report: false}", "", oneStep(results.Step{}, warn), ""},
		{"no report not met", "{report: false}", "", oneStep(results.Step{Oopses: []int{1, 0}}, warn, bug),
			"step 1: kernel report during step: want no report, got kernel BUG at lab.c:10! | WARNING: CPU: 0 PID: 1 at lab_exit"},
		{"report matching", "{report: BUG}", "", oneStep(results.Step{Oopses: []int{0, 1}}, warn, bug), ""},
		{"report not matching", "{report: BUG}", "", oneStep(results.Step{Oopses: []int{0}}, warn, bug),
			`step 1: kernel report during step: want a report matching "BUG", got WARNING: CPU: 0 PID: 1 at lab_exit`},
		{"report matching none", "{report: BUG}", "", oneStep(results.Step{}, bug), `step 1: kernel report during step: want a report matching "BUG", got no report`},
	} {
		tc.run(t)
	}
}

// TestJudgeRunChecks: each run expectation, met and not met.
func TestJudgeRunChecks(t *testing.T) {
	step := results.Step{OK: true}
	fault := evidence.Report{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault for address: 0", RIP: "lab_read+0x5/0x10"}
	warn := evidence.Report{Kind: evidence.KindWarning, Title: "WARNING: at lab_exit"}
	hung := func(comm string) evidence.Report {
		return evidence.Report{Kind: evidence.KindHungTask, Title: "INFO: task " + comm + ":9 blocked for more than 5 seconds.", Comm: comm}
	}
	withPanic := func(r *results.Result, line string) *results.Result { r.Panic = line; return r }
	for _, tc := range []judgeCase{
		{"no crash met", "", "{crash: false}", oneStep(step, warn), ""},
		{"no crash not met", "", "{crash: false}", oneStep(step, warn, fault), "run: crash: want no crash, got 1 crash reports"},
		{"crash title", "", "{crash_title: page fault}", oneStep(step, warn, fault), ""},
		{"crash title other", "", `{crash_title: "NULL"}`, oneStep(step, fault), `run: first crash title: want "NULL", got BUG: unable to handle page fault for address: 0`},
		{"crash title no crash", "", "{crash_title: WARNING}", oneStep(step, warn), `run: first crash title: want "WARNING", got none`},
		{"crash title that matches nothing too", "", `{crash_title: "x|"}`, oneStep(step), `run: first crash title: want "x|", got none`},
		{"rip", "", "{rip: lab_read}", oneStep(step, fault), ""},
		{"rip no crash", "", `{rip: "x|"}`, oneStep(step, warn), `run: first crash RIP: want "x|", got none`},
		{"recursive fault", "", "{recursive_fault: false}", oneStep(step, fault), ""},
		{"warning met", "", "{warning: true}", oneStep(step, warn), ""},
		{"warning missing", "", "{warning: true}", oneStep(step, fault), "run: warning: want true, got 0 warnings"},
		{"no warning met", "", "{warning: false}", oneStep(step, fault), ""},
		{"no warning not met", "", "{warning: false}", oneStep(step, warn, warn), "run: warning: want false, got 2 warnings"},
		{"panic met", "", "{panic: true}", withPanic(oneStep(step), "Kernel panic - not syncing: Fatal exception"), ""},
		{"panic missing", "", "{panic: true}", oneStep(step), "run: kernel panic: want true, got none"},
		{"no panic met", "", "{panic: false}", oneStep(step), ""},
		{"no panic not met", "", "{panic: false}", withPanic(oneStep(step), "Kernel panic - not syncing: Fatal exception"),
			"run: kernel panic: want false, got Kernel panic - not syncing: Fatal exception"},
		{"hung tasks met", "", "{hung_tasks: [rmmod, cat]}", oneStep(step, hung("cat"), warn, hung("rmmod")), ""},
		{"hung task missing", "", "{hung_tasks: [rmmod, cat]}", oneStep(step, hung("rmmod"), evidence.Report{Kind: evidence.KindWarning, Comm: "cat"}),
			"run: hung-task report: want cat, got rmmod"},
		{"hung tasks none", "", "{hung_tasks: rmmod}", oneStep(step, warn), "run: hung-task report: want rmmod, got none"},
		{"two fail", "{ok: false}", "{warning: true}", oneStep(step), "step 1: ok: want false, got true; run: warning: want true, got 0 warnings"},
	} {
		tc.run(t)
	}
	// The checks are recorded, failed or not, with the line of their
	// expectation.
	r := judged(t, "{ok: true}", "{warning: false, hung_tasks: [a, b]}", oneStep(step))
	want := []results.Check{
		{Step: 1, Line: 5, What: "ok", Want: "true", Got: "true", OK: true},
		{Line: 6, What: "warning", Want: "false", Got: "0 warnings", OK: true},
		{Line: 6, What: "hung-task report", Want: "a", Got: "none"},
		{Line: 6, What: "hung-task report", Want: "b", Got: "none"},
	}
	if len(r.Checks) != len(want) {
		t.Fatalf("checks = %+v; want %+v", r.Checks, want)
	}
	for i := range want {
		if r.Checks[i] != want[i] {
			t.Errorf("check %d = %+v; want %+v", i, r.Checks[i], want[i])
		}
	}
}

// TestJudgeExpectedPanic: a run that ends in a panic the experiment
// expects is judged on its checks, though the steps after the panic did
// not run and the lab recorded the panic as the run's error; any other
// error, or a run cut short without the panic, keeps its error.
func TestJudgeExpectedPanic(t *testing.T) {
	spec := func(expect string) *Spec {
		s, err := Parse("p.yaml", []byte("name: p\nsummary: s\nsteps:\n  - exists: /dev/null\n  - sleep: 1s\nexpect: "+expect+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const panicLine = "Kernel panic - not syncing: Fatal exception"
	cut := func(verdict, kind, panic string) *results.Result {
		return &results.Result{Kernel: results.Kernel{Name: "k"}, Verdict: verdict, ErrorKind: kind, Panic: panic,
			Error: map[bool]string{true: "lab error"}[verdict == results.Error],
			Steps: []results.Step{{Index: 1, Action: "exists", OK: true}}}
	}
	for _, tc := range []struct {
		name, expect string
		r            *results.Result
		verdict      string
		reason, err  string
	}{
		{"expected panic ends the run", "{panic: true}", cut(results.Error, results.KindKernelPanic, panicLine), results.Pass, "", "lab error"},
		{"expected panic, crash missing", "{panic: true, crash: true}", cut(results.Error, results.KindKernelPanic, panicLine), results.Fail,
			"run: crash: want a crash, got 0 crash reports", "lab error"},
		{"expected panic, other error", "{panic: true}", cut(results.Error, results.KindGuestHang, panicLine), results.Error, "", "lab error"},
		{"unexpected panic", "{panic: false}", cut(results.Error, results.KindKernelPanic, panicLine), results.Error, "", "lab error"},
		{"no panic expectation", "{crash: false}", cut(results.Error, results.KindKernelPanic, panicLine), results.Error, "", "lab error"},
		{"panic expected, none came", "{panic: true}", cut("", "", ""), results.Error, "", "only 1 of 2 steps ran"},
		{"panic unexpected, cut short", "{panic: false}", cut("", "", panicLine), results.Error, "", "only 1 of 2 steps ran"},
	} {
		r := tc.r
		Judge(spec(tc.expect), r)
		if r.Verdict != tc.verdict || r.Reason != tc.reason || r.Error != tc.err {
			t.Errorf("%s: verdict %s, reason %q, error %q; want %s, %q, %q", tc.name, r.Verdict, r.Reason, r.Error, tc.verdict, tc.reason, tc.err)
		}
		if len(r.Checks) == 0 {
			t.Errorf("%s: no checks recorded", tc.name)
		}
	}
	// A cut-short run keeps the error the lab already gave it.
	r := cut("", "", "")
	r.Error = "agent lost"
	Judge(spec("{crash: false}"), r)
	if r.Verdict != results.Error || r.Error != "agent lost" {
		t.Errorf("cut short with an error: %s %q; want error, agent lost", r.Verdict, r.Error)
	}
}
