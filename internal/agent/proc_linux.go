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
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		ps.State = "gone"
		return ps
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "Name":
			ps.Comm = strings.TrimSpace(v)
		case "State":
			ps.State = strings.TrimSpace(v)
		}
	}
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
