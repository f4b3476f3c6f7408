package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/results"
)

// lineWriter collects what lab prints and lets a test wait for a line.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor returns the first match of re in the output, within limit.
func (w *lineWriter) waitFor(t *testing.T, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(w.String()); m != nil {
			return m
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %q within %s in lab's output:\n%s", re, limit, w.String())
	return nil
}

// gdbCommandLine is the line lab prints for gdb; group 1 is the command.
var gdbCommandLine = regexp.MustCompile(`(?m)^  (gdb -ex 'target remote 127\.0\.0\.1:(\d+)'.*)$`)

func needGDB(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb is not installed")
	}
}

// attachGDB runs the gdb command lab printed, paused after chardev_safe
// loaded: gdb must read the CPU's registers (RIP is wherever the guest
// was: idle in the kernel, or the agent in user space) and find the
// module's device_read inside the .text that the command's add-symbol-file
// line gives; then it detaches, which QEMU's stub takes as "continue".
func attachGDB(t *testing.T, command string) {
	t.Helper()
	if !strings.Contains(command, "add-symbol-file ") || !strings.Contains(command, "chardev_safe.ko 0xffffffffc") {
		t.Errorf("gdb command %q has no add-symbol-file line for chardev_safe", command)
	}
	var args []string
	for _, q := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(command, -1) {
		args = append(args, "-ex", q[1])
	}
	args = append([]string{"-batch", "-nx"}, append(args, "-ex", "info registers rip", "-ex", "info address device_read", "-ex", "detach")...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gdb", args...).CombinedOutput()
	t.Logf("gdb %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("gdb: %v", err)
	}
	if !regexp.MustCompile(`rip\s+0x[0-9a-f]+`).Match(out) {
		t.Errorf("gdb read no RIP from the paused guest")
	}
	text := regexp.MustCompile(`chardev_safe\.ko (0x[0-9a-f]+)`).FindStringSubmatch(command)
	addr := regexp.MustCompile(`Symbol "device_read" is a function at address (0x[0-9a-f]+)`).FindSubmatch(out)
	if text == nil || addr == nil {
		t.Fatalf("no module .text in the command or no device_read address from gdb")
	}
	base, _ := strconv.ParseUint(text[1][2:], 16, 64)
	at, _ := strconv.ParseUint(string(addr[1][2:]), 16, 64)
	if at < base || at >= base+0x10000 {
		t.Errorf("gdb puts device_read at %#x; want it in the module's .text from %#x", at, base)
	}
}

// TestGDB runs chardev-rw with --gdb-step 2: lab pauses the VM after the
// module loaded, prints a gdb command whose add-symbol-file line is the
// recorded layout, and waits. A scripted gdb runs that very command
// (attachGDB), then detaches, which QEMU's stub takes as "continue": the
// run must then finish and pass, with nokaslr on the kernel command line.
func TestGDB(t *testing.T) {
	needVM(t)
	needGDB(t)
	dir := t.TempDir()
	var stdout, stderr lineWriter
	done := make(chan int, 1)
	go func() {
		done <- cli.Main([]string{"--root", "..", "--results", dir, "run", "--kernel", "debian-6.1", "--gdb-step", "2", "testdata/chardev-rw.yaml"}, &stdout, &stderr)
	}()
	defer func() { t.Logf("lab's output:\n%s\n%s", stdout.String(), stderr.String()) }()
	m := stderr.waitFor(t, gdbCommandLine, 5*time.Minute)
	if !strings.Contains(stderr.String(), "paused before step 2") {
		t.Errorf("lab did not say where the VM is paused")
	}
	attachGDB(t, m[1])
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("lab run --gdb-step 2 = exit %d after gdb continued", code)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("the run did not finish after gdb detached")
	}
	r := readResultFile(t, dir+"/latest/debian-6.1/chardev-rw/result.json")
	if r.Verdict != results.Pass || !strings.Contains(r.Provenance.Cmdline, "nokaslr") {
		t.Errorf("verdict %s (%s), cmdline %q; want pass with nokaslr", r.Verdict, r.Reason, r.Provenance.Cmdline)
	}
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("QEMU left running: %v", left)
	}
}
