package runner

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/vm"
)

// The seam between a run and the machine it runs on. A run needs a VM it
// can watch (exited, panicked, status), question when the guest stops
// answering (registers, a memory dump), pause for a debugger, save and
// restore, and hand keys to; and a connection to the guest's agent. QEMU
// and SSH are the real ones (qemuBackend); the runner's table tests play
// scripted guests through a fake (fake_machine_test.go) that hangs,
// panics, dies mid-step or never answers, in milliseconds, in the manner
// of syzkaller's vm tests registering a fake VM type.

// machine is a started VM as a run sees it; *vm.VM behind qemuMachine is
// the real one.
type machine interface {
	// Exited is closed when the VM's process ended; ExitError says how.
	Exited() <-chan struct{}
	ExitError() error
	// Panicked is closed when the guest reported a panic (pvpanic).
	Panicked() <-chan struct{}
	// Status is QEMU's run state ("running", "paused", "internal-error" …).
	Status() (string, error)
	// Registers and DumpMemory tell what can be told of a guest that
	// stopped answering.
	Registers(timeout time.Duration) (text, rip string, err error)
	DumpMemory(path string, timeout time.Duration) error
	// Pause and WaitRunning serve the debugger (--gdb-step).
	Pause() error
	WaitRunning(ctx context.Context) error
	// Restore loads a snapshot into a VM started to receive one, SendKeys
	// gives its agent the run's keys; SaveSnapshot saves a booted one.
	Restore(path string, timeout time.Duration) error
	SendKeys(msg []byte, timeout time.Duration) error
	SaveSnapshot(path string, timeout time.Duration) error
	// agentAddr is where the host reaches the guest agent's port;
	// gdbPort the gdbstub's port (0 without --gdb).
	agentAddr() string
	gdbPort() int
	// Stop ends the VM; it is safe to call more than once.
	Stop()
}

// agentConn is the connection to the guest's agent; *agentclient.Client
// is the real one.
type agentConn interface {
	Do(ctx context.Context, req protocol.Request) (protocol.Reply, error)
	Shell(stdin io.Reader, stdout io.Writer, term string, size agentclient.WinSize, resize <-chan agentclient.WinSize) (int, error)
	Close() error
}

// backend starts machines and connects to their agents.
type backend interface {
	start(ctx context.Context, cfg vm.Config) (machine, error)
	dial(ctx context.Context, addr string, keys *agentclient.Keys) (agentConn, error)
}

// qemuBackend is the real backend: QEMU over QMP, the agent over SSH.
type qemuBackend struct{}

func (qemuBackend) start(ctx context.Context, cfg vm.Config) (machine, error) {
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return qemuMachine{v}, nil
}

func (qemuBackend) dial(ctx context.Context, addr string, keys *agentclient.Keys) (agentConn, error) {
	c, err := agentclient.Dial(ctx, addr, keys)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

// qemuMachine is a *vm.VM as a machine.
type qemuMachine struct{ *vm.VM }

func (q qemuMachine) agentAddr() string { return fmt.Sprintf("127.0.0.1:%d", q.HostPort) }
func (q qemuMachine) gdbPort() int      { return q.GDBPort }

// machines is the options' backend: QEMU unless a test plays one.
func (o Options) machines() backend {
	if o.backend != nil {
		return o.backend
	}
	return qemuBackend{}
}
