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
}

// fakeBackend starts fakeMachines playing script and keeps every one it
// started, so a test can check none outlives the run.
type fakeBackend struct {
	script script
	mu     sync.Mutex
	vms    []*fakeMachine
}

func (b *fakeBackend) start(ctx context.Context, cfg vm.Config) (machine, error) {
	if b.script.startErr != nil {
		return nil, b.script.startErr
	}
	m := &fakeMachine{cfg: cfg, sc: b.script, exited: make(chan struct{}), panicked: make(chan struct{}), running: make(chan struct{})}
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
	defer b.mu.Unlock()
	for _, m := range b.vms {
		if m.agentAddr() == addr {
			return &fakeConn{m: m}, nil
		}
	}
	return nil, fmt.Errorf("dial %s: connection refused", addr)
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
}

// boot prints what a cold boot prints, as the script says.
func (m *fakeMachine) boot() {
	if m.sc.silentOn == m.cfg.Accel {
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

func (m *fakeMachine) Registers(time.Duration) (string, string, error) {
	return "RIP=" + fakeRIP + " RFL=00000246\n", fakeRIP, nil
}

func (m *fakeMachine) DumpMemory(path string, _ time.Duration) error {
	return os.WriteFile(path, []byte("ELF core"), 0o600)
}

func (m *fakeMachine) Pause() error {
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

func (m *fakeMachine) Restore(path string, _ time.Duration) error {
	if m.sc.restoreErr != nil {
		return m.sc.restoreErr
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	return nil
}

func (m *fakeMachine) SendKeys(msg []byte, _ time.Duration) error {
	if _, err := protocol.DecodeKeyMessage(msg); err != nil {
		return err
	}
	if !m.sc.silentAfterRestore {
		m.print(protocol.ReadyLine())
	}
	return nil
}

func (m *fakeMachine) SaveSnapshot(path string, _ time.Duration) error {
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
	if req.Action == protocol.ActionEnd {
		m.print(protocol.EndLine())
		return protocol.Reply{OK: true}, nil
	}
	if req.Step == 0 { // the runner's own questions
		rep := protocol.Reply{OK: true}
		if req.Action == protocol.ActionObserve {
			rep.Process = &protocol.ProcessState{PID: 102, Comm: "holder", State: "S (sleeping)"}
		}
		return rep, nil
	}
	m.print(protocol.StepLine(req))
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
	}
	rep := protocol.Reply{OK: true}
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

func (c *fakeConn) Shell(io.Reader, io.Writer, string, agentclient.WinSize, <-chan agentclient.WinSize) (int, error) {
	return 0, nil
}

func (c *fakeConn) Close() error {
	c.closed = true
	return nil
}
