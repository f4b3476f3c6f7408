package experiment

import (
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

const unsafeSpec = `name: u
summary: s
modules: [m]
steps:
  - unload: m
    expect: {ok: false, errno: EWOULDBLOCK}
  - open: {holder: A, path: /dev/m}
  - read: A
    expect: {answer: false, oops: "page fault"}
  - observe: A
    expect:
      state: X
      kernels:
        debian-5.10: {state: D}
expect: {oops: true, rip: vfs_read, recursive_fault: true}
`

func observed(kernel, state string, oopses []evidence.Report) *results.Result {
	return &results.Result{
		Kernel: results.Kernel{Name: kernel},
		Steps: []results.Step{
			{Index: 1, Action: "unload", OK: false, Errno: "EAGAIN"},
			{Index: 2, Action: "open", OK: true},
			{Index: 3, Action: "read", NoAnswer: true, Oopses: []int{0}},
			{Index: 4, Action: "observe", OK: true, Process: &results.StepProcess{State: state}},
		},
		Oopses: oopses,
	}
}

func TestJudge(t *testing.T) {
	spec, err := Parse("u.yaml", []byte(unsafeSpec))
	if err != nil {
		t.Fatal(err)
	}
	fault := []evidence.Report{{Kind: "page-fault", Title: "BUG: unable to handle page fault in vfs_read", RIP: "vfs_read+0x8a/0x310", RecursiveFault: true}}
	for _, tc := range []struct {
		name, kernel, state string
		oopses              []evidence.Report
		verdict             string
		reason              string
	}{
		{"6.1 dead", "debian-6.1", "X (dead)", fault, results.Pass, ""},
		{"5.10 D", "debian-5.10", "D (disk sleep)", fault, results.Pass, ""},
		{"5.10 X is a finding", "debian-5.10", "X (dead)", fault, results.Fail, "step 4: process state: want D, got X (dead)"},
		{"no oops", "debian-6.1", "X (dead)", nil, results.Fail, "run: crash: want a crash, got 0 crash reports"},
		{"other rip", "debian-6.1", "X (dead)", []evidence.Report{{Kind: "page-fault", Title: "BUG: unable to handle page fault in filp_close", RIP: "filp_close+0x1d/0x70", RecursiveFault: true}}, results.Fail, `run: first crash RIP: want "vfs_read", got filp_close+0x1d/0x70`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := observed(tc.kernel, tc.state, tc.oopses)
			if tc.oopses == nil {
				r.Steps[2].Oopses = nil
			}
			Judge(spec, r)
			if r.Verdict != tc.verdict || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Judge(%s) = %s (%s); want %s (%s)", tc.name, r.Verdict, r.Reason, tc.verdict, tc.reason)
			}
			if len(r.Checks) == 0 {
				t.Errorf("Judge(%s) recorded no checks", tc.name)
			}
		})
	}
}

func TestJudgeKeepsError(t *testing.T) {
	spec, _ := Parse("u.yaml", []byte(unsafeSpec))
	r := observed("debian-6.1", "X (dead)", nil)
	r.Steps = r.Steps[:2]
	Judge(spec, r)
	if r.Verdict != results.Error || !strings.Contains(r.Error, "only 2 of 4 steps ran") {
		t.Errorf("Judge(cut short) = %s %q; want error saying only 2 of 4 steps ran", r.Verdict, r.Error)
	}
}

// TestJudgeWarningKinds: refcount and ODEBUG complaints are WARNINGs with
// kinds of their own; `warning: false` must see them.
func TestJudgeWarningKinds(t *testing.T) {
	spec, err := Parse("w.yaml", []byte("name: w\nsummary: s\nsteps:\n  - exists: /dev/null\nexpect: {warning: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []evidence.Kind{evidence.KindWarning, evidence.KindRefcount, evidence.KindODEBUG} {
		r := &results.Result{Kernel: results.Kernel{Name: "debian-6.1"},
			Steps:  []results.Step{{Index: 1, Action: "exists", OK: true}},
			Oopses: []evidence.Report{{Kind: kind, Title: "WARNING: refcount bug in lab_exit"}}}
		Judge(spec, r)
		if r.Verdict != results.Fail || !strings.Contains(r.Reason, "warning") {
			t.Errorf("a %s report under warning: false: verdict %s (%s); want fail naming the warning", kind, r.Verdict, r.Reason)
		}
	}
}

// TestJudgeDriverSteps: exec's exit status and stdout, and an ioctl's
// return value, are judged from what the steps recorded.
func TestJudgeDriverSteps(t *testing.T) {
	spec, err := Parse("d.yaml", []byte(`name: d
summary: s
modules: [m]
steps:
  - open: {holder: A, path: /dev/m, mode: rw}
  - ioctl: {holder: A, cmd: 0x6301}
    expect: {return: 1}
  - exec: lsmod
    expect: {exit: 0, stdout_contains: "m "}
`))
	if err != nil {
		t.Fatal(err)
	}
	i64 := func(v int64) *int64 { return &v }
	in := func(v int) *int { return &v }
	for _, tc := range []struct {
		name   string
		ret    *int64
		exit   *int
		stdout string
		reason string
	}{
		{"all hold", i64(1), in(0), "m 16384 0\n", ""},
		{"ioctl returned 2", i64(2), in(0), "m 16384 0\n", "step 2: return value: want 1, got 2"},
		{"ioctl failed", nil, in(0), "m 16384 0\n", "step 2: return value: want 1, got none"},
		{"exit 1", i64(1), in(1), "m 16384 0\n", "step 3: exit status: want 0, got 1"},
		{"stdout", i64(1), in(0), "x 1 0\n", `step 3: stdout contains: want "m ", got "x 1 0\n"`},
	} {
		r := &results.Result{Kernel: results.Kernel{Name: "k"}, Steps: []results.Step{
			{Index: 1, Action: "open", OK: true},
			{Index: 2, Action: "ioctl", OK: tc.ret != nil, Return: tc.ret},
			{Index: 3, Action: "exec", OK: *tc.exit == 0, Exit: tc.exit, Data: tc.stdout},
		}}
		Judge(spec, r)
		want := results.Pass
		if tc.reason != "" {
			want = results.Fail
		}
		if r.Verdict != want || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("%s: verdict %s (%s); want %s (%s)", tc.name, r.Verdict, r.Reason, want, tc.reason)
		}
	}
}
