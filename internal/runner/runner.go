// Package runner runs one experiment on one kernel, in named phases: fetch
// the image, build the modules, pack the initramfs, boot, connect, run the
// steps, collect the evidence. Whatever happens, it writes a result, keeps
// the console log and leaves no QEMU behind.
//
// (The first design put the step runner into internal/experiment; it lives here so
// that experiment stays a pure reader and judge of experiment files, testable
// without a VM.)
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"lab/internal/accel"
	"lab/internal/agent"
	"lab/internal/evidence"
	"lab/internal/experiment"
	"lab/internal/guest"
	"lab/internal/image"
	"lab/internal/initramfs"
	"lab/internal/kmod"
	"lab/internal/results"
	"lab/internal/safefile"
	"lab/internal/vm"
)

// Options apply to every run.
type Options struct {
	// RepoRoot is lab's source tree: kmods/ and the agent are built from it.
	RepoRoot string
	// Kmods are a user's module directories built beside kmods/ (each a
	// Kbuild directory or a folder of them; see kmod.FamilyDirs).
	Kmods          []string
	CacheDir       string
	Mirror         string
	SecurityMirror string
	// SnapshotMirror and Locked say where locked kernel packages the
	// mirror dropped may come from, and whether following the series
	// instead is refused (see image.Fetch).
	SnapshotMirror string
	Locked         bool
	// Accel is "auto", "kvm" or "tcg".
	Accel string
	QEMU  string
	// KernelOutputTimeout bounds the wait for the kernel's first line;
	// BootTimeout the wait for the agent. Zero picks defaults by accel.
	KernelOutputTimeout time.Duration
	BootTimeout         time.Duration
	// Progress receives what a person watching should see (apt progress,
	// phases); Log gets the details.
	Progress io.Writer
	Log      *slog.Logger
	// LabVersion goes into provenance.
	LabVersion string
	// RunTimeout bounds one experiment on one kernel, boot included
	// (default 10 minutes).
	RunTimeout time.Duration
	// Choice is the invocation's accelerator, set by Matrix after its one
	// KVM probe (tests set it to play a host); nil: Run probes (the memo
	// makes that cheap after the first time).
	Choice *accel.Choice
	// Dump writes the guest's memory to the result directory when the
	// guest hangs.
	Dump bool
}

// Error kinds, from results.
const (
	KindBuild         = results.KindBuild
	KindBoot          = results.KindBoot
	KindNoKernelOut   = results.KindNoKernelOutput
	KindKernelPanic   = results.KindKernelPanic
	KindQEMUExited    = results.KindQEMUExited
	KindGuestHang     = results.KindGuestHang
	KindAgentLost     = results.KindAgentLost
	KindInterrupted   = results.KindInterrupted
	KindAgentFatal    = results.KindAgentFailed
	KindBadExperiment = results.KindBadExperiment
)

type runError struct {
	kind string
	err  error
}

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func fail(kind string, err error) error { return &runError{kind: kind, err: err} }

// Prepared is everything a boot needs, built once per kernel and experiment
// set (a matrix shares it across runs).
type Prepared struct {
	Image     *image.Image
	Modules   map[string]string // name -> .ko
	Initramfs *initramfs.Image
}

// Prepare fetches the image, builds every module family against it and packs
// the initramfs.
func Prepare(ctx context.Context, o Options, spec *image.Spec) (*Prepared, error) {
	img, err := image.Fetch(ctx, spec, image.FetchOptions{
		CacheDir: o.CacheDir, Mirror: o.Mirror, SecurityMirror: o.SecurityMirror,
		SnapshotMirror: o.SnapshotMirror, Locked: o.Locked,
		Progress: o.Progress, Log: o.Log,
	})
	if err != nil {
		return nil, fail(KindBuild, err)
	}
	// The image may have followed its series: what runs is img.Spec.
	spec = img.Spec
	families, err := kmod.FamilyDirs(append([]string{filepath.Join(o.RepoRoot, "kmods")}, o.Kmods...))
	if err != nil {
		return nil, fail(KindBuild, err)
	}
	modules := map[string]string{}
	compiler := spec.Compiler
	if spec.BuildRoot != nil {
		// A build root follows the kernel's compiler as its headers name
		// it: a followed sid build may have moved on from the spec's.
		if cc, err := img.HeadersCompiler(); err == nil && cc != compiler {
			fmt.Fprintf(o.progressWriter(), "lab: %s: the headers name %s, the spec %s; building modules with %s\n", spec.Name, cc, compiler, cc)
			compiler = cc
		}
	}
	buildRoot := kmod.ImageBuildRoot(img, o.Mirror, compiler)
	if buildRoot != nil {
		buildRoot.Progress = o.Progress
	}
	for _, fam := range families {
		built, err := kmod.Build(ctx, kmod.BuildOptions{
			Src: fam, HeadersDir: img.HeadersDir(), Release: spec.Release,
			Compiler: compiler, CacheDir: o.CacheDir,
			KeyExtra: spec.Name + " " + spec.PackageVersion(), Log: o.Log,
			BuildRoot: buildRoot,
		})
		if err != nil {
			return nil, fail(KindBuild, fmt.Errorf("image %s: %w", spec.Name, err))
		}
		for n, p := range built {
			modules[n] = p
		}
	}
	boot, err := kmod.LoadOrder(img.ModulesDir(), spec.BootModules)
	if err != nil {
		return nil, fail(KindBuild, fmt.Errorf("image %s: boot modules: %w", spec.Name, err))
	}
	ir, err := initramfs.Build(ctx, initramfs.Options{
		RepoRoot: o.RepoRoot, CacheDir: o.CacheDir, Modules: modules, BootModules: boot, Log: o.Log,
		Progress: o.Progress,
	})
	if err != nil {
		return nil, fail(KindBuild, err)
	}
	return &Prepared{Image: img, Modules: modules, Initramfs: ir}, nil
}

// Run runs exp on the prepared kernel and writes the result into
// <runDir>/<kernel>/<experiment>/. It always returns a result; its verdict
// is error when the lab could not complete the run.
func Run(ctx context.Context, o Options, p *Prepared, exp *experiment.Spec, runID, runDir string) *results.Result {
	spec := p.Image.Spec
	r := &results.Result{
		RunID:      runID,
		Experiment: exp.Name,
		Summary:    exp.Summary,
		Kernel:     results.Kernel{Name: spec.Name, Release: spec.Release, PackageVersion: spec.PackageVersion()},
		Steps:      []results.Step{},
		Oopses:     []evidence.Oops{},
		Processes:  []results.Process{},
		TimingsMS:  map[string]int64{},
	}
	start := time.Now()
	dir, err := results.CellDir(runDir, spec.Name, exp.Name)
	if err != nil {
		r.Verdict, r.Error, r.ErrorKind = results.Error, err.Error(), KindBoot
		return r
	}
	s := &session{o: o, p: p, exp: exp, r: r, dir: dir, tickets: map[string]string{}}
	limit := o.RunTimeout
	if limit == 0 {
		limit = 10 * time.Minute
	}
	rctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("the run took longer than %s", limit))
	defer cancel()
	err = s.run(rctx)
	s.collect(err == nil)
	r.TimingsMS["total"] = time.Since(start).Milliseconds()
	if err != nil {
		r.Verdict = results.Error
		r.Error = err.Error()
		var re *runError
		if errors.As(err, &re) {
			r.ErrorKind = re.kind
		}
		if ctx.Err() != nil {
			r.ErrorKind = KindInterrupted
		} else if rctx.Err() != nil {
			r.ErrorKind = KindGuestHang
			r.Error = fmt.Sprintf("%v: %v", context.Cause(rctx), err)
		}
	}
	experiment.Judge(exp, r)
	if werr := results.Write(dir, r); werr != nil && o.Log != nil {
		o.Log.Error("write result", "dir", dir, "err", werr)
	}
	return r
}

type session struct {
	o       Options
	p       *Prepared
	exp     *experiment.Spec
	r       *results.Result
	dir     string
	machine *vm.VM
	client  *guest.Client
	// kernelPrinted: the kernel of the current boot printed its first
	// line, so a death after it is the guest's, not the accelerator's.
	kernelPrinted bool
	holders       []string
	// tickets maps async step ids to the agent's tickets; asyncSteps are
	// those steps, whose processes are observed at the end like holders.
	tickets    map[string]string
	asyncSteps []experiment.Step
	// kernelSyms are the running kernel's names for the raw addresses of
	// its reports, asked of its kallsyms before the VM stops.
	kernelSyms []evidence.KernelSymbol
}

// HungTaskTimeout is what the guest's hung-task detector is set to: low, so
// that a process stuck in D for a few seconds gets the kernel's own report.
const HungTaskTimeout = 5

// armHungTaskDetector lowers kernel.hung_task_timeout_secs where the kernel
// has the detector (CONFIG_DETECT_HUNG_TASK).
func (s *session) armHungTaskDetector(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rep, err := s.client.Do(dctx, guest.Request{Action: guest.ActionSysctl, Key: "kernel/hung_task_timeout_secs", Value: strconv.Itoa(HungTaskTimeout)})
	if err != nil || !rep.OK {
		s.r.Notes = append(s.r.Notes, fmt.Sprintf("hung-task detector not armed: %v%s", err, rep.Error))
	}
}

func (s *session) consolePath() string { return filepath.Join(s.dir, "console.log") }

func (s *session) run(ctx context.Context) error {
	for _, m := range s.exp.Modules {
		if _, ok := s.p.Modules[m]; !ok {
			return fail(KindBadExperiment, fmt.Errorf("experiment %s needs module %s, which no family in kmods/ or a --kmods directory builds", s.exp.Name, m))
		}
	}
	err := s.bootChosen(ctx)
	if err != nil {
		return err
	}
	return s.steps(ctx)
}

func (s *session) progress() io.Writer { return s.o.progressWriter() }

func (o Options) progressWriter() io.Writer {
	if o.Progress == nil {
		return io.Discard
	}
	return o.Progress
}

// boot starts QEMU and waits for the agent's ready marker on the console.
func (s *session) boot(ctx context.Context, acc string) error {
	if s.machine != nil {
		s.machine.Stop()
		s.machine = nil
	}
	s.r.Accel = acc
	s.kernelPrinted = false
	keys, err := guest.NewKeys()
	if err != nil {
		return fail(KindBoot, err)
	}
	tmp, err := os.MkdirTemp("", "lab-initrd-")
	if err != nil {
		return fail(KindBoot, err)
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initrd.cpio")
	if _, err := initramfs.WithKeys(s.p.Initramfs, initrd, keys.HostPEM, keys.AuthorizedKey); err != nil {
		return fail(KindBoot, err)
	}
	cmdline := strings.TrimSpace("console=ttyS0 panic=-1 " + s.exp.Cmdline)
	s.r.Provenance = s.provenance(cmdline)
	if lp := s.r.Provenance.Lock; lp != nil && lp.Note != "" && !slices.Contains(s.r.Notes, lp.Note) {
		s.r.Notes = append(s.r.Notes, lp.Note)
	}
	kernelOut, agentReady := s.o.KernelOutputTimeout, s.o.BootTimeout
	if kernelOut == 0 {
		kernelOut = 20 * time.Second
		if acc == vm.AccelTCG {
			kernelOut = 90 * time.Second
		}
	}
	if agentReady == 0 {
		agentReady = 60 * time.Second
		if acc == vm.AccelTCG {
			agentReady = 180 * time.Second
		}
	}
	start := time.Now()
	m, err := vm.Start(ctx, vm.Config{
		QEMU: s.o.QEMU, Kernel: s.p.Image.KernelPath(), Initrd: initrd, Append: cmdline,
		Accel: acc, Console: s.consolePath(), Stderr: filepath.Join(s.dir, "qemu.stderr"),
		GuestPort: agent.Port, Log: s.o.Log,
	})
	if err != nil {
		return fail(KindQEMUExited, err)
	}
	s.machine = m
	w := &consoleWatch{path: s.consolePath()}
	if err := w.waitFor(ctx, m, kernelOut, func(line string) (bool, error) {
		return strings.Contains(line, "Linux version"), nil
	}); err != nil {
		if errors.Is(err, errTimeout) {
			return fail(KindNoKernelOut, fmt.Errorf("%s: the kernel printed nothing within %s (accel %s)%s", s.p.Image.Spec.Name, kernelOut, acc, w.tail()))
		}
		return err
	}
	s.kernelPrinted = true
	if err := w.waitFor(ctx, m, agentReady, func(line string) (bool, error) {
		if strings.Contains(line, agent.ReadyMarker) {
			return true, nil
		}
		if i := strings.Index(line, "lab-agent: fatal: "); i >= 0 {
			return false, fail(KindAgentFatal, fmt.Errorf("guest agent failed: %s", line[i+len("lab-agent: fatal: "):]))
		}
		return false, nil
	}); err != nil {
		if errors.Is(err, errTimeout) {
			return fail(KindGuestHang, fmt.Errorf("the agent was not ready within %s%s", agentReady, w.tail()))
		}
		return err
	}
	// Dialing retries until its deadline; a QEMU that dies meanwhile ends
	// it at once, and is what the error names.
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-m.Exited():
			cancel()
		case <-dctx.Done():
		}
	}()
	c, err := guest.Dial(dctx, fmt.Sprintf("127.0.0.1:%d", m.HostPort), keys)
	if err != nil {
		if isClosed(m.Exited()) {
			return fail(KindQEMUExited, fmt.Errorf("while connecting to the agent: %v%s", m.ExitError(), w.tail()))
		}
		return fail(KindAgentLost, err)
	}
	s.client = c
	s.r.TimingsMS["boot"] = time.Since(start).Milliseconds()
	fmt.Fprintf(s.progress(), "lab: %s booted on %s in %.1f s\n", s.p.Image.Spec.Name, acc, time.Since(start).Seconds())
	return nil
}

// steps runs the experiment's steps in order. A step that fails is a
// finding, not an error; only a lost agent or a dead VM stops the run.
func (s *session) steps(ctx context.Context) error {
	start := time.Now()
	defer func() { s.r.TimingsMS["steps"] = time.Since(start).Milliseconds() }()
	s.armHungTaskDetector(ctx)
	tickets := s.tickets
	for i, st := range s.exp.Steps {
		rs := results.Step{Index: i + 1, Line: st.Line, Action: st.Action, Target: st.Target}
		if st.Action == "sleep" {
			t0 := time.Now()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.machine.Exited():
				return s.lost(ctx, i+1, st, errors.New("QEMU exited"), false)
			case <-time.After(st.Sleep):
			}
			rs.OK, rs.MS = true, time.Since(t0).Milliseconds()
			s.r.Steps = append(s.r.Steps, rs)
			continue
		}
		req := request(i+1, st)
		if st.Action == "await" {
			req.Ticket = tickets[st.Target]
		}
		if t, ok := tickets[st.Target]; ok && st.Action == "observe" {
			req.Holder, req.Ticket = "", t
		}
		timeout := time.Duration(req.TimeoutMS) * time.Millisecond
		if timeout == 0 {
			timeout = agent.DefaultStepTimeout
		}
		// The agent answers within the step's timeout even when the step's
		// process hangs; the grace beyond it is for a slow TCG guest. No
		// reply by then means the guest itself stopped.
		sctx, cancel := context.WithTimeout(ctx, timeout+20*time.Second)
		t0 := time.Now()
		rep, err := s.client.Do(sctx, req)
		expired := sctx.Err() != nil
		cancel()
		if err != nil {
			return s.lost(ctx, i+1, st, err, expired)
		}
		if st.Async && rep.Ticket != "" {
			tickets[st.ID] = rep.Ticket
			s.asyncSteps = append(s.asyncSteps, st)
		}
		rs.OK, rs.Errno, rs.Error, rs.Data, rs.NoAnswer = rep.OK, rep.Errno, rep.Error, rep.Data, rep.NoAnswer
		rs.MS = rep.MS
		if rs.MS == 0 {
			rs.MS = time.Since(t0).Milliseconds()
		}
		rs.Process = rep.Process
		if rep.Layout != nil {
			s.r.Modules = append(s.r.Modules, *rep.Layout)
		}
		if st.Action == "exists" {
			e := rep.Exists
			rs.Exists = &e
		}
		if st.Action == "open" {
			// The holder process exists whether its open worked or not.
			s.holders = append(s.holders, st.Target)
		}
		s.r.Steps = append(s.r.Steps, rs)
	}
	return nil
}

// request is the agent request of step n.
func request(n int, st experiment.Step) guest.Request {
	req := guest.Request{Step: n, Action: st.Action, Async: st.Async, TimeoutMS: int(st.Timeout / time.Millisecond)}
	switch st.Action {
	case "load", "unload":
		req.Module, req.Params = st.Target, st.Params
	case "open", "read", "seek", "close", "observe":
		req.Holder, req.Path, req.Count, req.Offset = st.Target, st.Path, st.Count, st.Offset
	case "sysctl":
		req.Key, req.Value = st.Target, st.Value
	case "exists":
		req.Path = st.Target
	}
	return req
}

// lost classifies a step that got no reply at all: the host was
// interrupted, the kernel panicked, QEMU died, the guest stopped answering
// (expired: the step's deadline passed) or the agent's connection broke.
func (s *session) lost(ctx context.Context, n int, st experiment.Step, err error, expired bool) error {
	where := fmt.Sprintf("step %d (%s %s)", n, st.Action, st.Target)
	if ctx.Err() != nil {
		return fail(KindInterrupted, fmt.Errorf("interrupted during %s", where))
	}
	// A panicking guest exits QEMU (panic=-1, -no-reboot) a moment after
	// the connection drops: give it that moment before classifying.
	select {
	case <-s.machine.Exited():
	case <-s.machine.Panicked():
	case <-time.After(2 * time.Second):
	}
	if panicLine := findPanic(readFile(s.consolePath())); panicLine != "" || isClosed(s.machine.Panicked()) {
		if panicLine == "" {
			panicLine = "the guest reported a panic (pvpanic)"
		}
		return fail(KindKernelPanic, fmt.Errorf("the kernel panicked during %s: %s", where, panicLine))
	}
	if isClosed(s.machine.Exited()) {
		return fail(KindQEMUExited, fmt.Errorf("%s: %v", where, s.machine.ExitError()))
	}
	status, qerr := s.machine.Status()
	if expired || (qerr == nil && status != "running") {
		diag := s.diagnoseHang()
		return fail(KindGuestHang, fmt.Errorf("%s: the guest did not answer (QEMU status %q)%s%s", where, status, diag, lastLines(readFile(s.consolePath()), 10)))
	}
	return fail(KindAgentLost, fmt.Errorf("%s: the connection to the agent broke while the guest still runs: %v", where, err))
}

// diagnoseHang asks QEMU for what it can tell about a guest that stopped
// answering, and keeps it beside the console log.
func (s *session) diagnoseHang() string {
	var notes []string
	out, err := s.machine.QMP("human-monitor-command", map[string]string{"command-line": "info registers"}, 5*time.Second)
	if err == nil {
		var text string
		if json.Unmarshal(out, &text) == nil && text != "" {
			path := filepath.Join(s.dir, "registers.txt")
			if os.WriteFile(path, []byte(text), 0o600) == nil {
				notes = append(notes, "registers in "+path)
			}
			if rip := regexp.MustCompile(`RIP=([0-9a-f]+)`).FindStringSubmatch(text); rip != nil {
				notes = append(notes, "RIP="+rip[1]+s.nameAddress(rip[1]))
			}
		}
	}
	if s.o.Dump {
		path := filepath.Join(s.dir, "memory.dump")
		if _, err := s.machine.QMP("dump-guest-memory", map[string]any{"paging": false, "protocol": "file:" + path}, 2*time.Minute); err == nil {
			notes = append(notes, "memory dump in "+path)
		} else {
			notes = append(notes, "memory dump failed: "+err.Error())
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return "; " + strings.Join(notes, "; ")
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// findPanic returns the kernel's panic line from a console log, if any.
func findPanic(console string) string {
	i := strings.Index(console, "Kernel panic - not syncing")
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(console[i:], "\n")
	return strings.TrimSpace(line)
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return "; the console is empty"
	}
	return "; last console lines:\n  " + strings.Join(lines, "\n  ")
}

// collect records the final state of every holder (when the guest can
// still answer: askGuest), stops the VM and turns the console log into
// evidence. It runs whatever happened before.
func (s *session) collect(askGuest bool) {
	if s.client != nil && askGuest {
		type target struct{ label, holder, ticket string }
		var targets []target
		for _, h := range s.holders {
			targets = append(targets, target{h, h, ""})
		}
		for _, st := range s.asyncSteps {
			if st.Action != "unload" {
				continue // a holder's own step: the holder is observed already
			}
			targets = append(targets, target{fmt.Sprintf("%s (%s %s)", st.ID, st.Action, st.Target), "", s.tickets[st.ID]})
		}
		for _, t := range targets {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			rep, err := s.client.Do(ctx, guest.Request{Action: guest.ActionObserve, Holder: t.holder, Ticket: t.ticket})
			cancel()
			if err != nil || rep.Process == nil {
				continue
			}
			ps := rep.Process
			s.r.Processes = append(s.r.Processes, results.Process{
				Holder: t.label, PID: ps.PID, Comm: ps.Comm, State: ps.State, Wchan: ps.Wchan,
				Stack: ps.Stack, Exited: ps.Exited, ExitStatus: ps.ExitStatus,
			})
		}
		s.askKernelSymbols()
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.machine != nil {
		// The console is written by QEMU as the guest prints; give the last
		// lines a moment before stopping it.
		time.Sleep(300 * time.Millisecond)
		s.machine.Stop()
	}
	console := readFile(s.consolePath())
	s.r.Oopses = evidence.ParseBytes([]byte(console))
	if s.r.Oopses == nil {
		s.r.Oopses = []evidence.Oops{}
	}
	attribute(console, s.r)
	markUnloads(console, s.r.Modules)
	s.r.Panic = findPanic(console)
	s.symbolize()
	s.explainSilentDetector()
}

// explainSilentDetector says why a process left in D has no hung-task
// report when the reason is known: after any oops the kernel is tainted D
// (died) and khungtaskd skips its checks for the rest of the boot.
func (s *session) explainSilentDetector() {
	crashed := false
	for _, o := range s.r.Oopses {
		crashed = crashed || o.IsCrash()
	}
	for _, p := range s.r.Processes {
		if strings.HasPrefix(p.State, "D") && p.HungTaskReport == "" && crashed {
			s.r.Notes = append(s.r.Notes, fmt.Sprintf("%s (pid %d) is still D at the end of the run, yet the kernel's hung-task detector did not report it: after an oops the kernel is tainted D (died) and khungtaskd skips its checks", p.Comm, p.PID))
		}
	}
}

// symbolize names the raw addresses of every report: against the kernel's
// System.map when the image has a real one (Debian ships a placeholder and
// keeps the real one in the -dbg package), and against the recorded layout
// of each module with the symbols of its .ko: a module unloaded before the
// report makes its addresses a use after unload.
func (s *session) symbolize() {
	if len(s.r.Oopses) == 0 {
		return
	}
	sym, closeAll, err := s.symbolizer()
	if err != nil {
		s.r.Notes = append(s.r.Notes, "symbolizing: "+err.Error())
		return
	}
	defer closeAll()
	for i := range s.r.Oopses {
		sym.Annotate(&s.r.Oopses[i])
	}
}

// symbolizer builds a symbolizer from the image's System.map (when real)
// and the recorded module layouts, the latest one per module.
func (s *session) symbolizer() (*evidence.Symbolizer, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	latest := map[string]guest.ModuleLayout{}
	var order []string
	for _, l := range s.r.Modules {
		if _, seen := latest[l.Name]; !seen {
			order = append(order, l.Name)
		}
		latest[l.Name] = l
	}
	var mods []evidence.Module
	for _, name := range order {
		l := latest[name]
		f, err := os.Open(s.p.Modules[name])
		if err != nil {
			continue
		}
		files = append(files, f)
		m := evidence.Module{Name: name, Sections: l.Sections, Object: f}
		if l.Event == "unload" {
			m.UnloadedAt = l.GoneAt
		}
		mods = append(mods, m)
	}
	var kernel io.Reader
	if f, err := os.Open(s.p.Image.SystemMapPath()); err == nil {
		files = append(files, f)
		if st, err := f.Stat(); err == nil && st.Size() > 4096 {
			kernel = f
		}
	}
	sym, err := evidence.NewSymbolizer(kernel, mods)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	sym.AddSymbols(s.kernelSyms)
	return sym, closeAll, nil
}

// askKernelSymbols asks the live guest's kallsyms to name the raw kernel
// addresses of the reports so far that nothing on the host can name: with
// KASLR only the running kernel knows where its symbols are, and Debian's
// System.map is a placeholder anyway. It parses the console as it stands:
// the final parse waits until the VM stops, and the guest is gone by then.
func (s *session) askKernelSymbols() {
	oopses := evidence.ParseBytes([]byte(readFile(s.consolePath())))
	if len(oopses) == 0 {
		return
	}
	sym, closeAll, err := s.symbolizer()
	if err != nil {
		return
	}
	addrs := sym.Unresolved(oopses)
	closeAll()
	if len(addrs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	rep, err := s.client.Do(ctx, guest.Request{Action: guest.ActionSymbols, Addresses: addrs})
	s.r.TimingsMS["kallsyms"] = time.Since(t0).Milliseconds()
	if err != nil || !rep.OK {
		msg := rep.Error
		if err != nil {
			msg = err.Error()
		}
		s.r.Notes = append(s.r.Notes, "kernel addresses left unnamed: the guest's kallsyms did not answer: "+msg)
		return
	}
	for _, k := range rep.Symbols {
		s.kernelSyms = append(s.kernelSyms, evidence.KernelSymbol{Start: k.Start, Size: k.Size, Name: k.Name, Module: k.Module})
	}
	s.o.Log.Debug("kernel addresses named from kallsyms", "asked", len(addrs), "named", len(rep.Symbols))
}

// nameAddress is " = module:symbol+off" for a hex address that lies in a
// recorded module, else "".
func (s *session) nameAddress(hexAddr string) string {
	a, err := strconv.ParseUint(hexAddr, 16, 64)
	if err != nil {
		return ""
	}
	sym, closeAll, err := s.symbolizer()
	if err != nil {
		return ""
	}
	defer closeAll()
	name, m, ok := sym.Lookup(a)
	if !ok {
		return ""
	}
	if m != nil {
		name = m.Name + ":" + name
	}
	return " = " + name
}

var (
	stepMarker     = regexp.MustCompile(`lab-agent: step (\d+) `)
	unloadedMarker = regexp.MustCompile(`^\[\s*(\d+\.\d+)\] ` + regexp.QuoteMeta(agent.UnloadedMarker) + `(\w+)`)
)

// markUnloads sets GoneAt of the unload layouts that succeeded from the
// agent's "unloaded" lines in the console. Between two loads of a module
// only its last unload can have succeeded (the ones before it failed, or
// the module would have been gone), and each such success printed one line,
// in order.
func markUnloads(console string, layouts []guest.ModuleLayout) {
	gone := map[string][]float64{}
	for _, line := range strings.Split(console, "\n") {
		if m := unloadedMarker.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
			t, _ := strconv.ParseFloat(m[1], 64)
			gone[m[2]] = append(gone[m[2]], t)
		}
	}
	lastUnload := map[string]int{} // module -> index of its last unload layout since its last load
	endCycle := func(name string) {
		i, ok := lastUnload[name]
		if !ok || len(gone[name]) == 0 {
			return
		}
		layouts[i].GoneAt, gone[name] = gone[name][0], gone[name][1:]
		delete(lastUnload, name)
	}
	for i, l := range layouts {
		switch l.Event {
		case "load":
			endCycle(l.Name)
		case "unload":
			lastUnload[l.Name] = i
		}
	}
	// Each module's lines are its own, so the order does not matter here.
	for name := range lastUnload {
		endCycle(name)
	}
}

// attribute links each kernel report to the step that was running when the
// kernel printed it (the agent writes a marker line before every step), and
// hung-task reports to the processes they name.
func attribute(console string, r *results.Result) {
	type mark struct{ line, step int }
	var marks []mark
	for i, line := range strings.Split(console, "\n") {
		if m := stepMarker.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			marks = append(marks, mark{i + 1, n})
		}
	}
	for oi, o := range r.Oopses {
		j := sort.Search(len(marks), func(k int) bool { return marks[k].line > o.Line }) - 1
		if j < 0 {
			continue
		}
		n := marks[j].step
		if n >= 1 && n <= len(r.Steps) {
			r.Steps[n-1].Oopses = append(r.Steps[n-1].Oopses, oi)
		}
		if o.Kind == "hung-task" {
			for pi := range r.Processes {
				if r.Processes[pi].PID == o.PID {
					r.Processes[pi].HungTaskReport = strings.Join(o.Text, "\n")
				}
			}
		}
	}
}

func (s *session) provenance(cmdline string) results.Provenance {
	pv := results.Provenance{
		KernelSHA256:    fileSHA256(s.p.Image.KernelPath()),
		InitramfsSHA256: s.p.Initramfs.SHA256,
		Packages:        map[string]string{},
		Modules:         map[string]string{},
		QEMU:            accel.QEMUVersion(s.o.QEMU),
		Lab:             s.o.LabVersion,
		Cmdline:         cmdline,
	}
	for _, pk := range s.p.Image.Spec.Packages {
		pv.Packages[pk.Name+"="+pk.Version] = pk.SHA256
	}
	pv.Lock = lockProvenance(s.p.Image)
	for _, m := range s.exp.Modules {
		pv.Modules[m] = fileSHA256(s.p.Modules[m])
	}
	return pv
}

// lockProvenance records the locked and the resolved versions of the
// image's packages, and whether lab followed the series.
func lockProvenance(img *image.Image) *results.LockProvenance {
	res := img.Resolution
	lp := &results.LockProvenance{
		LockedRelease: res.LockedRelease, Locked: map[string]string{}, Resolved: map[string]string{},
		Followed: res.Followed, Snapshot: res.Snapshot,
	}
	for _, p := range res.Locked {
		lp.Locked[p.Name] = p.Version
	}
	for _, p := range img.Spec.Packages {
		lp.Resolved[p.Name] = p.Version
	}
	if res.Followed {
		locked := *img.Spec
		locked.Release, locked.Packages = res.LockedRelease, res.Locked
		lp.Note = image.FollowLine(img.Spec.Name, &locked, img.Spec)
	}
	return lp
}

func fileSHA256(path string) string {
	sum, _ := safefile.SHA256(path)
	return sum
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
