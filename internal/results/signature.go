package results

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
)

// Signature is what the kernel did in one cell, in terms that stay the
// same from run to run and machine to machine when the behaviour does:
// two runs with equal signatures did the same thing. docs/design.md
// ("Behaviour signatures") says what is in it and what is left out, and
// why.
//
// Left out on purpose: addresses and offsets (KASLR and module placement
// move them every boot), PIDs, timestamps and durations (scheduling and
// host load), how many times a periodic report repeated (the hung-task
// detector reports a blocked task every interval, and how many intervals
// fit in a step is timing), the data a read returned (the devices count
// their opens), registers, taint, call traces below the guilty frame,
// notes, the accelerator and the provenance (the diff of two runs says
// which builds ran, beside the signature).
type Signature struct {
	Verdict string `json:"verdict"`
	// ErrorKind is set when the lab could not complete the run.
	ErrorKind string           `json:"error_kind,omitempty"`
	Steps     []StepOutcome    `json:"steps"`
	Reports   []ReportIdentity `json:"reports"`
	// Panic is set when the kernel panicked.
	Panic     bool         `json:"panic,omitempty"`
	Processes []ProcessEnd `json:"processes"`
}

// StepOutcome is how one step ended: "ok", an errno ("EIO"), "no
// answer", "failed" (no errno), with what the step was checked for where
// that is stable ("ok, data matched", "ok, exit 0", "ok, exists").
type StepOutcome struct {
	Index   int    `json:"index"`
	Action  string `json:"action"`
	Target  string `json:"target"`
	Outcome string `json:"outcome"`
}

// ReportIdentity names one kind of kernel report: its kind, its title and
// the guilty frame. A report printed again (the same identity) is one
// entry, at its first appearance.
type ReportIdentity struct {
	Kind   string `json:"kind"`
	Title  string `json:"title"`
	Guilty string `json:"guilty,omitempty"`
}

// ProcessEnd is the final state of a process the experiment started: its
// holder name (or command) and the state letter, "gone", or "exited"
// with its status.
type ProcessEnd struct {
	Holder string `json:"holder"`
	// Comm is the process's name as the kernel reports it (holder-A,
	// rmmod): for people, as the holder name says the same.
	Comm  string `json:"comm,omitempty"`
	State string `json:"state"`
}

// SignatureOf computes r's signature from the rest of the record.
func SignatureOf(r *Result) Signature {
	s := Signature{Verdict: r.Verdict, ErrorKind: r.ErrorKind, Panic: r.Panic != "",
		Steps: []StepOutcome{}, Reports: []ReportIdentity{}, Processes: []ProcessEnd{}}
	for _, st := range r.Steps {
		s.Steps = append(s.Steps, StepOutcome{Index: st.Index, Action: st.Action, Target: st.Target, Outcome: stepOutcomeWord(r, st)})
	}
	seen := map[ReportIdentity]bool{}
	for _, o := range r.Oopses {
		id := ReportIdentity{Kind: string(o.Kind), Title: Stable(o.Title), Guilty: Stable(o.Guilty)}
		if o.Kind == evidence.KindPanic {
			s.Panic = true
		}
		if !seen[id] {
			seen[id] = true
			s.Reports = append(s.Reports, id)
		}
	}
	for _, p := range r.Processes {
		who := p.Holder
		if who == "" {
			who = p.Comm
		}
		s.Processes = append(s.Processes, ProcessEnd{Holder: who, Comm: p.Comm, State: endState(p)})
	}
	return s
}

func stepOutcomeWord(r *Result, st Step) string {
	var w string
	switch {
	case st.NoAnswer:
		return "no answer"
	case !st.OK && st.Errno != "":
		return st.Errno
	case !st.OK:
		return "failed"
	default:
		w = "ok"
	}
	if st.Exit != nil {
		w += fmt.Sprintf(", exit %d", *st.Exit)
	}
	if st.Exists != nil {
		w += map[bool]string{true: ", exists", false: ", absent"}[*st.Exists]
	}
	for _, c := range r.Checks {
		if c.Step == st.Index && (c.What == "data" || strings.HasPrefix(c.What, "data ")) {
			w += map[bool]string{true: ", data matched", false: ", data differs"}[c.OK]
		}
	}
	return w
}

func endState(p Process) string {
	switch {
	case p.Exited:
		if p.ExitStatus == "" {
			return "exited"
		}
		return "exited " + p.ExitStatus
	case p.State == "" || p.State == "gone":
		return "gone"
	}
	return p.State[:1]
}

var (
	reAddress = regexp.MustCompile(`0x[0-9a-fA-F]+|\b[0-9a-fA-F]{8,16}\b`)
	// reClone is a compiler's suffix on a function it cloned or split
	// (__run_timers.part.0 on 5.10's gcc-10 build, __run_timers on
	// 6.12's): the same function.
	reClone = regexp.MustCompile(`\.(?:part|isra|constprop|cold|lto_priv|llvm)(?:\.[0-9]+)*\b`)
)

// Stable replaces the addresses in a report's text by "ADDR" (a title
// falls back to the report's first line when no function can be named,
// and that line can carry the faulting address) and drops compiler clone
// suffixes from function names.
func Stable(s string) string {
	return reClone.ReplaceAllString(reAddress.ReplaceAllString(s, "ADDR"), "")
}

// Key is the signature as one comparable string.
func (s Signature) Key() string { return strings.Join(s.Lines(), "\n") }

// Lines spells the signature a fact a line, in a fixed order.
func (s Signature) Lines() []string {
	out := []string{"verdict " + s.Verdict}
	if s.ErrorKind != "" {
		out = append(out, "error "+s.ErrorKind)
	}
	for _, st := range s.Steps {
		out = append(out, fmt.Sprintf("step %d %s %s: %s", st.Index, st.Action, st.Target, st.Outcome))
	}
	for _, r := range s.Reports {
		out = append(out, "report "+r.Words())
	}
	if s.Panic {
		out = append(out, "panic")
	}
	for _, p := range s.Processes {
		out = append(out, fmt.Sprintf("process %s: %s", p.Holder, p.State))
	}
	return out
}

// Words names a report as a person reads it: "page fault in vfs_read",
// "WARNING in remove_proc_entry", "INFO: task rmmod blocked in …".
func (r ReportIdentity) Words() string { return shortTitle(r.Title) }

// Label is a few words that tell this signature from others of the same
// cell: its Summary (the steps that did not end ok, the reports, the
// processes' states), led by the verdict when it is not pass.
func (s Signature) Label() string {
	l := s.Summary()
	if l == "nothing reported" {
		l = "no report"
	}
	if s.Verdict == Fail {
		l = s.Verdict + ": " + l
	}
	return l
}

// Summary is the signature in one line, what a matrix says of a kernel
// where kernels differ: the steps that did not end ok, the reports in
// order, a panic, and each process's final state ("step 5 read no
// answer; page fault in vfs_read then page fault in filp_close; holder-A
// X").
func (s Signature) Summary() string {
	if s.Verdict == Error {
		return "error: " + s.ErrorKind
	}
	var parts []string
	for _, st := range s.Steps {
		if !strings.HasPrefix(st.Outcome, "ok") {
			parts = append(parts, fmt.Sprintf("step %d %s %s", st.Index, st.Action, st.Outcome))
		}
	}
	var reports []string
	for _, r := range s.Reports {
		reports = append(reports, r.Words())
	}
	if len(reports) > 0 {
		parts = append(parts, strings.Join(reports, " then "))
	}
	if s.Panic {
		parts = append(parts, "panic")
	}
	for _, p := range s.Processes {
		who := p.Comm
		if who == "" {
			who = p.Holder
		}
		parts = append(parts, who+" "+p.State)
	}
	if len(parts) == 0 {
		return "nothing reported"
	}
	return strings.Join(parts, "; ")
}
