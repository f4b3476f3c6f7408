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
	dir := t.TempDir()
	sh := startOnPTY(t, labBinary(t), "--root", "..", "--results", dir, "shell", "--kernel", "debian-6.1", "--load", "chardev_safe")
	waitAfter, typeLine, exited := sh.waitAfter, sh.typeLine, sh.exited
	m := waitAfter(0, regexp.MustCompile(`lab: shell on debian-6\.1 \(([^)]+)\)`), 6*time.Minute)
	release := m[1]
	// gosh's line editor asks the terminal for its colours and cursor
	// position and reads the answers from its input: anything typed
	// before it drew its prompt is eaten. Wait for the prompt's help line.
	waitAfter(0, regexp.MustCompile(`toggle key help`), time.Minute)
	time.Sleep(time.Second)
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

// TestShellGDB is --gdb on lab shell: with two --load modules and
// --gdb-step 2, the VM pauses after the first loaded and lab prints the gdb
// command on the terminal; a scripted gdb runs it, finds the module's
// function in its recorded .text and detaches (QEMU's stub continues),
// and the shell then comes up with both modules loaded.
func TestShellGDB(t *testing.T) {
	needVM(t)
	needGDB(t)
	dir := t.TempDir()
	sh := startOnPTY(t, labBinary(t), "--root", "..", "--results", dir, "shell", "--kernel", "debian-6.1",
		"--load", "chardev_safe", "--load", "proc_safe", "--gdb-step", "2")
	m := sh.waitAfter(0, gdbCommandLine, 6*time.Minute)
	sh.waitAfter(0, regexp.MustCompile(`paused before step 2`), time.Second)
	attachGDB(t, strings.TrimRight(m[1], "\r"))
	sh.waitAfter(0, regexp.MustCompile(`toggle key help`), 2*time.Minute)
	time.Sleep(time.Second)
	at := sh.typeLine("lsmod\r")
	sh.waitAfter(at, regexp.MustCompile(`(?s)chardev_safe.*proc_safe|proc_safe.*chardev_safe`), time.Minute)
	// The line editor redraws its prompt and asks the terminal again
	// before it reads: a Ctrl-D typed at once is eaten.
	sh.waitAfter(at, regexp.MustCompile(`(?s)virtio_ring.*toggle key help`), time.Minute)
	time.Sleep(time.Second)
	sh.typeLine("\x04")
	select {
	case err := <-sh.exited:
		if err != nil {
			t.Errorf("lab shell --gdb-step 2 after Ctrl-D: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("lab shell did not exit after Ctrl-D")
	}
	if left := qemuUsing(t, dir); len(left) > 0 {
		t.Errorf("QEMU still running after lab shell exited: %v", left)
	}
}

// ptySession is lab running on a pseudo-terminal, as a person runs it.
type ptySession struct {
	t      *testing.T
	ptm    *os.File
	out    lineWriter
	exited chan error
}

// startOnPTY starts bin with args on a new 100×30 pseudo-terminal; the
// process is killed, and what the terminal showed logged, when the test
// ends.
func startOnPTY(t *testing.T, bin string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, ptm: ptm, exited: make(chan error, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			s.out.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.exited
		}
		ptm.Close()
		t.Logf("terminal:\n%s", s.out.String())
	})
	return s
}

// waitAfter waits for re in what the terminal showed after offset.
func (s *ptySession) waitAfter(offset int, re *regexp.Regexp, limit time.Duration) []string {
	s.t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if o := s.out.String(); len(o) > offset {
			if m := re.FindStringSubmatch(o[offset:]); m != nil {
				return m
			}
		}
	}
	s.t.Fatalf("no %q on the terminal within %s", re, limit)
	return nil
}

// typeLine types str and returns how much the terminal had shown before.
func (s *ptySession) typeLine(str string) int {
	n := len(s.out.String())
	s.ptm.WriteString(str)
	return n
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
