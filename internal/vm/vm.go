// Package vm runs one QEMU process: it builds the command line, chooses the
// accelerator, captures the serial console to a file, drives QMP and makes
// sure QEMU never outlives the VM value that started it.
package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/logx"
)

// Accelerators.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// Config describes one VM.
type Config struct {
	// Arch is the guest's architecture (the zero value is amd64): it picks
	// the machine, the devices and the default QEMU.
	Arch arch.Arch
	// QEMU is the emulator binary; default Arch's (qemu-system-x86_64,
	// qemu-system-aarch64).
	QEMU   string
	Kernel string
	Initrd string
	// Append is the kernel command line.
	Append string
	// MemoryMB defaults to 512, CPUs to 1.
	MemoryMB int
	CPUs     int
	// Accel is AccelKVM or AccelTCG (package accel chooses).
	Accel string
	// Console is the file the serial console is written to; it is kept
	// whatever happens to the guest.
	Console string
	// Stderr is the file QEMU's own messages go to.
	Stderr string
	// GuestPort is forwarded from a free port on 127.0.0.1 (0: none).
	GuestPort int
	// KeyChannel and Incoming are for snapshots (savevm.go).
	KeyChannel bool
	Incoming   bool
	// GDB starts QEMU's gdbstub on a free port of 127.0.0.1 (VM.GDBPort);
	// Paused starts the VM stopped (-S) until a debugger or QMP resumes it.
	GDB    bool
	Paused bool
	Log    *slog.Logger
}

// CPUModel is the -cpu for accel on a: under KVM "host", the convention
// (and what lab's KVM probe tries); under TCG the architecture's own
// (arch.Arch.TCGCPU says why).
func CPUModel(accel string, a arch.Arch) string {
	if accel == AccelKVM {
		return "host"
	}
	return a.OrDefault().TCGCPU
}

// VM is a running QEMU.
type VM struct {
	cfg     Config
	cmd     *exec.Cmd
	sockDir string
	mon     *qmp.SocketMonitor
	// HostPort is the 127.0.0.1 port forwarded to the guest's GuestPort.
	HostPort int
	// GDBPort is where the gdbstub listens on 127.0.0.1 (Config.GDB).
	GDBPort int

	exited  chan struct{}
	waitErr error

	mu     sync.Mutex
	events []qmp.Event
	// panicked is closed on GUEST_PANICKED.
	panicked  chan struct{}
	panicOnce sync.Once
	stopOnce  sync.Once
}

// CmdlinePath is where Start writes QEMU's command line for a VM whose
// stderr goes to stderr: qemu.stderr → qemu.cmdline.
func CmdlinePath(stderr string) string {
	return strings.TrimSuffix(stderr, ".stderr") + ".cmdline"
}

// ErrExited says QEMU is gone.
var ErrExited = errors.New("qemu exited")

// Start starts QEMU and connects to its QMP socket. The QEMU process is tied
// to ctx: cancelling it kills QEMU.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	cfg.Arch = cfg.Arch.OrDefault()
	if cfg.QEMU == "" {
		cfg.QEMU = cfg.Arch.QEMU
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	cfg.Log = logx.Or(cfg.Log)
	if _, err := exec.LookPath(cfg.QEMU); err != nil {
		return nil, fmt.Errorf("%s not found: install %s (apt-get install %s)", cfg.QEMU, cfg.Arch.QEMUPackage, cfg.Arch.QEMUPackage)
	}
	// Unix socket paths are limited to 108 bytes, so the QMP socket lives
	// in a private temporary directory rather than in the run directory.
	sockDir, err := os.MkdirTemp("", "lab-vm-")
	if err != nil {
		return nil, err
	}
	v := &VM{cfg: cfg, sockDir: sockDir, exited: make(chan struct{}), panicked: make(chan struct{})}
	for attempt := 0; ; attempt++ {
		err = v.start(ctx)
		if err == nil {
			return v, nil
		}
		// A free port can be taken between our probe and QEMU's bind.
		if attempt < 3 && (strings.Contains(err.Error(), "host forwarding") || strings.Contains(err.Error(), "-gdb")) {
			continue
		}
		os.RemoveAll(sockDir)
		return nil, err
	}
}

func (v *VM) start(ctx context.Context) error {
	if v.cfg.GuestPort != 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		v.HostPort = p
	}
	if v.cfg.GDB {
		p, err := freePort()
		if err != nil {
			return err
		}
		v.GDBPort = p
	}
	sock := filepath.Join(v.sockDir, "qmp.sock")
	os.Remove(sock)
	stderr, err := os.Create(v.cfg.Stderr)
	if err != nil {
		return err
	}
	defer stderr.Close()
	args := v.Args(sock)
	v.cfg.Log.Debug("starting qemu", "args", strings.Join(args, " "))
	// The command line beside QEMU's stderr, quoted for a shell: a boot
	// that failed can be run again by hand.
	line := shellQuote(v.cfg.QEMU)
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	if err := os.WriteFile(CmdlinePath(v.cfg.Stderr), []byte(line+"\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, v.cfg.QEMU, args...)
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	// If lab dies without cleaning up, the kernel kills QEMU too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", v.cfg.QEMU, err)
	}
	v.cmd = cmd
	v.exited = make(chan struct{})
	go func() {
		v.waitErr = cmd.Wait()
		close(v.exited)
	}()
	if err := v.connectQMP(sock, 10*time.Second); err != nil {
		v.Kill()
		return fmt.Errorf("%w%s", err, v.stderrTail())
	}
	return nil
}

// Args is QEMU's command line, the one place it is built.
func (v *VM) Args(qmpSock string) []string {
	c := v.cfg
	c.Arch = c.Arch.OrDefault() // MachineSignature's Config has not been through Start
	args := []string{
		"-nodefaults", "-no-user-config",
		"-machine", c.Arch.Machine, "-accel", c.Accel, "-cpu", CPUModel(c.Accel, c.Arch),
		"-m", strconv.Itoa(c.MemoryMB), "-smp", strconv.Itoa(c.CPUs),
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", c.Append,
		"-display", "none", "-no-reboot",
		"-chardev", "file,id=console,path=" + c.Console,
		"-serial", "chardev:console",
		"-qmp", "unix:" + qmpSock + ",server=on,wait=off",
	}
	if c.Arch.PVPanic {
		args = append(args, "-device", "pvpanic")
	}
	if c.GuestPort != 0 {
		args = append(args,
			"-netdev", fmt.Sprintf("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d", v.HostPort, c.GuestPort),
			// No option ROM: the guest boots by -kernel, not PXE. No
			// guest announce: after a restore QEMU would have the guest
			// announce itself (gratuitous ARP, pointless behind user-net),
			// and under TCG 6.12's virtio_net work doing so crashed the
			// restored guest now and then (double fault or #DB in the
			// kworker, EFLAGS garbage: 5 of 90 restores).
			"-device", "virtio-net-pci,netdev=net0,romfile=,guest_announce=off")
	}
	if c.GDB {
		// Loopback only: the gdbstub reads and writes all guest memory.
		args = append(args, "-gdb", fmt.Sprintf("tcp:127.0.0.1:%d", v.GDBPort))
	}
	if c.Paused {
		args = append(args, "-S")
	}
	return append(args, v.snapshotArgs()...)
}

// Pause stops the guest's CPUs (QMP stop), as a debugger's break does.
func (v *VM) Pause() error {
	_, err := v.QMP("stop", nil, 3*time.Second)
	return err
}

// WaitRunning returns once the guest runs (a debugger continued it), or
// when ctx ends or QEMU exits.
func (v *VM) WaitRunning(ctx context.Context) error {
	for {
		st, err := v.Status()
		if err != nil {
			return err
		}
		if st == "running" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.exited:
			return v.ExitError()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// connectQMP waits for the socket (QEMU creates it after it parsed its
// arguments), connects, and starts draining events: go-qemu's event channel
// is unbuffered and fed by the goroutine that also delivers command replies,
// so an undrained channel would block every later command.
func (v *VM) connectQMP(sock string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-v.exited:
			return fmt.Errorf("%w before its QMP socket appeared: %v", ErrExited, v.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("qemu created no QMP socket within %s", limit)
		}
	}
	// The socket file appears at bind(), a moment before QEMU listen()s on
	// it: a connection in between is refused. On a loaded host (a fresh
	// clone's tests compiling modules beside a VM) lab took that for a dead
	// QEMU and killed it; it now dials again until QEMU listens or exits.
	var mon *qmp.SocketMonitor
	for {
		var err error
		mon, err = qmp.NewSocketMonitor("unix", sock, 2*time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			return fmt.Errorf("qmp: %w", err)
		}
		select {
		case <-v.exited:
			return fmt.Errorf("%w before it took QMP connections: %v", ErrExited, v.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := mon.Connect(); err != nil {
		return fmt.Errorf("qmp: %w", err)
	}
	events, err := mon.Events(context.Background())
	if err != nil {
		mon.Disconnect()
		return fmt.Errorf("qmp events: %w", err)
	}
	v.mon = mon
	go func() {
		for e := range events {
			v.mu.Lock()
			v.events = append(v.events, e)
			v.mu.Unlock()
			if e.Event == "GUEST_PANICKED" {
				v.panicOnce.Do(func() { close(v.panicked) })
			}
		}
	}()
	return nil
}

// Exited is closed when QEMU has exited.
func (v *VM) Exited() <-chan struct{} { return v.exited }

// Panicked is closed when the guest reported a panic through pvpanic.
func (v *VM) Panicked() <-chan struct{} { return v.panicked }

// Events returns the names of the QMP events seen so far.
func (v *VM) Events() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var names []string
	for _, e := range v.events {
		names = append(names, e.Event)
	}
	return names
}

// QMP runs one QMP command with a timeout (go-qemu's Run has none).
func (v *VM) QMP(command string, args any, timeout time.Duration) (json.RawMessage, error) {
	return v.qmp(command, args, nil, timeout)
}

// qmp runs command, passing file along with it (SCM_RIGHTS) when not nil.
func (v *VM) qmp(command string, args any, file *os.File, timeout time.Duration) (json.RawMessage, error) {
	if v.mon == nil {
		return nil, errors.New("qmp not connected")
	}
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := v.mon.RunWithFile(b, file)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, r.err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
		}
		if err := json.Unmarshal(r.out, &resp); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, err)
		}
		return resp.Return, nil
	case <-v.exited:
		return nil, fmt.Errorf("qmp %s: %w", command, ErrExited)
	case <-time.After(timeout):
		return nil, fmt.Errorf("qmp %s: no reply within %s", command, timeout)
	}
}

// Status is QMP's query-status: "running", "paused", "guest-panicked" …
func (v *VM) Status() (string, error) {
	out, err := v.QMP("query-status", nil, 3*time.Second)
	if err != nil {
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	err = json.Unmarshal(out, &st)
	return st.Status, err
}

// Stop asks QEMU to quit, then kills it if it does not go within a few
// seconds. It is safe to call more than once.
func (v *VM) Stop() {
	v.stopOnce.Do(func() {
		select {
		case <-v.exited:
		default:
			v.QMP("quit", nil, 2*time.Second)
			select {
			case <-v.exited:
			case <-time.After(3 * time.Second):
				v.Kill()
			}
		}
		if v.mon != nil {
			v.mon.Disconnect()
		}
		os.RemoveAll(v.sockDir)
	})
}

// Kill ends QEMU at once and waits for it.
func (v *VM) Kill() {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Kill()
		<-v.exited
	}
}

// ExitError describes how QEMU ended, with the tail of its stderr.
func (v *VM) ExitError() error {
	select {
	case <-v.exited:
	default:
		return nil
	}
	return fmt.Errorf("%w (%v)%s", ErrExited, v.waitErr, v.stderrTail())
}

func (v *VM) stderrTail() string {
	b, err := os.ReadFile(v.cfg.Stderr)
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return ": qemu said: " + s
}
