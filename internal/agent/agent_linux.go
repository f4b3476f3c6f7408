package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kernel-lab/lab/internal/kallsyms"
	"github.com/kernel-lab/lab/internal/protocol"
)

// Agent serves steps. Its state is the holders and the asynchronous steps
// still to be awaited.
type Agent struct {
	log      *slog.Logger
	children *reaper

	spare spares

	mu      sync.Mutex
	holders map[string]*worker
	tickets map[string]*ticket
	nextID  int
}

type ticket struct {
	w       *worker
	step    *pendingStep
	timeout time.Duration
}

// New returns an agent that reaps its children in the background.
func New(log *slog.Logger) *Agent {
	// Caught, not ignored: a signal the agent ignores stays ignored in
	// every child it starts (lab shell's gosh and the commands typed
	// there), and Ctrl-C must interrupt them; caught ones reset on exec.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGQUIT)
	return &Agent{
		log:      log,
		children: processReaper(),
		holders:  map[string]*worker{},
		tickets:  map[string]*ticket{},
	}
}

// processReaper is the process's one reaper: it waits for any child, so
// two reapers in one process (two Agents in a test binary) would steal each
// other's exit statuses.
var processReaper = sync.OnceValue(func() *reaper {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, syscall.SIGCHLD)
	return newReaper(sig)
})

// Handle runs one step and returns its reply; it never blocks longer than the
// step's timeout plus the time to describe a stuck process.
func (a *Agent) Handle(req protocol.Request) protocol.Reply {
	start := time.Now()
	if req.Action == protocol.ActionEnd {
		kmsg("%s", protocol.EndLine())
		return protocol.Reply{OK: true}
	}
	kmsg("%s", protocol.StepLine(req))
	rep := a.handle(req)
	if rep.MS == 0 {
		rep.MS = time.Since(start).Milliseconds()
	}
	return rep
}

func (a *Agent) handle(req protocol.Request) protocol.Reply {
	timeout := protocol.DefaultStepTimeout
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	var rep protocol.Reply
	switch req.Action {
	case protocol.ActionPing:
		rep.OK = true
		rep.Facts = facts()
	case protocol.ActionLoad:
		if !protocol.ValidName(req.Module) {
			return failure("bad module name %q", req.Module)
		}
		fillErr(&rep, loadModule(filepath.Join(protocol.ModulesDir, req.Module+".ko"), req.Params))
		if rep.OK {
			if l, err := moduleLayout(req.Module); err == nil {
				l.Event = "load"
				rep.Layout = l
			}
		}
	case protocol.ActionUnload:
		if !protocol.ValidName(req.Module) {
			return failure("bad module name %q", req.Module)
		}
		// Where the module lies, taken now: after the unload it is gone.
		layout, _ := moduleLayout(req.Module)
		if layout != nil {
			layout.Event = "unload"
		}
		w, err := a.worker("unload", req.Module)
		if err != nil {
			return failure("%v", err)
		}
		rep := a.run(w, protocol.Request{Action: protocol.ActionUnload}, req.Async, timeout)
		rep.Layout = layout
		return rep
	case protocol.ActionOpen:
		if !protocol.ValidName(req.Holder) {
			return failure("bad holder name %q", req.Holder)
		}
		if err := protocol.CheckPath(req.Path); err != nil {
			return failure("%v", err)
		}
		if req.Mode != "" && !slices.Contains(protocol.OpenModes, req.Mode) {
			return failure("open mode %q: want one of %v", req.Mode, protocol.OpenModes)
		}
		a.mu.Lock()
		_, exists := a.holders[req.Holder]
		a.mu.Unlock()
		if exists {
			return failure("holder %s exists already", req.Holder)
		}
		w, err := a.worker("holder", req.Holder)
		if err != nil {
			return failure("%v", err)
		}
		a.mu.Lock()
		a.holders[req.Holder] = w
		a.mu.Unlock()
		return a.run(w, req, req.Async, timeout)
	case protocol.ActionRead, protocol.ActionSeek, protocol.ActionClose,
		protocol.ActionWrite, protocol.ActionIoctl, protocol.ActionMmap:
		if err := checkHolderData(req); err != nil {
			return failure("%v", err)
		}
		w, err := a.holder(req.Holder)
		if err != nil {
			return failure("%v", err)
		}
		return a.run(w, req, req.Async, timeout)
	case protocol.ActionExec:
		// In a child of its own, like an unload: a command that hangs in
		// the kernel is observed, not waited for, and the agent's reaper
		// cannot take its exit status from under os/exec.
		if err := protocol.CheckCommand(req.Command); err != nil {
			return failure("%v", err)
		}
		w, err := startWorker("exec", req.Command[0])
		if err != nil {
			return failure("%v", err)
		}
		return a.run(w, req, req.Async, timeout)
	case protocol.ActionObserve:
		// A holder, or the process of an asynchronous step (an unload
		// blocked in the kernel, say).
		var w *worker
		var err error
		if req.Ticket != "" {
			a.mu.Lock()
			t, ok := a.tickets[req.Ticket]
			a.mu.Unlock()
			if !ok {
				return failure("no asynchronous step %q", req.Ticket)
			}
			w = t.w
		} else if w, err = a.holder(req.Holder); err != nil {
			return failure("%v", err)
		}
		rep.OK = true
		rep.Process = w.state(a.children)
	case protocol.ActionAwait:
		a.mu.Lock()
		t, ok := a.tickets[req.Ticket]
		a.mu.Unlock()
		if !ok {
			return failure("no asynchronous step %q", req.Ticket)
		}
		if req.TimeoutMS == 0 {
			timeout = t.timeout
		}
		// Tickets stay: the step's process can still be observed later.
		rep = t.w.wait(t.step, timeout, a.children)
	case protocol.ActionSysctl:
		key, err := protocol.SysctlPath(req.Key)
		if err != nil {
			return failure("%v", err)
		}
		fillErr(&rep, os.WriteFile(key, []byte(req.Value), 0))
	case protocol.ActionExists:
		if err := protocol.CheckPath(req.Path); err != nil {
			return failure("%v", err)
		}
		_, err := os.Stat(req.Path)
		rep.OK = true
		rep.Exists = err == nil
	case protocol.ActionKernelPlace:
		base, mods, err := kernelPlace()
		fillErr(&rep, err)
		rep.TextBase, rep.Loaded = base, mods
	case protocol.ActionCoreSymbols:
		var b strings.Builder
		err := withKallsyms(func(f *os.File) error { return kallsyms.CopyCore(&b, f) })
		fillErr(&rep, err)
		rep.Kallsyms = b.String()
	case protocol.ActionSymbols:
		if len(req.Addresses) > maxSymbolAddresses {
			return failure("%d addresses; at most %d", len(req.Addresses), maxSymbolAddresses)
		}
		syms, err := kernelSymbols(req.Addresses)
		fillErr(&rep, err)
		rep.Symbols = syms
	default:
		return failure("unknown action %q", req.Action)
	}
	return rep
}

// checkHolderData keeps a holder's command within its one line.
func checkHolderData(req protocol.Request) error {
	if len(req.Data) > protocol.MaxLine || len(req.In) > protocol.MaxLine {
		return fmt.Errorf("%s: at most %d bytes of data", req.Action, protocol.MaxLine)
	}
	return nil
}

// maxSymbolAddresses bounds one symbols request (an oops has a few dozen).
const maxSymbolAddresses = 4096

// kernelSymbols names addresses from the running kernel's /proc/kallsyms,
// which the agent, as root with CAP_SYSLOG, reads with real addresses.
func kernelSymbols(addrs []uint64) ([]protocol.KernelSymbol, error) {
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		return nil, err
	}
	var syms []protocol.KernelSymbol
	err = withKallsyms(func(f *os.File) (err error) {
		syms, err = kallsyms.Resolve(f, kallsyms.ParseProcModules(string(mods)), addrs)
		return err
	})
	return syms, err
}

// kernelPlace says where this boot put the core kernel (the address of
// kallsyms.TextBase, near the head of /proc/kallsyms) and the modules
// loaded now: with the host's copy of the build's core kallsyms, that is
// enough to name the core kernel's addresses.
func kernelPlace() (uint64, []protocol.ModuleExtent, error) {
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		return 0, nil, err
	}
	var base uint64
	err = withKallsyms(func(f *os.File) (err error) {
		base, err = kallsyms.ReadTextBase(f)
		return err
	})
	return base, kallsyms.ParseProcModules(string(mods)), err
}

func withKallsyms(use func(*os.File) error) error {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return err
	}
	defer f.Close()
	return use(f)
}

// run sends req to w and waits for the answer, or returns a ticket at once.
func (a *Agent) run(w *worker, req protocol.Request, async bool, timeout time.Duration) protocol.Reply {
	req.Async = false
	p, err := w.send(req)
	if err != nil {
		rep := failure("%v", err)
		rep.Process = w.state(a.children)
		return rep
	}
	if !async {
		return w.wait(p, timeout, a.children)
	}
	a.mu.Lock()
	a.nextID++
	id := fmt.Sprintf("t%d", a.nextID)
	a.tickets[id] = &ticket{w: w, step: p, timeout: timeout}
	a.mu.Unlock()
	// No process snapshot here: the child may not have become what it
	// will be yet (still the agent's image before exec); observe it later.
	return protocol.Reply{OK: true, Ticket: id}
}

func (a *Agent) holder(name string) (*worker, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.holders[name]
	if !ok {
		return nil, fmt.Errorf("no holder %q", name)
	}
	return w, nil
}

func failure(format string, args ...any) protocol.Reply {
	return protocol.Reply{Error: fmt.Sprintf(format, args...)}
}

func facts() *protocol.Facts {
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	return &protocol.Facts{
		Release: read("/proc/sys/kernel/osrelease"),
		Tainted: read("/proc/sys/kernel/tainted"),
		Uptime:  read("/proc/uptime"),
	}
}

// kmsg writes a line into the kernel log, so that the console log shows
// which step was running when the kernel said something.
func kmsg(format string, args ...any) {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

// encodeReply is the wire form of a reply.
func encodeReply(r protocol.Reply) []byte {
	b, _ := json.Marshal(r)
	return append(b, '\n')
}
