package agent

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/kernel-lab/lab/internal/protocol"
)

// RunChild runs the agent binary as one of its own child processes
// ("lab-agent exec NAME") and reports whether args named one. The caller
// must have locked main to the main thread (runtime.LockOSThread in init),
// so that the blocking call happens in the thread group leader, whose state
// is what /proc/PID/status shows.
func RunChild(args []string) bool {
	if len(args) != 3 {
		return false
	}
	switch args[1] {
	case "exec":
		execMain(os.Stdin, os.Stdout)
	default:
		return false
	}
	return true
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
