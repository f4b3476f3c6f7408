package experiment

import (
	"gopkg.in/yaml.v3"
)

// The expectations of a step and of a run, as the file spells them.

func (p *parser) stepExpect(n *yaml.Node, what string) *StepExpect {
	e := &StepExpect{Line: n.Line}
	p.fields(n, what, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "ok":
			e.OK = p.boolean(v, key)
		case "errno":
			e.Errno = p.strings(v, key)
			for _, name := range e.Errno {
				if name != "" && !knownErrno(name) {
					p.fail(v, "errno %q is not an errno name like EBUSY", name)
				}
			}
		case "data_contains":
			s := p.str(v, key)
			e.DataContains = &s
		case "answer":
			e.Answer = p.boolean(v, key)
		case "state":
			e.State = p.strings(v, key)
			for _, s := range e.State {
				if s != "" && !validState(s) {
					p.fail(v, "state %q: want a /proc state letter (R S D T t X Z I) or gone", s)
				}
			}
		case "wchan":
			s := p.str(v, key)
			e.Wchan = &s
		case "stack":
			s := p.str(v, key)
			e.Stack = &s
		case "exists":
			e.Exists = p.boolean(v, key)
		case "report", "oops":
			if e.Report != nil {
				p.fail(k, "%s: give report (or the older oops), not both", what)
			}
			if v.Tag == "!!bool" {
				e.Report = p.boolean(v, key)
			} else {
				t := true
				e.Report = &t
				e.ReportTitle = p.regexp(v, key)
			}
		case "exit":
			i := p.integer(v, key)
			e.Exit = &i
		case "stdout_contains":
			s := p.str(v, key)
			e.StdoutContains = &s
		case "return":
			i := p.integer(v, key)
			e.Return = &i
		case "min_ms":
			i := p.integer(v, key)
			e.MinMS = &i
		case "max_ms":
			i := p.integer(v, key)
			e.MaxMS = &i
		case "kernels":
			if what != "expect" {
				return false
			}
			e.Kernels = map[string]*StepExpect{}
			p.fields(v, "kernels", func(kernel string, _, kv *yaml.Node) bool {
				e.Kernels[kernel] = p.stepExpect(kv, "kernels."+kernel)
				return true
			})
		default:
			return false
		}
		return true
	})
	return e
}

func (p *parser) runExpect(n *yaml.Node, what string) *RunExpect {
	e := &RunExpect{Line: n.Line}
	p.fields(n, what, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "crash", "oops":
			if e.Crash != nil {
				p.fail(k, "%s: give crash (or the older oops), not both", what)
			}
			e.Crash = p.boolean(v, key)
		case "crash_title", "oops_title":
			if e.CrashTitle != nil {
				p.fail(k, "%s: give crash_title (or the older oops_title), not both", what)
			}
			e.CrashTitle = p.regexp(v, key)
		case "rip":
			e.RIP = p.regexp(v, key)
		case "recursive_fault":
			e.RecursiveFault = p.boolean(v, key)
		case "warning":
			e.Warning = p.boolean(v, key)
		case "panic":
			e.Panic = p.boolean(v, key)
		case "hung_tasks":
			e.HungTasks = p.strings(v, key)
		case "rate":
			r, err := ParseRate(p.str(v, key))
			if err != nil {
				p.fail(v, "rate: %v", err)
			}
			e.Rate = r
		case "kernels":
			if what != "expect" {
				return false
			}
			e.Kernels = map[string]*RunExpect{}
			p.fields(v, "kernels", func(kernel string, _, kv *yaml.Node) bool {
				e.Kernels[kernel] = p.runExpect(kv, "kernels."+kernel)
				return true
			})
		default:
			return false
		}
		return true
	})
	return e
}

func validState(s string) bool {
	switch s {
	case "R", "S", "D", "T", "t", "X", "Z", "I", "gone":
		return true
	}
	return false
}
