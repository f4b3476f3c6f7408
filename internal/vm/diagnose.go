package vm

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// What QEMU can tell about a guest that stopped answering, and about
// itself. The runner asks for these by name and needs no QMP command of
// its own.

var ripRE = regexp.MustCompile(`RIP=([0-9a-f]+)`)

// Registers is QEMU's "info registers" for the guest's CPUs, and the RIP
// of the first one ("" when it shows none).
func (v *VM) Registers(timeout time.Duration) (text, rip string, err error) {
	out, err := v.QMP("human-monitor-command", map[string]string{"command-line": "info registers"}, timeout)
	if err != nil {
		return "", "", err
	}
	if err := json.Unmarshal(out, &text); err != nil {
		return "", "", err
	}
	if text == "" {
		return "", "", errors.New("qemu printed no registers")
	}
	if m := ripRE.FindStringSubmatch(text); m != nil {
		rip = m[1]
	}
	return text, rip, nil
}

// DumpMemory writes the guest's memory to path (an ELF core QEMU makes,
// without paging: the physical memory as it is).
func (v *VM) DumpMemory(path string, timeout time.Duration) error {
	_, err := v.QMP("dump-guest-memory", map[string]any{"paging": false, "protocol": "file:" + path}, timeout)
	return err
}

// Version asks the QEMU binary its version ("7.2.22"), within a bound (a
// binary or wrapper that never answers must not hold up a run); "" when it
// cannot be run; bin "" is qemu-system-x86_64.
func Version(bin string) string {
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.WaitDelay = time.Second // a child left holding stdout does not hold us
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(first); len(f) >= 4 {
		return f[3]
	}
	return strings.TrimSpace(first)
}
