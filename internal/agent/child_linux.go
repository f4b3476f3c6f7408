package agent

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kernel-lab/lab/internal/protocol"
)

// RunChild runs the agent binary as one of its own child processes
// ("lab-agent unload NAME") and reports whether args named one. The caller
// must have locked main to the main thread (runtime.LockOSThread in init),
// so that the blocking call happens in the thread group leader, whose state
// is what /proc/PID/status shows.
func RunChild(args []string) bool {
	if len(args) != 3 {
		return false
	}
	switch args[1] {
	case "unload":
		unloadMain(args[2])
	case "exec":
		execMain(os.Stdin, os.Stdout)
	default:
		return false
	}
	return true
}

// setComm names the process as the kernel will print it in oopses and
// hung-task reports (at most 15 bytes).
func setComm(name string) {
	if len(name) > 15 {
		name = name[:15]
	}
	b := append([]byte(name), 0)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(ptr(b)), 0, 0, 0)
}

// unloadMain runs one delete_module in a process of its own, named like the
// tool a person would use, so that an unload that blocks (waiting for a procfs
// read in flight) can be observed and shows up as "rmmod" in kernel reports.
func unloadMain(module string) {
	setComm("rmmod")
	start := time.Now()
	var rep protocol.Reply
	fillErr(&rep, deleteModule(module))
	rep.MS = time.Since(start).Milliseconds()
	if rep.OK {
		// In the kernel log, so that the host orders the unload against the
		// kernel's reports on the log's own clock.
		kmsg("%s", protocol.UnloadedLine(module))
	}
	json.NewEncoder(os.Stdout).Encode(rep)
}

// fillErr sets OK, or the errno name and message of err.
func fillErr(rep *protocol.Reply, err error) {
	if err == nil {
		rep.OK = true
		return
	}
	rep.OK = false
	rep.Error = err.Error()
	var errno unix.Errno
	if errors.As(err, &errno) {
		rep.Errno = unix.ErrnoName(errno)
	}
}
