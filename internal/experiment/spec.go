// Package experiment reads experiment files and judges what a run observed
// against their expectations. It does not run anything: internal/runner does.
package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Spec is one experiment file.
type Spec struct {
	Name    string
	Summary string
	// Description is free text for people (what the experiment shows).
	Description string
	// Modules are the lab modules the guest gets (built from kmods/).
	Modules []string
	// Cmdline is appended to the kernel command line.
	Cmdline string
	Steps   []Step
	// Expect are the expectations on the whole run (oopses).
	Expect RunExpect
	// File is where the spec was read from.
	File string
}

// Step is one action of an experiment.
type Step struct {
	Action string
	// Target is the step's main argument: the module of load/unload, the
	// holder of open/read/seek/close/observe, the ticket step of await,
	// the key of sysctl, the path of exists.
	Target string
	Path   string
	Params string
	Count  int
	Offset int64
	Value  string
	// ID names an async step so that await can refer to it.
	ID      string
	Async   bool
	Timeout time.Duration
	// Sleep is the duration of a sleep step.
	Sleep  time.Duration
	Expect StepExpect
	Line   int
}

// StepExpect are expectations on one step. Nil fields are not checked.
type StepExpect struct {
	OK           *bool
	Errno        []string
	DataContains *string
	// Answer false means the process doing the step must not answer
	// (it died or hangs in the kernel).
	Answer *bool
	// State is the acceptable one-letter process states ("D", "X", "gone").
	State []string
	Wchan *string
	// Stack is a function the process's kernel stack must hold.
	Stack  *string
	Exists *bool
	// Oops says whether an oops is reported while this step runs; OopsTitle
	// is a pattern its title must match.
	Oops      *bool
	OopsTitle *regexp.Regexp
	MinMS     *int64
	MaxMS     *int64
	// Kernels override fields for named kernel images.
	Kernels map[string]*StepExpect
	Line    int
}

// RunExpect are expectations on the whole run.
type RunExpect struct {
	// Oops true: at least one oops; false: none at all.
	Oops *bool
	// OopsTitle must match the first oops's title.
	OopsTitle *regexp.Regexp
	// RIP must match the first oops's RIP.
	RIP            *regexp.Regexp
	RecursiveFault *bool
	// Warning true: at least one WARNING report; false: none.
	Warning *bool
	// HungTasks are task names (comm) the kernel's hung-task detector must
	// report ("INFO: task NAME:PID blocked for more than N seconds").
	HungTasks []string
	// Panic true: the kernel is expected to panic (the run then ends with
	// the panic, and steps after it do not run); false: it must not.
	Panic   *bool
	Kernels map[string]*RunExpect
	Line    int
}

// Actions and the argument each takes.
var actions = map[string]string{
	"load":    "module",
	"unload":  "module",
	"open":    "holder",
	"read":    "holder",
	"seek":    "holder",
	"close":   "holder",
	"observe": "holder",
	"await":   "id",
	"sysctl":  "key",
	"exists":  "path",
	"sleep":   "duration",
}

// Actions lists the step actions, sorted.
func Actions() []string {
	var a []string
	for k := range actions {
		a = append(a, k)
	}
	sort.Strings(a)
	return a
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,56}$`)

// Load reads and validates an experiment file. Every error names file:line.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse validates an experiment from its YAML text; file names it in errors.
func Parse(file string, data []byte) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	p := &parser{file: file}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty experiment file", file)
	}
	s := p.spec(doc.Content[0])
	if p.err != nil {
		return nil, p.err
	}
	s.File = file
	return s, nil
}

type parser struct {
	file string
	err  error
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
	}
}

// fields walks a mapping, calling f for each key in order and rejecting
// keys f does not know.
func (p *parser) fields(n *yaml.Node, what string, f func(key string, k, v *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s must be a mapping, not %s", what, kind(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.fail(k, "%s: %q given twice", what, k.Value)
			return
		}
		seen[k.Value] = true
		if !f(k.Value, k, v) {
			p.fail(k, "%s: unknown field %q", what, k.Value)
			return
		}
	}
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, "%s must be a string, not %s", what, kind(n))
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, what string) *bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.fail(n, "%s must be true or false, not %s", what, kind(n))
		return nil
	}
	return &b
}

func (p *parser) integer(n *yaml.Node, what string) int64 {
	var i int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		p.fail(n, "%s must be an integer, not %s", what, kind(n))
	}
	return i
}

func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	s := p.str(n, what)
	d, err := time.ParseDuration(s)
	if s != "" && (err != nil || d <= 0) {
		p.fail(n, "%s must be a positive duration like 5s or 300ms, not %q", what, s)
	}
	return d
}

func (p *parser) regexp(n *yaml.Node, what string) *regexp.Regexp {
	s := p.str(n, what)
	re, err := regexp.Compile(s)
	if err != nil {
		p.fail(n, "%s: bad pattern %q: %v", what, s, err)
	}
	return re
}

// strings accepts one string or a list of strings.
func (p *parser) strings(n *yaml.Node, what string) []string {
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, c := range n.Content {
			out = append(out, p.str(c, what))
		}
		if len(out) == 0 {
			p.fail(n, "%s must not be empty", what)
		}
		return out
	}
	return []string{p.str(n, what)}
}

func (p *parser) name(n *yaml.Node, what string) string {
	s := p.str(n, what)
	if p.err == nil && !nameRE.MatchString(s) {
		p.fail(n, "%s %q: use letters, digits, _ and - only", what, s)
	}
	return s
}

func (p *parser) spec(n *yaml.Node) *Spec {
	s := &Spec{}
	var stepsNode *yaml.Node
	p.fields(n, "experiment", func(key string, k, v *yaml.Node) bool {
		switch key {
		case "name":
			s.Name = p.name(v, "name")
		case "summary":
			s.Summary = p.str(v, "summary")
		case "description":
			s.Description = p.str(v, "description")
		case "modules":
			for _, m := range p.strings(v, "modules") {
				if p.err == nil && !nameRE.MatchString(m) {
					p.fail(v, "module name %q: use letters, digits, _ and - only", m)
				}
				s.Modules = append(s.Modules, m)
			}
		case "cmdline":
			s.Cmdline = p.str(v, "cmdline")
		case "steps":
			stepsNode = v
		case "expect":
			s.Expect = *p.runExpect(v, "expect")
		default:
			return false
		}
		return true
	})
	if p.err != nil {
		return nil
	}
	for _, req := range []struct {
		ok   bool
		what string
	}{{s.Name != "", "name"}, {s.Summary != "", "summary"}, {stepsNode != nil, "steps"}} {
		if !req.ok {
			p.fail(n, "experiment: missing field %q", req.what)
			return nil
		}
	}
	if stepsNode.Kind != yaml.SequenceNode || len(stepsNode.Content) == 0 {
		p.fail(stepsNode, "steps must be a non-empty list")
		return nil
	}
	for _, sn := range stepsNode.Content {
		s.Steps = append(s.Steps, p.step(sn))
	}
	p.checkReferences(s)
	return s
}

func (p *parser) step(n *yaml.Node) Step {
	st := Step{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.fail(n, "a step must be a mapping like {read: A}, not %s", kind(n))
		return st
	}
	p.fields(n, "step", func(key string, k, v *yaml.Node) bool {
		if arg, ok := actions[key]; ok {
			if st.Action != "" {
				p.fail(k, "step has two actions, %q and %q", st.Action, key)
				return true
			}
			st.Action = key
			p.stepArgs(&st, key, arg, v)
			return true
		}
		switch key {
		case "expect":
			st.Expect = *p.stepExpect(v, "expect")
		case "timeout":
			st.Timeout = p.duration(v, "timeout")
		case "async":
			if b := p.boolean(v, "async"); b != nil {
				st.Async = *b
			}
		case "id":
			st.ID = p.name(v, "id")
		default:
			return false
		}
		return true
	})
	if p.err == nil && st.Action == "" {
		p.fail(n, "step has no action (one of %s)", strings.Join(Actions(), ", "))
	}
	if p.err == nil && st.Async && st.ID == "" {
		p.fail(n, "an async step needs an id for await to name")
	}
	if p.err == nil && st.Async && st.Action != "read" && st.Action != "unload" && st.Action != "seek" && st.Action != "close" {
		p.fail(n, "%s cannot be async (read, seek, close and unload can)", st.Action)
	}
	return st
}

// stepArgs takes the action's value: a scalar main argument, or a mapping
// with the main argument under its own name and further fields.
func (p *parser) stepArgs(st *Step, action, arg string, v *yaml.Node) {
	if v.Kind == yaml.ScalarNode {
		p.setArg(st, action, arg, v)
	} else {
		p.argFields(st, action, arg, v)
	}
	if p.err != nil {
		return
	}
	if st.Target == "" {
		p.fail(v, "%s: missing field %q", action, arg)
	}
	if action == "open" && st.Path == "" {
		p.fail(v, "open: missing field \"path\"")
	}
	if action == "sysctl" && st.Value == "" {
		p.fail(v, "sysctl: missing field \"value\"")
	}
}

func (p *parser) argFields(st *Step, action, arg string, v *yaml.Node) {
	p.fields(v, action, func(key string, k, fv *yaml.Node) bool {
		switch {
		case key == arg:
			p.setArg(st, action, arg, fv)
		case key == "path" && action == "open":
			st.Path = p.str(fv, "path")
			p.checkPath(fv, st.Path)
		case key == "params" && action == "load":
			st.Params = p.str(fv, "params")
		case key == "count" && action == "read":
			st.Count = int(p.integer(fv, "count"))
		case key == "offset" && action == "seek":
			st.Offset = p.integer(fv, "offset")
		case key == "value" && action == "sysctl":
			st.Value = p.str(fv, "value")
		default:
			return false
		}
		return true
	})
}

func (p *parser) setArg(st *Step, action, arg string, v *yaml.Node) {
	switch arg {
	case "duration":
		st.Sleep = p.duration(v, action)
		st.Target = v.Value
	case "path":
		st.Target = p.str(v, action)
		p.checkPath(v, st.Target)
	case "key":
		st.Target = p.str(v, action)
		if strings.Contains(st.Target, "..") || strings.HasPrefix(st.Target, "/") {
			p.fail(v, "sysctl key %q must be relative to /proc/sys without ..", st.Target)
		}
	default:
		st.Target = p.name(v, action+" "+arg)
	}
}

// checkPath keeps experiment paths inside the kernel's own file systems in
// the guest; the agent enforces the same rule.
func (p *parser) checkPath(n *yaml.Node, path string) {
	if path == "" || !filepath.IsAbs(path) || filepath.Clean(path) != path {
		p.fail(n, "path %q must be absolute and clean", path)
		return
	}
	for _, dir := range []string{"/dev/", "/proc/", "/sys/"} {
		if strings.HasPrefix(path, dir) {
			return
		}
	}
	p.fail(n, "path %q is outside /dev, /proc and /sys", path)
}

func (p *parser) stepExpect(n *yaml.Node, what string) *StepExpect {
	e := &StepExpect{Line: n.Line}
	p.fields(n, what, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "ok":
			e.OK = p.boolean(v, key)
		case "errno":
			e.Errno = p.strings(v, key)
			for _, name := range e.Errno {
				if p.err == nil && !knownErrno(name) {
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
				if p.err == nil && !validState(s) {
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
		case "oops":
			if v.Tag == "!!bool" {
				e.Oops = p.boolean(v, key)
			} else {
				t := true
				e.Oops = &t
				e.OopsTitle = p.regexp(v, key)
			}
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
		case "oops":
			e.Oops = p.boolean(v, key)
		case "oops_title":
			e.OopsTitle = p.regexp(v, key)
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

// checkReferences checks what needs the whole file: holders opened before
// use, awaits naming earlier async steps, modules listed.
func (p *parser) checkReferences(s *Spec) {
	holders := map[string]bool{}
	ids := map[string]bool{}
	modules := map[string]bool{}
	for _, m := range s.Modules {
		modules[m] = true
	}
	for _, st := range s.Steps {
		n := &yaml.Node{Line: st.Line}
		switch actions[st.Action] {
		case "holder":
			if st.Action == "observe" && ids[st.Target] {
				break // the process of an earlier async step
			}
			if st.Action == "open" {
				if holders[st.Target] {
					p.fail(n, "holder %q is opened twice", st.Target)
				}
				holders[st.Target] = true
			} else if !holders[st.Target] {
				also := ""
				if st.Action == "observe" {
					also = " nor the id of an earlier async step"
				}
				p.fail(n, "%s: %q is not a holder opened by an earlier step%s", st.Action, st.Target, also)
			}
		case "module":
			if !modules[st.Target] {
				p.fail(n, "%s: module %q is not in the experiment's modules list", st.Action, st.Target)
			}
		case "id":
			if !ids[st.Target] {
				p.fail(n, "await: no earlier async step with id %q", st.Target)
			}
		}
		if st.ID != "" {
			if ids[st.ID] {
				p.fail(n, "id %q is used twice", st.ID)
			}
			ids[st.ID] = true
		}
	}
}

func validState(s string) bool {
	switch s {
	case "R", "S", "D", "T", "t", "X", "Z", "I", "gone":
		return true
	}
	return false
}

// LoadDir reads every experiments/*.yaml, sorted by name.
func LoadDir(dir string) ([]*Spec, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var specs []*Spec
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// Find resolves an experiment argument: a path to a YAML file, or the name
// of a file in dir.
func Find(dir, arg string) (*Spec, error) {
	if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") || strings.ContainsRune(arg, os.PathSeparator) {
		return Load(arg)
	}
	path := filepath.Join(dir, arg+".yaml")
	if _, err := os.Stat(path); err != nil {
		var names []string
		if specs, err := filepath.Glob(filepath.Join(dir, "*.yaml")); err == nil {
			for _, s := range specs {
				names = append(names, strings.TrimSuffix(filepath.Base(s), ".yaml"))
			}
		}
		return nil, fmt.Errorf("no experiment %q in %s (have: %s)", arg, dir, strings.Join(names, ", "))
	}
	return Load(path)
}
