package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Init is the agent's life as the guest's /init (PID 1). It sets up the
// root file system and environment (see createRoot), then runs the agent
// proper as its child and reaps every orphan, forever.
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
	setEnv()
	createRoot()
	kmsg("lab-agent: root file system ready")
	supervise()
}

// setEnv gives PID 1, and so every process of the guest, the PATH u-root's
// init gives (libinit.SetEnv, less its Go toolchain directories): u-root's
// commands, when a run carries them, are found there.
func setEnv() {
	os.Setenv("PATH", "/ubin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin:/usr/local/sbin:/buildbin:/bbin")
	os.Setenv("USER", "root")
}

// rootMounts are the file systems of u-root's CreateRootfs (libinit's
// PreNamespace and Namespace) that a lab guest uses, in its order. Left
// out: the cgroup v1 hierarchy (twenty mounts and directories), efivarfs
// (lab boots with BIOS, so it always failed and printed an error line),
// the device nodes devtmpfs already has, u-root's Go toolchain directories
// and its copy of /etc (the initramfs root is writable already).
//
// lab no longer calls libinit for these few mounts: libinit imports
// u-root's module loader and with it two compression libraries whose
// package initialisation alone cost about 40 ms of each cold boot under
// TCG, in both the agent's processes (measured with GODEBUG=inittrace=1).
var rootMounts = []struct {
	source, target, fstype, opts string
}{
	{"devtmpfs", "/dev", "devtmpfs", ""},
	{"proc", "/proc", "proc", ""},
	{"tmpfs", "/tmp", "tmpfs", ""},
	{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=666,gid=5,mode=620"},
	{"tmpfs", "/dev/shm", "tmpfs", ""},
	{"sysfs", "/sys", "sysfs", ""},
	{"securityfs", "/sys/kernel/security", "securityfs", ""},
	{"debugfs", "/sys/kernel/debug", "debugfs", ""},
}

// createRoot mounts rootMounts and links /dev/ptmx to the devpts
// instance's, as u-root's init does. A mount that fails is reported on
// the console and the rest go on.
func createRoot() {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, m := range rootMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			kmsg("lab-agent: mkdir %s: %v", m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, 0, m.opts); err != nil {
			kmsg("lab-agent: mount -t %s %s %s: %v", m.fstype, m.source, m.target, err)
		}
		if m.target == "/dev/pts" {
			os.Remove("/dev/ptmx")
			if err := os.Symlink("/dev/pts/ptmx", "/dev/ptmx"); err != nil {
				kmsg("lab-agent: link /dev/ptmx: %v", err)
			}
		}
	}
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
