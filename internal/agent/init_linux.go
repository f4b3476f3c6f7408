package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/u-root/u-root/pkg/libinit"
	"github.com/u-root/u-root/pkg/ulog"
	"golang.org/x/sys/unix"
)

// Init is the agent's life as the guest's /init (PID 1). It sets up the
// root file system and environment as u-root's init does (u-root's libinit:
// devtmpfs, proc, sys, devpts, tmpfs, PATH …; see createRoot), then runs the
// agent proper as its child and reaps every orphan, forever.
//
// The agent was u-root init's uinit before; starting it directly saves
// u-root's init, a second large Go program, about half a second of a cold
// boot under TCG. It still runs as a child, not as PID 1 itself: an oops
// in a syscall the agent makes (a module's init during a load step) kills
// the calling task, and killing PID 1 panics the kernel ("Attempted to kill
// init"), which would turn an oops the experiment is about into a panic.
// As a child it dies like any process, and this parent reports it.
//
// Init returns at once when the agent is not PID 1 (the agent proper,
// started by Init); as PID 1 it never returns.
func Init() {
	if os.Getpid() != 1 {
		return
	}
	libinit.SetEnv()
	createRoot()
	kmsg("lab-agent: root file system ready")
	supervise()
}

// createRoot is u-root's CreateRootfs less what a lab guest never uses and
// costs boot time under TCG: the cgroup v1 hierarchy (twenty mounts and
// directories) and efivarfs (lab boots with BIOS, so it always failed and
// printed an error line on the console).
func createRoot() {
	libinit.Create(libinit.PreNamespace, false)
	ulog.KernelLog.Reinit()
	var ns []libinit.Creator
	for _, c := range libinit.Namespace {
		if m, ok := c.(libinit.Mount); ok && m.FSType == "efivarfs" {
			continue
		}
		ns = append(ns, c)
	}
	libinit.Create(ns, false)
}

// supervise starts the agent as PID 1's child, in a session of its own
// with the console as its controlling terminal (as u-root's init gave its
// uinit), reaps everything until the agent exits, reports that exit on
// the console, and goes on reaping orphans: PID 1 must never exit.
func supervise() {
	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}
	start := func(ctty bool) (*exec.Cmd, error) {
		cmd := exec.Command(self)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: ctty}
		return cmd, cmd.Start()
	}
	cmd, err := start(true)
	if err != nil {
		// No console to be the controlling terminal of: start it without.
		if cmd, err = start(false); err != nil {
			Fatal(fmt.Errorf("start the agent: %w", err))
			reapForever()
		}
	}
	agent := cmd.Process.Pid
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break
		}
		if pid == agent {
			Fatal(fmt.Errorf("the agent exited (%s)", describeWait(ws)))
			break
		}
	}
	reapForever()
}

// reapForever reaps orphans until the VM is stopped. It never returns: PID
// 1 exiting panics the kernel.
func reapForever() {
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); errors.Is(err, unix.ECHILD) {
			time.Sleep(time.Second) // none now; a child's orphans come later
		}
	}
}
