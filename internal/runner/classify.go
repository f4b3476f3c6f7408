package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/attribute"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/textutil"
)

// lost classifies a step that got no reply at all: the host was
// interrupted, the kernel panicked, QEMU died, the guest stopped answering
// (expired: the step's deadline passed) or the agent's connection broke.
func (s *session) lost(ctx context.Context, n int, st experiment.Step, err error, expired bool) error {
	where := fmt.Sprintf("step %d (%s %s)", n, st.Action, st.Target)
	if ctx.Err() != nil {
		return fail(results.KindInterrupted, fmt.Errorf("interrupted during %s", where))
	}
	// A panicking guest exits QEMU (panic=-1, -no-reboot) a moment after
	// the connection drops: give it that moment before classifying.
	select {
	case <-s.machine.Exited():
	case <-s.machine.Panicked():
	case <-time.After(s.t.Settle):
	}
	if panicLine := attribute.PanicLine(readFile(s.consolePath())); panicLine != "" || isClosed(s.machine.Panicked()) {
		if panicLine == "" {
			panicLine = "the guest reported a panic (pvpanic)"
		}
		return fail(results.KindKernelPanic, fmt.Errorf("the kernel panicked during %s: %s", where, panicLine))
	}
	if isClosed(s.machine.Exited()) {
		return fail(results.KindQEMUExited, fmt.Errorf("%s: %v", where, s.machine.ExitError()))
	}
	status, qerr := s.machine.Status()
	if expired || (qerr == nil && status != "running") {
		diag := s.diagnoseHang()
		return fail(results.KindGuestHang, fmt.Errorf("%s: the guest did not answer (QEMU status %q)%s%s", where, status, diag, consoleTail(textutil.LastLines(readFile(s.consolePath()), 10))))
	}
	return fail(results.KindAgentLost, fmt.Errorf("%s: the connection to the agent broke while the guest still runs: %v", where, err))
}

// diagnoseHang asks QEMU for what it can tell about a guest that stopped
// answering, and keeps it beside the console log.
func (s *session) diagnoseHang() string {
	var notes []string
	if text, rip, err := s.machine.Registers(s.t.QMP); err == nil {
		path := filepath.Join(s.dir, "registers.txt")
		if os.WriteFile(path, []byte(text), 0o600) == nil {
			notes = append(notes, "registers in "+path)
		}
		if rip != "" {
			notes = append(notes, "RIP="+rip+s.nameAddress(rip))
		}
	}
	if s.o.Dump {
		path := filepath.Join(s.dir, "memory.dump")
		if err := s.machine.DumpMemory(path, s.t.Dump); err == nil {
			notes = append(notes, "memory dump in "+path)
		} else {
			notes = append(notes, "memory dump failed: "+err.Error())
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return "; " + strings.Join(notes, "; ")
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// consoleTail is the last console lines, for an error message.
func consoleTail(lines []string) string {
	if len(lines) == 0 || lines[0] == "" {
		return "; the console is empty"
	}
	return "; last console lines:\n  " + strings.Join(lines, "\n  ")
}
