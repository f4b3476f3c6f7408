package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestShell runs `lab shell` as a person does, on a real pseudo-terminal:
// it types into the guest's shell, reads the answers, interrupts a
// command with Ctrl-C, ends the shell with Ctrl-D, and checks that the VM
// is gone and its console log kept.
func TestShell(t *testing.T) {
	needVM(t)
	bin := labBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--root", "..", "--results", dir, "shell", "--kernel", "debian-6.1", "--load", "chardev_safe")
	cmd.Env = append(os.Environ(), "TERM=xterm")
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	var out lineWriter
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			out.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		t.Logf("terminal:\n%s", out.String())
	}()
	// waitAfter waits for re in what the terminal showed after offset.
	waitAfter := func(offset int, re *regexp.Regexp, limit time.Duration) []string {
		t.Helper()
		for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if s := out.String(); len(s) > offset {
				if m := re.FindStringSubmatch(s[offset:]); m != nil {
					return m
				}
			}
		}
		t.Fatalf("no %q on the terminal within %s", re, limit)
		return nil
	}
	m := waitAfter(0, regexp.MustCompile(`lab: shell on debian-6\.1 \(([^)]+)\)`), 6*time.Minute)
	release := m[1]
	// gosh's line editor asks the terminal for its colours and cursor
	// position and reads the answers from its input: anything typed
	// before it drew its prompt is eaten. Wait for the prompt's help line.
	waitAfter(0, regexp.MustCompile(`toggle key help`), time.Minute)
	time.Sleep(time.Second)
	typeLine := func(s string) int {
		n := len(out.String())
		ptm.WriteString(s)
		return n
	}
	at := typeLine("echo hi-$((1+1))\r")
	waitAfter(at, regexp.MustCompile(`hi-2`), time.Minute)
	at = typeLine("uname -r\r")
	waitAfter(at, regexp.MustCompile(regexp.QuoteMeta(release)), time.Minute)
	at = typeLine("lsmod\r")
	waitAfter(at, regexp.MustCompile(`chardev_safe`), time.Minute)
	// Ctrl-C reaches the guest: it interrupts sleep, and the shell goes on.
	typeLine("sleep 300\r")
	time.Sleep(2 * time.Second)
	at = typeLine("\x03")
	time.Sleep(time.Second)
	at = typeLine("echo after-$((20+3))\r")
	waitAfter(at, regexp.MustCompile(`after-23`), 30*time.Second)
	typeLine("\x04") // Ctrl-D: end of input, gosh exits
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("lab shell after Ctrl-D: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("lab shell did not exit after Ctrl-D")
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "2*", "debian-6.1", "shell", "console.log"))
	if len(logs) != 1 {
		t.Fatalf("console logs %v; want one under %s/<run-id>/debian-6.1/shell/", logs, dir)
	}
	if b, _ := os.ReadFile(logs[0]); !strings.Contains(string(b), "Linux version") {
		t.Errorf("console log %s has no kernel output", logs[0])
	}
	if left := qemuUsing(t, dir); len(left) > 0 {
		t.Errorf("QEMU still running after lab shell exited: %v", left)
	}
}

// qemuUsing lists QEMU processes whose command line names path (lab
// shell's QEMU writes its console under the results directory).
func qemuUsing(t *testing.T, path string) []string {
	t.Helper()
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		c := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(c, "qemu-system") && strings.Contains(c, path) {
			left = append(left, filepath.Base(filepath.Dir(p))+": "+c)
		}
	}
	return left
}
