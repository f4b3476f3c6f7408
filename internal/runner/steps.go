package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/attribute"
	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/symbolize"
)

// HungTaskTimeout is what the guest's hung-task detector is set to: low, so
// that a process stuck in D for a few seconds gets the kernel's own report.
const HungTaskTimeout = 5

// armHungTaskDetector lowers kernel.hung_task_timeout_secs where the kernel
// has the detector (CONFIG_DETECT_HUNG_TASK).
func (s *session) armHungTaskDetector(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, s.t.Guest)
	defer cancel()
	rep, err := s.client.Do(dctx, protocol.Request{Action: protocol.ActionSysctl, Key: "kernel/hung_task_timeout_secs", Value: strconv.Itoa(HungTaskTimeout)})
	if err != nil || !rep.OK {
		s.r.Notes = append(s.r.Notes, fmt.Sprintf("hung-task detector not armed: %v%s", err, rep.Error))
	}
}

// steps runs the experiment's steps in order. A step that fails is a
// finding, not an error; only a lost agent or a dead VM stops the run.
func (s *session) steps(ctx context.Context) error {
	start := time.Now()
	defer func() { s.r.TimingsMS["steps"] = time.Since(start).Milliseconds() }()
	s.armHungTaskDetector(ctx)
	tickets := s.tickets
	for i, st := range s.exp.Steps {
		rs := results.Step{Index: i + 1, Line: st.Line, Action: string(st.Action), Target: st.Target}
		if err := s.gdbBeforeStep(ctx, i+1); err != nil {
			return err
		}
		if st.Action == experiment.ActionSleep {
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
			timeout = protocol.DefaultStepTimeout
		}
		// The agent answers within the step's timeout even when the step's
		// process hangs; the grace beyond it is for a slow TCG guest. No
		// reply by then means the guest itself stopped.
		sctx, cancel := context.WithTimeout(ctx, timeout+s.t.StepGrace)
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
		rs.Process = stepProcess(rep.Process)
		if rep.Layout != nil {
			s.r.Modules = append(s.r.Modules, moduleLayout(*rep.Layout))
		}
		if st.Action == "exists" {
			e := rep.Exists
			rs.Exists = &e
		}
		if (st.Action == "ioctl" || st.Action == "write") && rep.OK {
			b := rep.Bytes
			rs.Return = &b
		}
		if st.Action == "exec" {
			rs.Exit = rep.Exit
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
func request(n int, st experiment.Step) protocol.Request {
	req := protocol.Request{Step: n, Action: st.Action, Async: st.Async, TimeoutMS: int(st.Timeout / time.Millisecond)}
	switch st.Action {
	case "load", "unload":
		req.Module, req.Params = st.Target, st.Params
	case "open", "read", "seek", "close", "observe", "write", "ioctl", "mmap":
		req.Holder, req.Path, req.Count, req.Offset = st.Target, st.Path, st.Count, st.Offset
		req.Mode, req.Data, req.Size, req.At = st.Mode, st.Data, st.Size, st.At
		req.Cmd, req.Arg, req.Buffer, req.In = st.Cmd, st.Arg, st.Buffer, st.In
	case "exec":
		req.Command = st.Command
	case "sysctl":
		req.Key, req.Value = st.Target, st.Value
	case "exists":
		req.Path = st.Target
	}
	return req
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
			ctx, cancel := context.WithTimeout(context.Background(), s.t.Guest)
			rep, err := s.client.Do(ctx, protocol.Request{Action: protocol.ActionObserve, Holder: t.holder, Ticket: t.ticket})
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
	s.stopVM(askGuest)
	console := readFile(s.consolePath())
	s.r.Oopses = evidence.ParseBytes([]byte(console))
	if s.r.Oopses == nil {
		s.r.Oopses = []evidence.Report{}
	}
	attribute.Steps(console, s.r)
	attribute.MarkUnloads(console, s.r.Modules)
	s.r.Panic = attribute.PanicLine(console)
	attribute.Symbolize(s.r, s.sources())
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

// askKernelSymbols asks the live guest's kallsyms to name the raw kernel
// addresses of the reports so far that nothing on the host can name: with
// KASLR only the running kernel knows where its symbols are, and Debian's
// System.map is a placeholder anyway. The core kernel's addresses are named
// from the build's kallsyms kept in the cache (kallsyms.go), the loaded
// modules' by the guest. It parses the console as it stands: the final
// parse waits until the VM stops, and the guest is gone by then.
func (s *session) askKernelSymbols() {
	oopses := evidence.ParseBytes([]byte(readFile(s.consolePath())))
	if len(oopses) == 0 {
		return
	}
	sym, err := symbolize.New(s.sources())
	if err != nil {
		return
	}
	addrs := sym.Unresolved(oopses)
	if len(addrs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.t.Guest)
	defer cancel()
	t0 := time.Now()
	syms, err := s.nameKernelAddresses(ctx, addrs)
	s.r.TimingsMS["kallsyms"] = time.Since(t0).Milliseconds()
	if err != nil {
		s.r.Notes = append(s.r.Notes, "kernel addresses left unnamed: "+err.Error())
	}
	s.kernelSyms = append(s.kernelSyms, syms...)
	s.o.Log.Debug("kernel addresses named from kallsyms", "asked", len(addrs), "named", len(syms))
}

// stopVM ends the connection and the VM once the console holds every line
// the guest logged. With a guest that still answers (askGuest), the agent
// writes the end-of-run line and the wait lasts until the console shows it
// (consoles print the log in order): ~10 ms instead of a fixed pause.
// Otherwise QEMU gets ConsoleFlush to write what the guest printed last.
func (s *session) stopVM(askGuest bool) {
	flushed := false
	if s.client != nil && s.machine != nil && askGuest {
		flushed = s.awaitEndLine()
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.machine == nil {
		return
	}
	if !flushed && !isClosed(s.machine.Exited()) {
		time.Sleep(s.t.ConsoleFlush)
	}
	s.machine.Stop()
}

// awaitEndLine asks the agent for the end-of-run line and waits until the
// console shows it, at most EndLine. It says whether the line came.
func (s *session) awaitEndLine() bool {
	w := &consoleWatch{path: s.consolePath()}
	if fi, err := os.Stat(w.path); err == nil {
		w.offset = fi.Size() // the line comes after what is there now
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.t.EndLine)
	defer cancel()
	rep, err := s.client.Do(ctx, protocol.Request{Action: protocol.ActionEnd})
	if err != nil || !rep.OK {
		return false
	}
	return w.waitFor(ctx, s.machine, s.t.EndLine, func(line string) (bool, error) {
		return protocol.IsEnd(line), nil
	}) == nil
}

// sources are what names the addresses of this run's reports.
func (s *session) sources() symbolize.Sources {
	return symbolize.Sources{
		SystemMap: s.p.Image.SystemMapPath(), Objects: s.p.Modules,
		Layouts: s.r.Modules, KernelSyms: s.kernelSyms,
	}
}

// stepProcess is the result's copy of the wire's process state.
func stepProcess(p *protocol.ProcessState) *results.StepProcess {
	if p == nil {
		return nil
	}
	return &results.StepProcess{PID: p.PID, Comm: p.Comm, State: p.State, Wchan: p.Wchan, Stack: p.Stack, Exited: p.Exited, ExitStatus: p.ExitStatus}
}

// moduleLayout is the result's copy of the wire's module layout.
func moduleLayout(l protocol.ModuleLayout) results.ModuleLayout {
	return results.ModuleLayout{Name: l.Name, Event: l.Event, Base: l.Base, Size: l.Size, Sections: l.Sections, Uptime: l.Uptime, GoneAt: l.GoneAt}
}
