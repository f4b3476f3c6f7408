package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/vm"
)

// A fake backend plays scripted guests for the runner's table tests
// (runner_fake_test.go): the console lines a real kernel and agent print,
// and the ways a real guest goes wrong, without QEMU.

// behaviour is how the scripted guest answers one step.
type behaviour int

const (
	answers    behaviour = iota
	hangs                // the guest stops: no reply ever, QEMU still "running"
	panics               // the kernel panics: its line, pvpanic, QEMU exits
	pvpanics             // pvpanic fires and QEMU exits, with no panic line on the console
	qemuDies             // QEMU's process dies under the step
	dropsAgent           // the agent's connection breaks; the guest runs on
	slow                 // the agent answers after the script's slowBy
)

// script is one guest's behaviour, the same for every machine the
// backend starts unless a field says which.
type script struct {
	startErr  error  // QEMU fails to start
	silentOn  string // on this accelerator the kernel prints nothing
	fatal     string // the agent prints its fatal line instead of ready
	notReady  bool   // the kernel prints, the agent never says ready
	bootPanic bool   // the kernel panics while booting
	// restoreErr fails loading a snapshot; silentAfterRestore: the
	// restored agent takes its keys and never says ready.
	restoreErr         error
	silentAfterRestore bool
	// status is QEMU's run state while the guest runs ("" running).
	status string
	steps  map[int]behaviour
	slowBy time.Duration
	// endDelay: the end-of-run line reaches the console this long after
	// the agent was asked for it (never once the VM stopped).
	endDelay time.Duration
	// replies answer these steps instead of the default reply (after the
	// step's line, for a step that answers).
	replies map[int]protocol.Reply
	// prints are console lines (whole, with their timestamps) the kernel
	// prints during these steps.
	prints map[int][]string
	// own answer the runner's own questions (step 0) of these actions;
	// ownErr fails them.
	own    map[protocol.Action]protocol.Reply
	ownErr map[protocol.Action]error
	// dieOn: on this accelerator QEMU exits before the kernel prints.
	dieOn string
	// noAgent: the agent's port refuses connections; diesOnDial: QEMU
	// exits while the host dials.
	noAgent    bool
	diesOnDial bool
	// regsErr and dumpErr fail QEMU's diagnostics.
	regsErr error
	dumpErr error
	// snapshotLine replaces the awaiting-keys line of a snapshot boot
	// ("" prints it; "none" prints nothing).
	snapshotLine string
	// meetAt: this step answers only once meetN machines reached it
	// (their cells run at once), or fails the step when its time ends.
	meetAt, meetN int
	// consoleGoneAt: the console log is removed during this step.
	consoleGoneAt int
	// keysAfter delays a snapshot boot's awaiting-keys line.
	keysAfter time.Duration
	// saveErr fails saving a snapshot; pauseErr pausing the VM.
	saveErr  error
	pauseErr error
	// The guest's shell: what it writes, its exit status and error; with
	// shellBlocks it runs until the VM exits.
	shellCode   int
	shellErr    error
	shellBlocks bool
}

// fakeBackend starts fakeMachines playing script and keeps every one it
// started, so a test can check none outlives the run.
type fakeBackend struct {
	script script
	mu     sync.Mutex
	vms    []*fakeMachine
	met    int // machines that reached script.meetAt
}

func (b *fakeBackend) start(ctx context.Context, cfg vm.Config) (machine, error) {
	if b.script.startErr != nil {
		return nil, b.script.startErr
	}
	m := &fakeMachine{cfg: cfg, sc: b.script, exited: make(chan struct{}), panicked: make(chan struct{}), running: make(chan struct{}), paused: cfg.Paused, b: b}
	if err := os.WriteFile(cfg.Console, nil, 0o600); err != nil {
		return nil, err
	}
	if cfg.Stderr != "" {
		os.WriteFile(cfg.Stderr, nil, 0o600)
		os.WriteFile(vm.CmdlinePath(cfg.Stderr), []byte("qemu-system-x86_64 -accel "+cfg.Accel+" -append '"+cfg.Append+"'\n"), 0o600)
	}
	b.mu.Lock()
	b.vms = append(b.vms, m)
	b.mu.Unlock()
	if !cfg.Incoming {
		m.boot()
	}
	return m, nil
}

func (b *fakeBackend) dial(ctx context.Context, addr string, keys *agentclient.Keys) (agentConn, error) {
	b.mu.Lock()
	var found *fakeMachine
	for _, m := range b.vms {
		if m.agentAddr() == addr {
			found = m
		}
	}
	b.mu.Unlock()
	switch {
	case found == nil || b.script.noAgent:
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	case b.script.diesOnDial:
		found.exit(errors.New("qemu: terminating on signal 15"))
		<-ctx.Done() // the runner stops dialing once QEMU exited
		return nil, ctx.Err()
	}
	return &fakeConn{m: found}, nil
}

// machines are the configurations of every machine started, in order.
func (b *fakeBackend) machines() []vm.Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []vm.Config
	for _, m := range b.vms {
		out = append(out, m.cfg)
	}
	return out
}

// vmsNow are the machines started so far.
func (b *fakeBackend) vmsNow() []*fakeMachine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*fakeMachine(nil), b.vms...)
}

// requests are every request the agents got, in order per machine.
func (b *fakeBackend) requests() []protocol.Request {
	b.mu.Lock()
	vms := append([]*fakeMachine(nil), b.vms...)
	b.mu.Unlock()
	var out []protocol.Request
	for _, m := range vms {
		m.mu.Lock()
		out = append(out, m.reqs...)
		m.mu.Unlock()
	}
	return out
}

// running are the machines not stopped and not exited.
func (b *fakeBackend) running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.vms {
		if !isClosed(m.exited) {
			n++
		}
	}
	return n
}

// continueWhenPaused plays the debugger: it continues the first machine
// it sees paused.
func (b *fakeBackend) continueWhenPaused() {
	for {
		b.mu.Lock()
		vms := append([]*fakeMachine(nil), b.vms...)
		b.mu.Unlock()
		for _, m := range vms {
			if s, _ := m.Status(); s == "paused" {
				close(m.running)
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var fakeSeq struct {
	sync.Mutex
	n int
}

type fakeMachine struct {
	cfg      vm.Config
	sc       script
	id       int
	mu       sync.Mutex
	exitErr  error
	exited   chan struct{}
	panicked chan struct{}
	running  chan struct{}
	paused   bool
	reqs     []protocol.Request
	b        *fakeBackend
}

// boot prints what a cold boot prints, as the script says.
func (m *fakeMachine) boot() {
	if m.sc.silentOn == m.cfg.Accel {
		return
	}
	if m.sc.dieOn == m.cfg.Accel {
		m.exit(errors.New("kvm: KVM_RUN failed"))
		return
	}
	m.print("Linux version 6.1.0-fake (fake) #1 SMP PREEMPT_DYNAMIC Debian 6.1.0-1")
	switch {
	case m.sc.bootPanic:
		m.print("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)")
		m.exit(errors.New("the guest panicked"))
	case m.sc.fatal != "":
		m.print(protocol.FatalLine(errors.New(m.sc.fatal)))
	case m.sc.notReady:
	case m.cfg.KeyChannel && m.sc.snapshotLine == "none":
	case m.cfg.KeyChannel && m.sc.snapshotLine != "":
		m.print(m.sc.snapshotLine)
	case m.cfg.KeyChannel && m.sc.keysAfter > 0:
		go func() {
			time.Sleep(m.sc.keysAfter)
			m.print(protocol.AwaitingKeysLine())
		}()
	case m.cfg.KeyChannel:
		m.print(protocol.AwaitingKeysLine())
	default:
		m.print(protocol.ReadyLine())
	}
}

func (m *fakeMachine) print(line string) {
	f, err := os.OpenFile(m.cfg.Console, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "[    1.000000] %s\n", line)
}

// printRaw prints a whole console line.
func (m *fakeMachine) printRaw(line string) {
	f, err := os.OpenFile(m.cfg.Console, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

func (m *fakeMachine) exit(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !isClosed(m.exited) {
		m.exitErr = err
		close(m.exited)
	}
}

func (m *fakeMachine) Exited() <-chan struct{}   { return m.exited }
func (m *fakeMachine) Panicked() <-chan struct{} { return m.panicked }
func (m *fakeMachine) ExitError() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exitErr
}

func (m *fakeMachine) Status() (string, error) {
	if isClosed(m.exited) {
		return "", errors.New("QMP: connection closed")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.paused {
		return "paused", nil
	}
	if m.sc.status != "" {
		return m.sc.status, nil
	}
	return "running", nil
}

const fakeRIP = "ffffffff81123456"

// errNoTime is a QMP question given no time to be answered in.
var errNoTime = errors.New("QMP: timeout")

func (m *fakeMachine) Registers(timeout time.Duration) (string, string, error) {
	if timeout <= 0 {
		return "", "", errNoTime
	}
	if m.sc.regsErr != nil {
		return "", "", m.sc.regsErr
	}
	return "RIP=" + fakeRIP + " RFL=00000246\n", fakeRIP, nil
}

func (m *fakeMachine) DumpMemory(path string, timeout time.Duration) error {
	if timeout <= 0 {
		return errNoTime
	}
	if m.sc.dumpErr != nil {
		return m.sc.dumpErr
	}
	return os.WriteFile(path, []byte("ELF core"), 0o600)
}

func (m *fakeMachine) Pause() error {
	if m.sc.pauseErr != nil {
		return m.sc.pauseErr
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.paused = true
	return nil
}

// WaitRunning returns once the test's "debugger" continued the VM.
func (m *fakeMachine) WaitRunning(ctx context.Context) error {
	select {
	case <-m.running:
		m.mu.Lock()
		m.paused = false
		m.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *fakeMachine) Restore(path string, timeout time.Duration) error {
	if timeout <= 0 {
		return errNoTime
	}
	if m.sc.restoreErr != nil {
		return m.sc.restoreErr
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return nil
}

func (m *fakeMachine) SendKeys(msg []byte, timeout time.Duration) error {
	if timeout <= 0 {
		return errNoTime
	}
	if _, err := protocol.DecodeKeyMessage(msg); err != nil {
		return err
	}
	if !m.sc.silentAfterRestore {
		m.print(protocol.ReadyLine())
	}
	return nil
}

func (m *fakeMachine) SaveSnapshot(path string, timeout time.Duration) error {
	if timeout <= 0 {
		return errNoTime
	}
	if m.sc.saveErr != nil {
		return m.sc.saveErr
	}
	return os.WriteFile(path, []byte("a booted guest"), 0o600)
}

func (m *fakeMachine) agentAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.id == 0 {
		fakeSeq.Lock()
		fakeSeq.n++
		m.id = fakeSeq.n
		fakeSeq.Unlock()
	}
	return fmt.Sprintf("fake:%d", m.id)
}

func (m *fakeMachine) gdbPort() int { return 1234 }

func (m *fakeMachine) Stop() { m.exit(errors.New("stopped")) }

// fakeConn is the scripted agent's connection.
type fakeConn struct {
	m      *fakeMachine
	closed bool
}

var errConnLost = errors.New("ssh: connection lost")

func (c *fakeConn) Do(ctx context.Context, req protocol.Request) (protocol.Reply, error) {
	m := c.m
	if c.closed || isClosed(m.exited) {
		return protocol.Reply{}, errConnLost
	}
	m.mu.Lock()
	m.reqs = append(m.reqs, req)
	m.mu.Unlock()
	if req.Step == 0 {
		if err := m.sc.ownErr[req.Action]; err != nil {
			return protocol.Reply{}, err
		}
		if rep, ok := m.sc.own[req.Action]; ok {
			return rep, nil
		}
	}
	if req.Action == protocol.ActionEnd {
		if m.sc.endDelay == 0 {
			m.print(protocol.EndLine())
			return protocol.Reply{OK: true}, nil
		}
		go func() {
			time.Sleep(m.sc.endDelay)
			m.mu.Lock() // exit takes it: no line after the VM stopped
			defer m.mu.Unlock()
			if !isClosed(m.exited) {
				m.print(protocol.EndLine())
			}
		}()
		return protocol.Reply{OK: true}, nil
	}
	if req.Step == 0 { // the runner's own questions
		rep := protocol.Reply{OK: true}
		if req.Action == protocol.ActionObserve && req.Ticket != "" {
			rep.Process = &protocol.ProcessState{PID: 300, Comm: "rmmod", State: "D (disk sleep)"}
		} else if req.Action == protocol.ActionObserve {
			rep.Process = &protocol.ProcessState{PID: 102, Comm: "holder", State: "S (sleeping)"}
		}
		return rep, nil
	}
	m.print(protocol.StepLine(req))
	for _, line := range m.sc.prints[req.Step] {
		m.printRaw(line)
	}
	if m.sc.meetAt == req.Step && m.sc.meetN > 0 {
		m.b.mu.Lock()
		m.b.met++
		m.b.mu.Unlock()
		for {
			m.b.mu.Lock()
			n := m.b.met
			m.b.mu.Unlock()
			if n >= m.sc.meetN {
				break
			}
			select {
			case <-ctx.Done():
				return protocol.Reply{}, ctx.Err()
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	if m.sc.consoleGoneAt == req.Step {
		os.Remove(m.cfg.Console)
	}
	switch m.sc.steps[req.Step] {
	case hangs:
		<-ctx.Done()
		return protocol.Reply{}, ctx.Err()
	case panics:
		m.print("Kernel panic - not syncing: Fatal exception")
		close(m.panicked)
		m.exit(errors.New("the guest panicked"))
		return protocol.Reply{}, io.EOF
	case pvpanics:
		close(m.panicked)
		m.exit(errors.New("the guest panicked"))
		return protocol.Reply{}, io.EOF
	case qemuDies:
		m.exit(errors.New("signal: killed"))
		return protocol.Reply{}, io.EOF
	case dropsAgent:
		c.closed = true
		return protocol.Reply{}, errConnLost
	case slow:
		select {
		case <-time.After(m.sc.slowBy):
		case <-ctx.Done():
			return protocol.Reply{}, ctx.Err()
		}
	}
	if rep, ok := m.sc.replies[req.Step]; ok {
		return rep, nil
	}
	rep := protocol.Reply{OK: true}
	if req.Async {
		rep.Ticket = fmt.Sprintf("ticket-%d", req.Step)
	}
	if req.Action == protocol.ActionLoad || req.Action == protocol.ActionUnload {
		ev := map[protocol.Action]string{protocol.ActionLoad: "load", protocol.ActionUnload: "unload"}[req.Action]
		const base = 0xffffffffc0a00000
		rep.Layout = &protocol.ModuleLayout{Name: req.Module, Event: ev, Base: base, Size: 4096, Sections: map[string]uint64{".text": base, ".data": base + 0x800}}
		if ev == "unload" {
			m.print(protocol.UnloadedLine(req.Module))
		}
	}
	if req.Action == protocol.ActionOpen || req.Action == protocol.ActionObserve {
		rep.Process = &protocol.ProcessState{PID: 100 + req.Step, Comm: "holder", State: "S (sleeping)"}
	}
	return rep, nil
}

func (c *fakeConn) Shell(_ io.Reader, stdout io.Writer, term string, _ agentclient.WinSize, _ <-chan agentclient.WinSize) (int, error) {
	if stdout != nil {
		fmt.Fprintf(stdout, "shell on %s\n", term)
	}
	if c.m.sc.shellBlocks {
		<-c.m.exited
		time.Sleep(50 * time.Millisecond) // the runner sees the VM exit first
		return 0, errConnLost
	}
	return c.m.sc.shellCode, c.m.sc.shellErr
}

func (c *fakeConn) Close() error {
	c.closed = true
	return nil
}
