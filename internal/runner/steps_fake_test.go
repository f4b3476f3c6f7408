package runner

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
)

// TestRequestForEveryAction: each action's request carries its own
// arguments and none of another action's.
func TestRequestForEveryAction(t *testing.T) {
	full := func(a protocol.Action) experiment.Step {
		return experiment.Step{
			Action: a, Target: "T", Path: "/p", Params: "x=1", Count: 8, Offset: 3, Value: "v",
			Mode: "rw", Data: "d", Cmd: 0x1234, Arg: 9, Buffer: true, In: []byte{1, 2}, Size: 16, At: 4,
			Command: []string{"cat", "/x"}, ID: "id", Async: true, Timeout: 1500 * time.Millisecond,
		}
	}
	base := func(n int, a protocol.Action) protocol.Request {
		return protocol.Request{Step: n, Action: a, Async: true, TimeoutMS: 1500}
	}
	holder := func(n int, a protocol.Action) protocol.Request {
		r := base(n, a)
		r.Holder, r.Path, r.Count, r.Offset = "T", "/p", 8, 3
		r.Mode, r.Data, r.Size, r.At = "rw", "d", 16, 4
		r.Cmd, r.Arg, r.Buffer, r.In = 0x1234, 9, true, []byte{1, 2}
		return r
	}
	with := func(r protocol.Request, f func(*protocol.Request)) protocol.Request { f(&r); return r }
	tests := []struct {
		action protocol.Action
		want   protocol.Request
	}{
		{protocol.ActionLoad, with(base(1, protocol.ActionLoad), func(r *protocol.Request) { r.Module, r.Params = "T", "x=1" })},
		{protocol.ActionUnload, with(base(2, protocol.ActionUnload), func(r *protocol.Request) { r.Module, r.Params = "T", "x=1" })},
		{protocol.ActionOpen, holder(3, protocol.ActionOpen)},
		{protocol.ActionRead, holder(4, protocol.ActionRead)},
		{protocol.ActionSeek, holder(5, protocol.ActionSeek)},
		{protocol.ActionClose, holder(6, protocol.ActionClose)},
		{protocol.ActionObserve, holder(7, protocol.ActionObserve)},
		{protocol.ActionWrite, holder(8, protocol.ActionWrite)},
		{protocol.ActionIoctl, holder(9, protocol.ActionIoctl)},
		{protocol.ActionMmap, holder(10, protocol.ActionMmap)},
		{protocol.ActionExec, with(base(11, protocol.ActionExec), func(r *protocol.Request) { r.Command = []string{"cat", "/x"} })},
		{protocol.ActionSysctl, with(base(12, protocol.ActionSysctl), func(r *protocol.Request) { r.Key, r.Value = "T", "v" })},
		{protocol.ActionExists, with(base(13, protocol.ActionExists), func(r *protocol.Request) { r.Path = "T" })},
		{protocol.ActionAwait, base(14, protocol.ActionAwait)},
	}
	for i, tc := range tests {
		if got := request(i+1, full(tc.action)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("request(%s) =\n%+v\nwant\n%+v", tc.action, got, tc.want)
		}
	}
	if got := request(1, experiment.Step{Action: protocol.ActionRead, Target: "A"}); got.TimeoutMS != 0 || got.Async {
		t.Errorf("a step without a timeout asks %d ms (async %v); want the agent's default", got.TimeoutMS, got.Async)
	}
}

// TestStepsOnFakeGuest: every action's request reaches the agent with its
// arguments, async steps' tickets go to await and observe, and each
// reply lands in its step's record as the action says.
func TestStepsOnFakeGuest(t *testing.T) {
	exit3 := 3
	f := newFixture(t, script{replies: map[int]protocol.Reply{
		3:  {OK: true, Bytes: 2, MS: 7},
		4:  {OK: false, Errno: "ENOTTY", Error: "ioctl: ENOTTY", Bytes: 5, Data: "abcd"},
		5:  {OK: true, Exists: true},
		6:  {OK: true, Exit: &exit3, Data: "out"},
		13: {OK: false, NoAnswer: true, Process: &protocol.ProcessState{PID: 113, Comm: "holder", State: "D (disk sleep)"}},
		14: {OK: true, Bytes: 5},
	}})
	step := 200 * time.Millisecond
	exp := stepsOf("all-actions",
		experiment.Step{Action: protocol.ActionLoad, Target: "m", Params: "delay=1", Timeout: step, Line: 11},
		experiment.Step{Action: protocol.ActionOpen, Target: "A", Path: "/dev/m", Mode: "rw", Timeout: step},
		experiment.Step{Action: protocol.ActionWrite, Target: "A", Data: "hi", Timeout: step},
		experiment.Step{Action: protocol.ActionIoctl, Target: "A", Cmd: 0x1234, Arg: 9, Buffer: true, In: []byte{1}, Size: 4, Timeout: step},
		experiment.Step{Action: protocol.ActionExists, Target: "/dev/m", Timeout: step},
		experiment.Step{Action: protocol.ActionExec, Command: []string{"cat", "/proc/x"}, Timeout: step},
		experiment.Step{Action: protocol.ActionSysctl, Target: "vm/x", Value: "1", Timeout: step},
		experiment.Step{Action: experiment.ActionSleep, Sleep: 20 * time.Millisecond},
		experiment.Step{Action: protocol.ActionUnload, Target: "m", ID: "u", Async: true, Timeout: step},
		experiment.Step{Action: protocol.ActionAwait, Target: "u", Timeout: step},
		experiment.Step{Action: protocol.ActionObserve, Target: "u", Timeout: step},
		experiment.Step{Action: protocol.ActionObserve, Target: "A", Timeout: step},
		experiment.Step{Action: protocol.ActionRead, Target: "A", Count: 8, Timeout: step},
		experiment.Step{Action: protocol.ActionWrite, Target: "A", Data: "again", Timeout: step},
		experiment.Step{Action: protocol.ActionMmap, Target: "A", Size: 4096, At: 16, Data: "x", Timeout: step},
		experiment.Step{Action: protocol.ActionClose, Target: "A"},
	)
	r, _ := f.run(exp)
	if r.ErrorKind != "" {
		t.Fatalf("run: %s: %s", r.ErrorKind, r.Error)
	}
	if len(r.Steps) != 16 {
		t.Fatalf("%d steps recorded, want 16", len(r.Steps))
	}
	for i, st := range r.Steps {
		if st.Index != i+1 || st.Action != string(exp.Steps[i].Action) || st.Target != exp.Steps[i].Target {
			t.Errorf("step %d recorded as %d %s %s", i+1, st.Index, st.Action, st.Target)
		}
	}
	st := r.Steps
	if st[0].Line != 11 || !st[0].OK {
		t.Errorf("load: %+v", st[0])
	}
	if st[2].Return == nil || *st[2].Return != 2 || st[2].MS != 7 {
		t.Errorf("write: return %v, ms %d; want 2 bytes in the agent's 7 ms", st[2].Return, st[2].MS)
	}
	if st[3].Return != nil || st[3].OK || st[3].Errno != "ENOTTY" || st[3].Error != "ioctl: ENOTTY" || st[3].Data != "abcd" {
		t.Errorf("failed ioctl: %+v (a failed call has no return value)", st[3])
	}
	if st[4].Exists == nil || !*st[4].Exists || st[0].Exists != nil {
		t.Errorf("exists: %v; load's exists %v", st[4].Exists, st[0].Exists)
	}
	if st[5].Exit == nil || *st[5].Exit != 3 || st[5].Data != "out" || st[4].Exit != nil {
		t.Errorf("exec: exit %v data %q", st[5].Exit, st[5].Data)
	}
	if st[13].Return == nil || *st[13].Return != 5 || st[1].Return != nil {
		t.Errorf("write's return %v, open's %v", st[13].Return, st[1].Return)
	}
	if !st[7].OK || st[7].MS < 20 || st[7].Action != "sleep" {
		t.Errorf("sleep: %+v", st[7])
	}
	if !st[12].NoAnswer || st[12].Process == nil || st[12].Process.PID != 113 || st[12].Process.State != "D (disk sleep)" {
		t.Errorf("read without an answer: %+v", st[12])
	}
	if st[1].Process == nil || st[1].Process.PID != 102 || st[0].Process != nil {
		t.Errorf("open's process %+v, load's %+v", st[1].Process, st[0].Process)
	}
	if len(r.Modules) != 2 || r.Modules[0].Event != "load" || r.Modules[1].Event != "unload" || r.Modules[0].Sections[".text"] == 0 {
		t.Errorf("modules %+v; want the load's and the unload's layouts", r.Modules)
	}

	reqs := map[int]protocol.Request{}
	var own []protocol.Request
	for _, q := range f.b.requests() {
		if q.Step == 0 {
			own = append(own, q)
		} else {
			reqs[q.Step] = q
		}
	}
	if _, ok := reqs[8]; ok {
		t.Errorf("the sleep step reached the agent: %+v", reqs[8])
	}
	checks := []struct {
		n    int
		ok   bool
		what string
	}{
		{1, reqs[1].Module == "m" && reqs[1].Params == "delay=1" && reqs[1].TimeoutMS == 200 && reqs[1].Holder == "", "load"},
		{2, reqs[2].Holder == "A" && reqs[2].Path == "/dev/m" && reqs[2].Mode == "rw", "open"},
		{4, reqs[4].Cmd == 0x1234 && reqs[4].Arg == 9 && reqs[4].Buffer && reqs[4].Size == 4, "ioctl"},
		{5, reqs[5].Path == "/dev/m" && reqs[5].Holder == "", "exists"},
		{6, reflect.DeepEqual(reqs[6].Command, []string{"cat", "/proc/x"}), "exec"},
		{7, reqs[7].Key == "vm/x" && reqs[7].Value == "1" && reqs[7].Module == "", "sysctl"},
		{9, reqs[9].Async && reqs[9].Module == "m", "async unload"},
		{10, reqs[10].Ticket == "ticket-9", "await names the unload's ticket"},
		{11, reqs[11].Ticket == "ticket-9" && reqs[11].Holder == "", "observe of an async step asks by ticket"},
		{12, reqs[12].Holder == "A" && reqs[12].Ticket == "", "observe of a holder asks by holder"},
		{13, reqs[13].Count == 8 && reqs[13].Ticket == "", "read"},
		{15, reqs[15].Size == 4096 && reqs[15].At == 16 && reqs[15].Data == "x", "mmap"},
		{16, reqs[16].TimeoutMS == 0, "close without a timeout"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: request %+v", c.what, reqs[c.n])
		}
	}
	if len(own) == 0 || own[0].Action != protocol.ActionSysctl || own[0].Key != "kernel/hung_task_timeout_secs" || own[0].Value != "5" {
		t.Errorf("the run's first own request %+v; want the hung-task detector armed", own)
	}
	// The final observations: holder A, and the async unload by its ticket.
	var observed []string
	for _, q := range own {
		if q.Action == protocol.ActionObserve {
			observed = append(observed, q.Holder+"|"+q.Ticket)
		}
	}
	if !reflect.DeepEqual(observed, []string{"A|", "|ticket-9"}) {
		t.Errorf("final observations %q; want holder A, then the unload's ticket", observed)
	}
	if len(r.Processes) != 2 || r.Processes[0].Holder != "A" || r.Processes[1].Holder != "u (unload m)" || r.Processes[1].PID != 300 || r.Processes[1].Comm != "rmmod" {
		t.Errorf("processes %+v", r.Processes)
	}
	// rmmod left in D after no oops: nothing to explain.
	if hasNote(r, "hung-task detector did not report it") {
		t.Errorf("notes %q explain a silent detector without an oops", r.Notes)
	}
	if r.TimingsMS["steps"] < 20 {
		t.Errorf("steps took %d ms, less than its sleep", r.TimingsMS["steps"])
	}
}

// An async step other than an unload is a holder's: it is observed as
// the holder, not again by its ticket; an async step without a ticket
// is not remembered.
func TestAsyncHolderStepObservedOnce(t *testing.T) {
	f := newFixture(t, script{replies: map[int]protocol.Reply{3: {OK: true}}})
	exp := stepsOf("async-read",
		experiment.Step{Action: protocol.ActionLoad, Target: "m"},
		experiment.Step{Action: protocol.ActionOpen, Target: "A", Path: "/dev/m"},
		experiment.Step{Action: protocol.ActionUnload, Target: "m", ID: "u", Async: true}, // no ticket in reply
		experiment.Step{Action: protocol.ActionRead, Target: "A", ID: "r", Async: true},
		experiment.Step{Action: protocol.ActionAwait, Target: "r"},
		experiment.Step{Action: protocol.ActionAwait, Target: "u"},
	)
	r, _ := f.run(exp)
	if r.ErrorKind != "" {
		t.Fatalf("run: %s", r.Error)
	}
	var observed []string
	for _, q := range f.b.requests() {
		if q.Step == 0 && q.Action == protocol.ActionObserve {
			observed = append(observed, q.Holder+"|"+q.Ticket)
		}
		if q.Step == 5 && q.Ticket != "ticket-4" {
			t.Errorf("await r asks ticket %q, want ticket-4", q.Ticket)
		}
		if q.Step == 6 && q.Ticket != "" {
			t.Errorf("await of a step without a ticket asks %q", q.Ticket)
		}
	}
	if !reflect.DeepEqual(observed, []string{"A|"}) {
		t.Errorf("final observations %q; want holder A only", observed)
	}
}

// The hung-task detector that cannot be armed leaves a note saying why.
func TestHungTaskDetectorNotArmed(t *testing.T) {
	for _, tc := range []struct {
		sc   script
		note string
	}{
		{script{own: map[protocol.Action]protocol.Reply{protocol.ActionSysctl: {OK: false, Error: "no such sysctl"}}}, "hung-task detector not armed: <nil>no such sysctl"},
		{script{ownErr: map[protocol.Action]error{protocol.ActionSysctl: errors.New("EOF")}}, "hung-task detector not armed: EOF"},
	} {
		r, _, _ := fakeRun(t, tc.sc, nil)
		if r.ErrorKind != "" || !hasNote(r, tc.note) {
			t.Errorf("run %s %q: notes %q; want %q", r.ErrorKind, r.Error, r.Notes, tc.note)
		}
	}
	if r, _, _ := fakeRun(t, script{}, nil); hasNote(r, "hung-task detector") {
		t.Errorf("an armed detector has a note: %q", r.Notes)
	}
}

// A run that failed asks the guest nothing more: no final observations,
// no end-of-run line.
func TestFailedRunAsksNothingMore(t *testing.T) {
	_, b, _ := fakeRun(t, script{status: "internal-error", steps: map[int]behaviour{3: dropsAgent}}, nil)
	if n := ownRequests(b, string(protocol.ActionObserve)); n != 0 {
		t.Errorf("%d final observations of a failed run", n)
	}
	if n := ownRequests(b, string(protocol.ActionEnd)); n != 0 {
		t.Errorf("%d end-of-run requests of a failed run", n)
	}
	_, b, _ = fakeRun(t, script{}, nil)
	if ownRequests(b, string(protocol.ActionObserve)) != 1 || ownRequests(b, string(protocol.ActionEnd)) != 1 {
		t.Errorf("a completed run: requests %+v", b.requests())
	}
}

// A holder observed without a process (the agent knows none) is left
// out of the result.
func TestObservationWithoutProcess(t *testing.T) {
	r, _, _ := fakeRun(t, script{own: map[protocol.Action]protocol.Reply{protocol.ActionObserve: {OK: true}}}, nil)
	if len(r.Processes) != 0 {
		t.Errorf("processes %+v", r.Processes)
	}
	r, _, _ = fakeRun(t, script{ownErr: map[protocol.Action]error{protocol.ActionObserve: errors.New("EOF")}}, nil)
	if len(r.Processes) != 0 || r.ErrorKind != "" {
		t.Errorf("processes %+v, %s", r.Processes, r.Error)
	}
}

// QEMU that exits during a sleep step ends the run as a lost step.
func TestQEMUExitsDuringSleep(t *testing.T) {
	f := newFixture(t, script{})
	go func() {
		for {
			for _, m := range f.b.vmsNow() {
				if strings.Contains(readFile(m.cfg.Console), protocol.StepLine(protocol.Request{Step: 1, Action: protocol.ActionLoad, Module: "m"})) {
					m.exit(errors.New("signal: killed"))
					return
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	r, _ := f.run(stepsOf("sleepy",
		experiment.Step{Action: protocol.ActionLoad, Target: "m"},
		experiment.Step{Action: experiment.ActionSleep, Sleep: 5 * time.Second},
	))
	if r.ErrorKind != results.KindQEMUExited || !strings.Contains(r.Error, "step 2 (sleep )") || !strings.Contains(r.Error, "signal: killed") {
		t.Errorf("%s: %s", r.ErrorKind, r.Error)
	}
	if len(r.Steps) != 1 {
		t.Errorf("%d steps recorded", len(r.Steps))
	}
}

// A run interrupted in a sleep step is interrupted.
func TestInterruptedDuringSleep(t *testing.T) {
	f := newFixture(t, script{})
	f.o.RunTimeout = 100 * time.Millisecond
	r, _ := f.run(stepsOf("sleepy", experiment.Step{Action: experiment.ActionSleep, Sleep: 5 * time.Second}))
	if r.ErrorKind != results.KindGuestHang || !strings.Contains(r.Error, "the run took longer than 100ms") {
		t.Errorf("%s: %s", r.ErrorKind, r.Error)
	}
}

// explainSilentDetector: a process still in D with no hung-task report
// after an oops gets the note; without an oops, with a report, or not in
// D it does not.
func TestExplainSilentDetector(t *testing.T) {
	oops := evidence.Report{Kind: evidence.KindOops}
	warn := evidence.Report{Kind: evidence.KindWarning}
	d := results.Process{Comm: "rmmod", PID: 7, State: "D (disk sleep)"}
	tests := []struct {
		name   string
		oopses []evidence.Report
		p      results.Process
		want   bool
	}{
		{"D after an oops", []evidence.Report{warn, oops}, d, true},
		{"D after an oops, then a warning", []evidence.Report{oops, warn}, d, true},
		{"D after a warning only", []evidence.Report{warn}, d, false},
		{"D, no report at all", nil, d, false},
		{"D with its hung-task report", []evidence.Report{oops}, results.Process{Comm: "rmmod", PID: 7, State: "D", HungTaskReport: "INFO: task rmmod:7 blocked"}, false},
		{"sleeping", []evidence.Report{oops}, results.Process{Comm: "cat", PID: 8, State: "S (sleeping)"}, false},
	}
	for _, tc := range tests {
		s := &session{r: &results.Result{Oopses: tc.oopses, Processes: []results.Process{tc.p}}}
		s.explainSilentDetector()
		got := len(s.r.Notes) == 1
		if got != tc.want {
			t.Errorf("%s: notes %q", tc.name, s.r.Notes)
		}
		if got && s.r.Notes[0] != "rmmod (pid 7) is still D at the end of the run, yet the kernel's hung-task detector did not report it: after an oops the kernel is tainted D (died) and khungtaskd skips its checks" {
			t.Errorf("%s: note %q", tc.name, s.r.Notes[0])
		}
	}
}

// TestStepGrace: a reply that comes after the step's timeout but within
// the grace is an answer; one later still is a hung guest.
func TestStepGrace(t *testing.T) {
	exp := stepsOf("slow", experiment.Step{Action: protocol.ActionLoad, Target: "m", Timeout: 100 * time.Millisecond})
	f := newFixture(t, script{slowBy: 250 * time.Millisecond, steps: map[int]behaviour{1: slow}})
	f.o.waits.StepGrace = time.Second
	if r, _ := f.run(exp); r.ErrorKind != "" || len(r.Steps) != 1 || !r.Steps[0].OK {
		t.Errorf("within the grace: %s: %s", r.ErrorKind, r.Error)
	}
	f = newFixture(t, script{slowBy: 5 * time.Second, steps: map[int]behaviour{1: slow}})
	f.o.waits.StepGrace = 50 * time.Millisecond
	if r, _ := f.run(exp); r.ErrorKind != results.KindGuestHang || !strings.Contains(r.Error, "step 1 (load m): the guest did not answer") {
		t.Errorf("past the grace: %s: %s", r.ErrorKind, r.Error)
	}
}

// TestEndLineAwaited: the VM stops once the console shows the end-of-run
// line, which may come a while after the agent was asked; not later than
// EndLine.
func TestEndLineAwaited(t *testing.T) {
	_, _, dir := fakeRun(t, script{endDelay: 60 * time.Millisecond}, nil)
	if !protocol.IsEnd(readFile(filepath.Join(dir, "console.log"))) {
		t.Errorf("the VM stopped before the end-of-run line came")
	}
	start := time.Now()
	_, _, dir = fakeRun(t, script{endDelay: 10 * time.Second}, nil)
	if protocol.IsEnd(readFile(filepath.Join(dir, "console.log"))) || time.Since(start) > 5*time.Second {
		t.Errorf("the run waited %v for an end-of-run line", time.Since(start))
	}
}

// TestConsoleGone: a console log that vanished under a run ends it
// without the end-of-run line, not with a crash.
func TestConsoleGone(t *testing.T) {
	r, b, _ := fakeRun(t, script{consoleGoneAt: 4}, nil)
	if r.ErrorKind != "" || len(r.Steps) != 4 || ownRequests(b, string(protocol.ActionEnd)) != 1 {
		t.Errorf("%s: %s, %d steps", r.ErrorKind, r.Error, len(r.Steps))
	}
}
