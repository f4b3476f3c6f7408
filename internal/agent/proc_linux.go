package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/kernel-lab/lab/internal/protocol"
)

// processState reads what /proc says about pid. A process that no longer has
// a /proc entry is "gone".
func processState(pid int) *protocol.ProcessState {
	ps := &protocol.ProcessState{PID: pid, Stack: []string{}}
	comm, state, ok := procStatus(pid)
	if !ok {
		ps.State = "gone"
		return ps
	}
	ps.Comm, ps.State = comm, state
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid)); err == nil {
		ps.Wchan = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stack", pid)); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				ps.Stack = append(ps.Stack, l)
			}
		}
	}
	return ps
}

// procStatus reads pid's name and state ("X (dead)") from /proc/PID/status;
// ok is false once pid has no /proc entry.
func procStatus(pid int) (comm, state string, ok bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", "", false
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch k {
		case "Name":
			comm = strings.TrimSpace(v)
		case "State":
			state = strings.TrimSpace(v)
		}
	}
	return comm, state, true
}

// deadTask says whether pid is in state X (dead); a variable so that tests
// can play a dying worker.
var deadTask = func(pid int) bool {
	_, state, ok := procStatus(pid)
	return ok && strings.HasPrefix(state, "X")
}
