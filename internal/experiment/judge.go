package experiment

import (
	"fmt"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

// For returns the step expectations that apply on kernel: the base ones with
// the kernel's overrides laid over them.
func (e StepExpect) For(kernel string) StepExpect {
	o, ok := e.Kernels[kernel]
	if !ok {
		return e
	}
	m := e
	if o.OK != nil {
		m.OK = o.OK
	}
	if o.Errno != nil {
		m.Errno = o.Errno
	}
	if o.DataContains != nil {
		m.DataContains = o.DataContains
	}
	if o.Answer != nil {
		m.Answer = o.Answer
	}
	if o.State != nil {
		m.State = o.State
	}
	if o.Wchan != nil {
		m.Wchan = o.Wchan
	}
	if o.Stack != nil {
		m.Stack = o.Stack
	}
	if o.Exists != nil {
		m.Exists = o.Exists
	}
	if o.Report != nil {
		m.Report, m.ReportTitle = o.Report, o.ReportTitle
	}
	if o.MinMS != nil {
		m.MinMS = o.MinMS
	}
	if o.Exit != nil {
		m.Exit = o.Exit
	}
	if o.StdoutContains != nil {
		m.StdoutContains = o.StdoutContains
	}
	if o.Return != nil {
		m.Return = o.Return
	}
	if o.MaxMS != nil {
		m.MaxMS = o.MaxMS
	}
	m.Line = o.Line
	return m
}

// For returns the run expectations that apply on kernel.
func (e RunExpect) For(kernel string) RunExpect {
	o, ok := e.Kernels[kernel]
	if !ok {
		return e
	}
	m := e
	if o.Crash != nil {
		m.Crash = o.Crash
	}
	if o.CrashTitle != nil {
		m.CrashTitle = o.CrashTitle
	}
	if o.RIP != nil {
		m.RIP = o.RIP
	}
	if o.RecursiveFault != nil {
		m.RecursiveFault = o.RecursiveFault
	}
	if o.Warning != nil {
		m.Warning = o.Warning
	}
	if o.Panic != nil {
		m.Panic = o.Panic
	}
	if o.HungTasks != nil {
		m.HungTasks = o.HungTasks
	}
	if o.Rate != nil {
		m.Rate = o.Rate
	}
	m.Line = o.Line
	return m
}

// Judge checks every expectation of s against what r observed (its steps and
// oopses), fills r.Checks and sets the verdict: pass when every check holds,
// fail with a reason naming each one that did not. A result that already
// has an error keeps its error verdict.
func Judge(s *Spec, r *results.Result) {
	r.Checks = nil
	for i, st := range s.Steps {
		if i >= len(r.Steps) {
			break
		}
		r.Checks = append(r.Checks, checkStep(i+1, st.Expect.For(r.Kernel.Name), &r.Steps[i], r)...)
	}
	runExpect := s.Expect.For(r.Kernel.Name)
	r.Checks = append(r.Checks, checkRun(runExpect, r)...)
	panicExpected := runExpect.Panic != nil && *runExpect.Panic
	if r.Verdict == results.Error && !(panicExpected && r.ErrorKind == results.KindKernelPanic) {
		return
	}
	// An expected panic ends the run: the steps after it cannot run.
	if len(r.Steps) < len(s.Steps) && !(panicExpected && r.Panic != "") {
		r.Verdict = results.Error
		if r.Error == "" {
			r.Error = fmt.Sprintf("only %d of %d steps ran", len(r.Steps), len(s.Steps))
		}
		return
	}
	var failed []string
	for _, c := range r.Checks {
		if !c.OK {
			where := "run"
			if c.Step > 0 {
				where = fmt.Sprintf("step %d", c.Step)
			}
			failed = append(failed, fmt.Sprintf("%s: %s: want %s, got %s", where, c.What, c.Want, c.Got))
		}
	}
	if len(failed) == 0 {
		r.Verdict, r.Reason = results.Pass, ""
		return
	}
	r.Verdict, r.Reason = results.Fail, strings.Join(failed, "; ")
}

func checkStep(n int, e StepExpect, st *results.Step, r *results.Result) []results.Check {
	var cs []results.Check
	add := func(what, want, got string, ok bool) {
		cs = append(cs, results.Check{Step: n, Line: e.Line, What: what, Want: want, Got: got, OK: ok})
	}
	if e.OK != nil {
		add("ok", fmt.Sprint(*e.OK), fmt.Sprint(st.OK)+errSuffix(st), st.OK == *e.OK)
	}
	if e.Errno != nil {
		ok := false
		for _, want := range e.Errno {
			ok = ok || sameErrno(want, st.Errno)
		}
		add("errno", strings.Join(e.Errno, " or "), orNone(st.Errno), ok)
	}
	if e.DataContains != nil {
		add("data contains", fmt.Sprintf("%q", *e.DataContains), fmt.Sprintf("%q", st.Data), strings.Contains(st.Data, *e.DataContains))
	}
	if e.Answer != nil {
		got := "answer"
		if st.NoAnswer {
			got = "no answer"
		}
		want := "answer"
		if !*e.Answer {
			want = "no answer"
		}
		add("answer", want, got, st.NoAnswer != *e.Answer)
	}
	if e.State != nil {
		got := ""
		if st.Process != nil {
			got = st.Process.StateLetter()
		}
		ok := false
		for _, s := range e.State {
			ok = ok || s == got
		}
		full := orNone(got)
		if st.Process != nil && st.Process.State != "" {
			full = st.Process.State
		}
		add("process state", strings.Join(e.State, " or "), full, ok)
	}
	if e.Wchan != nil {
		got := ""
		if st.Process != nil {
			got = st.Process.Wchan
		}
		add("wchan", fmt.Sprintf("%q", *e.Wchan), fmt.Sprintf("%q", got), got != "" && strings.Contains(got, *e.Wchan))
	}
	if e.Stack != nil {
		var frames []string
		if st.Process != nil {
			frames = st.Process.Stack
		}
		found := false
		for _, f := range frames {
			found = found || strings.Contains(f, *e.Stack)
		}
		add("kernel stack", fmt.Sprintf("a frame %q", *e.Stack), orNone(strings.Join(frames, " < ")), found)
	}
	if e.Exit != nil {
		got := "none"
		if st.Exit != nil {
			got = fmt.Sprint(*st.Exit)
		}
		add("exit status", fmt.Sprint(*e.Exit), got, st.Exit != nil && int64(*st.Exit) == *e.Exit)
	}
	if e.StdoutContains != nil {
		add("stdout contains", fmt.Sprintf("%q", *e.StdoutContains), fmt.Sprintf("%q", st.Data), st.Action == "exec" && strings.Contains(st.Data, *e.StdoutContains))
	}
	if e.Return != nil {
		got := "none"
		if st.Return != nil {
			got = fmt.Sprint(*st.Return)
		}
		add("return value", fmt.Sprint(*e.Return), got, st.Return != nil && *st.Return == *e.Return)
	}
	if e.Exists != nil {
		got := st.Exists != nil && *st.Exists
		add("path exists", fmt.Sprint(*e.Exists), fmt.Sprint(got), st.Exists != nil && got == *e.Exists)
	}
	if e.Report != nil {
		var titles []string
		matched := false
		for _, i := range st.Oopses {
			t := r.Oopses[i].Title
			titles = append(titles, t)
			matched = matched || e.ReportTitle == nil || e.ReportTitle.MatchString(t)
		}
		got := "no report"
		if len(titles) > 0 {
			got = strings.Join(titles, " | ")
		}
		want := "no report"
		if *e.Report {
			want = "a report"
			if e.ReportTitle != nil {
				want = fmt.Sprintf("a report matching %q", e.ReportTitle)
			}
		}
		ok := len(titles) == 0
		if *e.Report {
			ok = matched
		}
		add("kernel report during step", want, got, ok)
	}
	if e.MinMS != nil {
		add("elapsed ms", fmt.Sprintf(">= %d", *e.MinMS), fmt.Sprint(st.MS), st.MS >= *e.MinMS)
	}
	if e.MaxMS != nil {
		add("elapsed ms", fmt.Sprintf("<= %d", *e.MaxMS), fmt.Sprint(st.MS), st.MS <= *e.MaxMS)
	}
	return cs
}

func checkRun(e RunExpect, r *results.Result) []results.Check {
	var cs []results.Check
	add := func(what, want, got string, ok bool) {
		cs = append(cs, results.Check{Line: e.Line, What: what, Want: want, Got: got, OK: ok})
	}
	crashes := 0
	warnings := 0
	recursive := false
	for _, o := range r.Oopses {
		// refcount and ODEBUG complaints are WARNINGs with kinds of
		// their own: a `warning:` expectation counts them too.
		if o.IsWarning() {
			warnings++
		}
		if o.IsCrash() {
			crashes++
		}
		recursive = recursive || o.RecursiveFault
	}
	if e.Crash != nil {
		want := "no crash"
		if *e.Crash {
			want = "a crash"
		}
		got := fmt.Sprintf("%d crash reports", crashes)
		add("crash", want, got, (crashes > 0) == *e.Crash)
	}
	if e.CrashTitle != nil {
		t := firstCrash(r).Title
		add("first crash title", fmt.Sprintf("%q", e.CrashTitle), orNone(t), t != "" && e.CrashTitle.MatchString(t))
	}
	if e.RIP != nil {
		rip := firstCrash(r).RIP
		add("first crash RIP", fmt.Sprintf("%q", e.RIP), orNone(rip), rip != "" && e.RIP.MatchString(rip))
	}
	if e.RecursiveFault != nil {
		add("recursive fault", fmt.Sprint(*e.RecursiveFault), fmt.Sprint(recursive), recursive == *e.RecursiveFault)
	}
	if e.Warning != nil {
		add("warning", fmt.Sprint(*e.Warning), fmt.Sprintf("%d warnings", warnings), (warnings > 0) == *e.Warning)
	}
	if e.Panic != nil {
		add("kernel panic", fmt.Sprint(*e.Panic), orNone(r.Panic), (r.Panic != "") == *e.Panic)
	}
	if e.HungTasks != nil {
		var reported []string
		for _, o := range r.Oopses {
			if o.Kind == evidence.KindHungTask {
				reported = append(reported, o.Comm)
			}
		}
		for _, want := range e.HungTasks {
			ok := false
			for _, c := range reported {
				ok = ok || c == want
			}
			add("hung-task report", want, orNone(strings.Join(reported, ", ")), ok)
		}
	}
	return cs
}

// firstCrash is the first oops proper of the run (zero when none).
func firstCrash(r *results.Result) evidence.Report {
	for _, o := range r.Oopses {
		if o.IsCrash() {
			return o
		}
	}
	return evidence.Report{}
}

func errSuffix(st *results.Step) string {
	if st.OK {
		return ""
	}
	if st.Errno != "" {
		return " (" + st.Errno + ")"
	}
	if st.NoAnswer {
		return " (no answer)"
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
