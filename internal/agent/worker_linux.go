package agent

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kernel-lab/lab/internal/protocol"
)

// A worker is a child process of the agent that runs steps one at a time and
// answers each with one JSON line: a holder keeps a file open across steps, an
// unloader runs one delete_module. The agent never waits for a worker without
// a timeout, and never calls a blocking wait() on one: on 6.1 and later a task
// that faulted while closing its files stays dead (X) and is never reaped, so a
// blocking wait would hang the agent with it.
type worker struct {
	name string
	// comm is the name the kernel knows the process by.
	comm string
	pid  int
	in   *os.File
	// replies carries each answer line; it is closed when the worker's
	// stdout reaches EOF (the worker exited or its files were closed).
	replies chan protocol.Reply
	// oneShot workers (an unload, an exec) answer once and exit.
	oneShot bool

	mu sync.Mutex
	// pending is the step the worker has not answered yet, if any.
	pending *pendingStep
}

type pendingStep struct {
	action string
	since  time.Time
	done   chan struct{}
	reply  protocol.Reply
}

// startWorker starts a holder (protocol.HolderBinary NAME), an unloader (the
// same binary as "lab-holder --unload MODULE") or a command runner (the agent
// binary itself as "lab-agent exec NAME").
func startWorker(role, name string) (*worker, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	bin, argv := holderBinary, []string{"lab-holder", name}
	switch role {
	case "holder":
	case "unload":
		argv = []string{"lab-holder", "--unload", name}
	case "spare":
		argv = []string{"lab-holder", "--spare"}
	default:
		self, err := os.Executable()
		if err != nil {
			self = "/proc/self/exe"
		}
		bin, argv = self, []string{"lab-agent", role, name}
	}
	pid, err := syscall.ForkExec(bin, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{inR.Fd(), outW.Fd(), os.Stderr.Fd()},
	})
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s %s: %w", role, name, err)
	}
	w := &worker{pid: pid, in: inW, replies: make(chan protocol.Reply, 4)}
	w.become(role, name)
	go func() {
		defer close(w.replies)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64*1024), 4<<20)
		for sc.Scan() {
			var r protocol.Reply
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				r = protocol.Reply{Error: fmt.Sprintf("bad reply from %s: %v", name, err)}
			}
			w.replies <- r
		}
	}()
	return w, nil
}

// holderBinary is protocol.HolderBinary; tests point it at a build of
// holder.c on the host.
var holderBinary = protocol.HolderBinary

// become names w for its role ("holder", "unload", "exec" or "spare").
func (w *worker) become(role, name string) {
	comm := "rmmod"
	switch role {
	case "holder":
		comm = "holder-" + name
	case "exec":
		comm = name
	case "spare":
		comm = "lab-holder"
	}
	if len(comm) > 15 {
		comm = comm[:15]
	}
	w.name, w.comm, w.oneShot = name, comm, role != "holder" && role != "spare"
}

// closed is closed once the worker's output has reached EOF (it exited);
// for a one-shot worker whose one answer was taken.
func (w *worker) closed() <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for range w.replies {
		}
		close(c)
	}()
	return c
}

// errBusy says the worker still owes the answer to an earlier step.
var errBusy = errors.New("busy")

// send writes req to the worker and starts waiting for its answer in the
// background. The returned step completes when the worker answers or its
// output closes.
func (w *worker) send(req protocol.Request) (*pendingStep, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending != nil {
		return nil, fmt.Errorf("%s has not answered its %s step of %s ago: %w",
			w.name, w.pending.action, time.Since(w.pending.since).Round(time.Millisecond), errBusy)
	}
	// A one-shot unloader reads nothing: told what to do when started (or,
	// as a spare, by its first line), it may have answered and exited
	// already, so that writing to it fails (EPIPE) while its answer waits
	// in the pipe. Its answer, or the end of its output, settles the step.
	if _, err := w.in.Write([]byte(commandLine(req))); err != nil && !w.oneShot {
		return nil, fmt.Errorf("%s does not take steps any more: %w", w.name, err)
	}
	p := &pendingStep{action: string(req.Action), since: time.Now(), done: make(chan struct{})}
	w.pending = p
	go func() {
		r, ok := <-w.replies
		if !ok {
			r = protocol.Reply{NoAnswer: true, Error: fmt.Sprintf("%s exited without answering", w.name)}
		} else if w.oneShot {
			// A one-shot child exits right after its answer: the step is
			// done when its process is (its output closes), so that an
			// observation just after never finds it half-exited. Bounded:
			// a child stuck on its way out is then observed as it is.
			select {
			case <-w.closed():
			case <-time.After(time.Second):
			}
		}
		w.mu.Lock()
		w.pending = nil
		w.mu.Unlock()
		p.reply = r
		close(p.done)
	}()
	return p, nil
}

// wait returns the step's reply, or a NoAnswer reply when timeout passes
// first. Either way a worker that did not answer is described by its state.
//
// A worker the kernel has left dead (state X: it faulted again while
// exiting, "Fixing recursive fault", and is never reaped, so its pipes are
// never released) can never answer: the step ends as soon as that shows on
// two polls in a row and the agent has not reaped it, instead of at its
// timeout. One look is not enough: X also shows for the moment the agent
// reaps a child that exited, and a one-shot worker (rmmod) exits right
// after writing its answer, which may still be in the pipe. A task in D
// may still come back, so that one is waited for.
func (w *worker) wait(p *pendingStep, timeout time.Duration, children *reaper) protocol.Reply {
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(deadPoll)
	defer poll.Stop()
	seenDead := false
	for {
		select {
		case <-p.done:
			r := p.reply
			if r.NoAnswer {
				// Give a dying task a moment to reach its final state.
				time.Sleep(200 * time.Millisecond)
				r.Process = w.state(children)
			}
			return r
		case <-poll.C:
			dead := deadTask(w.pid)
			if dead && seenDead && !children.reaped(w.pid) {
				return protocol.Reply{
					NoAnswer: true,
					Error:    fmt.Sprintf("the process died and can never answer (after %s of the %s timeout)", time.Since(start).Round(time.Millisecond), timeout),
					Process:  w.state(children),
				}
			}
			seenDead = dead
		case <-deadline.C:
			return protocol.Reply{
				NoAnswer: true,
				Error:    fmt.Sprintf("no answer within %s", timeout),
				Process:  w.state(children),
			}
		}
	}
}

// deadPoll is how often wait looks for a dead worker: one small /proc
// read, cheap next to the seconds a step's timeout would otherwise take.
const deadPoll = 50 * time.Millisecond

// state is the worker's process state, named even once it is gone.
func (w *worker) state(children *reaper) *protocol.ProcessState {
	ps := children.state(w.pid)
	if ps.Comm == "" {
		ps.Comm = w.comm
	}
	return ps
}

// reaper collects exit statuses of the agent's children without ever
// blocking: it polls wait4 with WNOHANG whenever SIGCHLD arrives and once a
// second, so children that are dead but unreapable cost nothing.
type reaper struct {
	mu     sync.Mutex
	exited map[int]string
}

func newReaper(sigchld <-chan os.Signal) *reaper {
	r := &reaper{exited: map[int]string{}}
	go func() {
		tick := time.NewTicker(time.Second)
		for {
			select {
			case <-sigchld:
			case <-tick.C:
			}
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		r.exited[pid] = describeWait(ws)
		r.mu.Unlock()
	}
}

func describeWait(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %s", unix.SignalName(ws.Signal()))
	default:
		return fmt.Sprintf("status %#x", uint32(ws))
	}
}

// reaped says whether pid exited and the agent collected its status.
func (r *reaper) reaped(pid int) bool {
	r.reap()
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.exited[pid]
	return ok
}

// state describes pid, including whether it was reaped.
func (r *reaper) state(pid int) *protocol.ProcessState {
	r.reap()
	r.mu.Lock()
	st, reaped := r.exited[pid]
	r.mu.Unlock()
	if reaped {
		return &protocol.ProcessState{PID: pid, State: "gone", Exited: true, ExitStatus: st, Stack: []string{}}
	}
	return processState(pid)
}

// commandLine is req in the holder's line protocol (see holder/holder.c).
func commandLine(req protocol.Request) string {
	switch req.Action {
	case protocol.ActionOpen:
		if req.Mode == "w" || req.Mode == "rw" {
			return "open-" + req.Mode + " " + req.Path + "\n"
		}
		return "open " + req.Path + "\n"
	case protocol.ActionWrite:
		return "write " + hex.EncodeToString([]byte(req.Data)) + "\n"
	case protocol.ActionIoctl:
		if req.Buffer {
			return fmt.Sprintf("ioctl-buf %d %d %s\n", req.Cmd, req.Size, hex.EncodeToString(req.In))
		}
		return fmt.Sprintf("ioctl %d %d\n", req.Cmd, req.Arg)
	case protocol.ActionMmap:
		n := req.Count
		if n <= 0 {
			n = 1
		}
		return fmt.Sprintf("mmap %d %d %d %d %s\n", req.Size, req.Offset, req.At, n, hex.EncodeToString([]byte(req.Data)))
	case protocol.ActionExec:
		b, _ := json.Marshal(req.Command)
		return string(b) + "\n"
	case protocol.ActionRead:
		n := req.Count
		if n <= 0 {
			n = 4096
		}
		return fmt.Sprintf("read %d\n", n)
	case protocol.ActionSeek:
		return fmt.Sprintf("seek %d\n", req.Offset)
	}
	return string(req.Action) + "\n"
}
