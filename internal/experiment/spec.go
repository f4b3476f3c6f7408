// Package experiment reads experiment files and judges what a run observed
// against their expectations. It does not run anything: internal/runner does.
package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/yamlx"
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
	// Action is an agent action, or ActionSleep (which the host does).
	Action protocol.Action
	// Target is the step's main argument: the module of load/unload, the
	// holder of open/read/seek/close/observe, the ticket step of await,
	// the key of sysctl, the path of exists.
	Target string
	Path   string
	Params string
	Count  int
	Offset int64
	Value  string
	// Mode is open's mode: "" or "r", "w", "rw".
	Mode string
	// Data is what write writes, or what mmap stores (its write: field).
	Data string
	// Cmd, Arg, Buffer, In and Size are an ioctl's (see protocol.Request);
	// Size is also how much mmap maps, At where it touches.
	Cmd    uint64
	Arg    uint64
	Buffer bool
	In     []byte
	Size   int
	At     int64
	// Command is exec's command line.
	Command []string
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
	// Report says whether the kernel prints a report of any kind (an oops,
	// a WARNING, a hung task …) while this step runs; ReportTitle is a
	// pattern one of their titles must match. The file key is report:
	// (the older oops: still loads: it always meant any report).
	Report      *bool
	ReportTitle *regexp.Regexp
	MinMS       *int64
	MaxMS       *int64
	// Exit is an exec's exit status, StdoutContains a string its stdout
	// holds; Return is an ioctl's return value or a write's byte count.
	Exit           *int64
	StdoutContains *string
	Return         *int64
	// Kernels override fields for named kernel images.
	Kernels map[string]*StepExpect
	Line    int
}

// RunExpect are expectations on the whole run.
type RunExpect struct {
	// Crash true: at least one crash report (an oops proper, not a
	// WARNING or a hung task); false: none at all. The file key is crash:
	// (the older oops: still loads, with the same meaning).
	Crash *bool
	// CrashTitle must match the first crash's title (crash_title:, or
	// the older oops_title:).
	CrashTitle *regexp.Regexp
	// RIP must match the first crash's RIP.
	RIP            *regexp.Regexp
	RecursiveFault *bool
	// Warning true: at least one WARNING report; false: none.
	Warning *bool
	// HungTasks are task names (comm) the kernel's hung-task detector must
	// report ("INFO: task NAME:PID blocked for more than N seconds").
	HungTasks []string
	// Panic true: the kernel is expected to panic (the run then ends with
	// the panic, and steps after it do not run); false: it must not.
	Panic *bool
	// Rate is the share of repeats that must pass when the experiment
	// runs with --repeat (">= 0.9"); without it every repeat must pass.
	// A single run ignores it.
	Rate    *Rate
	Kernels map[string]*RunExpect
	Line    int
}

// ActionSleep waits on the host; it is the one step the agent never sees.
const ActionSleep protocol.Action = "sleep"

// Actions an experiment may use, and the argument each takes.
var actions = map[protocol.Action]string{
	protocol.ActionLoad:    "module",
	protocol.ActionUnload:  "module",
	protocol.ActionOpen:    "holder",
	protocol.ActionRead:    "holder",
	protocol.ActionSeek:    "holder",
	protocol.ActionClose:   "holder",
	protocol.ActionWrite:   "holder",
	protocol.ActionIoctl:   "holder",
	protocol.ActionMmap:    "holder",
	protocol.ActionExec:    "command",
	protocol.ActionObserve: "holder",
	protocol.ActionAwait:   "id",
	protocol.ActionSysctl:  "key",
	protocol.ActionExists:  "path",
	ActionSleep:            "duration",
}

// Actions lists the step actions, sorted.
func Actions() []string {
	var a []string
	for k := range actions {
		a = append(a, string(k))
	}
	sort.Strings(a)
	return a
}

// Load reads and validates an experiment file. Every error names file:line.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse validates an experiment from its YAML text; file names it in
// errors. It reports every problem it finds, each with file:line.
func Parse(file string, data []byte) (*Spec, error) {
	p := &parser{d: &yamlx.Decoder{File: file}}
	root, err := p.d.Parse(data, "experiment file")
	if err != nil {
		return nil, err
	}
	s := p.spec(root)
	if err := p.d.Err(); err != nil {
		return nil, err
	}
	s.File = file
	return s, nil
}

// parser walks an experiment's nodes by hand (steps are keyed by their
// action, and some fields take a boolean or a pattern, which reflection
// cannot decode) on yamlx's decoder, which keeps every problem.
type parser struct {
	d *yamlx.Decoder
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	p.d.Errorf(n.Line, format, args...)
}

// fields walks a mapping, calling f for each key in order and reporting
// keys f does not know.
func (p *parser) fields(n *yaml.Node, what string, f func(key string, k, v *yaml.Node) bool) {
	n = yamlx.Resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s must be a mapping, not %s", what, kind(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlx.Resolve(n.Content[i+1])
		if seen[k.Value] {
			p.fail(k, "%s: %s given twice", what, yamlx.Quote(k.Value))
			continue
		}
		seen[k.Value] = true
		if !f(k.Value, k, v) {
			p.fail(k, "%s: unknown field %s", what, yamlx.Quote(k.Value))
		}
	}
}

func kind(n *yaml.Node) string { return yamlx.KindName(n) }

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
		p.fail(n, "%s must be a positive duration like 5s or 300ms, not %s", what, yamlx.Quote(s))
	}
	return d
}

func (p *parser) regexp(n *yaml.Node, what string) *regexp.Regexp {
	s := p.str(n, what)
	re, err := regexp.Compile(s)
	if err != nil {
		p.fail(n, "%s: bad pattern %s: %v", what, yamlx.Quote(s), err)
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
	if s != "" && !protocol.ValidName(s) {
		p.fail(n, "%s %s: use letters, digits, _ and - only", what, yamlx.Quote(s))
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
				if m != "" && !protocol.ValidName(m) {
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
	for _, req := range []struct {
		ok   bool
		what string
	}{{s.Name != "", "name"}, {s.Summary != "", "summary"}, {stepsNode != nil, "steps"}} {
		if !req.ok {
			p.fail(n, "experiment: missing field %q", req.what)
		}
	}
	if stepsNode == nil {
		return s
	}
	if stepsNode.Kind != yaml.SequenceNode || len(stepsNode.Content) == 0 {
		p.fail(stepsNode, "steps must be a non-empty list")
		return s
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
		if arg, ok := actions[protocol.Action(key)]; ok {
			if st.Action != "" {
				p.fail(k, "step has two actions, %q and %q", st.Action, key)
				return true
			}
			st.Action = protocol.Action(key)
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
	if st.Action == "" {
		p.fail(n, "step has no action (one of %s)", strings.Join(Actions(), ", "))
	}
	if st.Async && st.ID == "" {
		p.fail(n, "an async step needs an id for await to name")
	}
	if st.Async && st.Action != "" && !asyncActions[st.Action] {
		p.fail(n, "%s cannot be async (read, seek, close, write, ioctl, mmap, exec and unload can)", st.Action)
	}
	return st
}

// checkPath applies the protocol's path rule, which the agent enforces too.
func (p *parser) checkPath(n *yaml.Node, path string) {
	if err := protocol.CheckPath(path); err != nil {
		p.fail(n, "%v", err)
	}
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

// LoadDir reads every *.yaml in dirs, sorted by name. dirs are layered:
// an experiment in an earlier one replaces a later one's of the same name
// (a project's experiments/ before lab's own).
func LoadDir(dirs ...string) ([]*Spec, error) {
	seen := map[string]bool{}
	var files []string
	for _, dir := range dirs {
		found, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			if name := filepath.Base(f); !seen[name] {
				seen[name] = true
				files = append(files, f)
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return filepath.Base(files[i]) < filepath.Base(files[j]) })
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
// of a file in the first of dirs that has one.
func Find(dirs []string, arg string) (*Spec, error) {
	if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") || strings.ContainsRune(arg, os.PathSeparator) {
		return Load(arg)
	}
	var names []string
	for _, dir := range dirs {
		path := filepath.Join(dir, arg+".yaml")
		if _, err := os.Stat(path); err == nil {
			return Load(path)
		}
		if specs, err := filepath.Glob(filepath.Join(dir, "*.yaml")); err == nil {
			for _, s := range specs {
				names = append(names, strings.TrimSuffix(filepath.Base(s), ".yaml"))
			}
		}
	}
	sort.Strings(names)
	names = slices.Compact(names)
	return nil, fmt.Errorf("no experiment %q in %s (have: %s)", arg, strings.Join(dirs, ", "), strings.Join(names, ", "))
}
