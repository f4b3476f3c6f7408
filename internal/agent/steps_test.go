package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kernel-lab/lab/internal/protocol"
)

// holderSession builds the real holder (holder/holder.c) and feeds it the
// agent's command lines for reqs, returning its replies: what the agent's
// half of the line protocol means to the C half.
// buildHolder compiles holder/holder.c to bin with gcc and flags. Like
// the holder itself, gcc may be reaped by the agent's reaper before
// CombinedOutput waits for it (ECHILD): the binary it left says how it
// went.
func buildHolder(t *testing.T, bin string, flags ...string) {
	t.Helper()
	out, err := exec.Command("gcc", append(flags, "-o", bin, "holder/holder.c")...).CombinedOutput()
	if errors.Is(err, syscall.ECHILD) {
		if _, serr := os.Stat(bin); serr == nil && len(out) == 0 {
			err = nil
		}
	}
	if err != nil {
		t.Fatalf("build holder: %v\n%s", err, out)
	}
}

func holderSession(t *testing.T, reqs ...protocol.Request) []protocol.Reply {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc to build the holder")
	}
	bin := filepath.Join(t.TempDir(), "holder")
	buildHolder(t, bin, "-O2", "-Wall", "-Werror")
	var in strings.Builder
	for _, r := range reqs {
		in.WriteString(commandLine(r))
	}
	cmd := exec.Command(bin, "T")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	// The agent's reaper (processReaper), once a worker test of this
	// package started it, waits for any child on SIGCHLD, and may reap
	// the holder before cmd.Wait does: ECHILD then says nothing of the
	// holder, whose replies are all on stdout.
	if err != nil && !errors.Is(err, syscall.ECHILD) {
		t.Fatalf("holder: %v", err)
	}
	var reps []protocol.Reply
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r protocol.Reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("holder reply %q: %v", sc.Text(), err)
		}
		reps = append(reps, r)
	}
	if len(reps) != len(reqs) {
		t.Fatalf("holder answered %d of %d commands:\n%s", len(reps), len(reqs), out)
	}
	return reps
}

// TestHolderWriteIoctlMmap drives write, ioctl (integer and buffer forms)
// and mmap through the real holder on a regular file, whose kernel
// behaviour is known: FIONREAD tells the bytes left to read.
func TestHolderWriteIoctlMmap(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const fionread = 0x541B
	reps := holderSession(t,
		protocol.Request{Action: protocol.ActionOpen, Path: f, Mode: "rw"},
		protocol.Request{Action: protocol.ActionWrite, Data: "hello world\n\x00 x"},
		protocol.Request{Action: protocol.ActionSeek, Offset: 6},
		protocol.Request{Action: protocol.ActionIoctl, Cmd: fionread, Buffer: true, Size: 4, In: []byte{0xff}},
		protocol.Request{Action: protocol.ActionIoctl, Cmd: fionread, Arg: 0},
		protocol.Request{Action: protocol.ActionMmap, Size: 4096, At: 6, Count: 5, Data: "W"},
		protocol.Request{Action: protocol.ActionSeek, Offset: 0},
		protocol.Request{Action: protocol.ActionRead, Count: 11},
	)
	want := []struct {
		ok    bool
		data  string
		bytes int64
		errno string
	}{
		{true, "", 0, ""},
		{true, "", 15, ""},
		{true, "", 6, ""},
		{true, "09000000", 0, ""}, // 15-6 bytes left, little-endian int
		{false, "", 0, "EFAULT"},  // FIONREAD needs a pointer
		{true, "World", 4096, ""},
		{true, "", 0, ""},
		{true, "hello World", 11, ""},
	}
	for i, w := range want {
		r := reps[i]
		if r.OK != w.ok || r.Data != w.data || r.Bytes != w.bytes || r.Errno != w.errno {
			t.Errorf("%s: reply %+v; want ok=%v data=%q bytes=%d errno=%q", reqName(i), r, w.ok, w.data, w.bytes, w.errno)
		}
	}
}

func reqName(i int) string {
	return []string{"open", "write", "seek", "ioctl buffer", "ioctl int", "mmap", "seek", "read"}[i]
}

// TestHolderOpenModes: a read-only open refuses write; a read-only mmap
// of it works without data to store.
func TestHolderOpenModes(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	reps := holderSession(t,
		protocol.Request{Action: protocol.ActionOpen, Path: f},
		protocol.Request{Action: protocol.ActionWrite, Data: "x"},
		protocol.Request{Action: protocol.ActionMmap, Size: 4096, At: 1, Count: 2},
		protocol.Request{Action: protocol.ActionMmap, Size: 4096, Data: "x"},
	)
	if reps[1].OK || reps[1].Errno != "EBADF" {
		t.Errorf("write to a read-only open: %+v; want EBADF", reps[1])
	}
	if !reps[2].OK || reps[2].Data != "bc" {
		t.Errorf("read-only mmap: %+v; want data bc", reps[2])
	}
	if reps[3].OK || reps[3].Errno != "EACCES" {
		t.Errorf("writable mmap of a read-only open: %+v; want EACCES", reps[3])
	}
}

// runCommandApart runs runCommand in a process of its own (this test binary
// again, TestRunCommandHelper), as the agent runs it in the guest: the
// process-wide reaper that other tests in this binary start waits for any
// child and would take the command's exit status (seen: ECHILD).
func runCommandApart(t *testing.T, dir string, argv ...string) protocol.Reply {
	t.Helper()
	b, _ := json.Marshal(argv)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunCommandHelper$")
	cmd.Env = append(os.Environ(), "LAB_TEST_RUNCOMMAND_DIR="+dir)
	cmd.Stdin = strings.NewReader(string(b) + "\n")
	out, err := cmd.Output()
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "REPLY "); ok {
			var r protocol.Reply
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("runCommand helper: %v\n%s", err, out)
	return protocol.Reply{}
}

// TestRunCommandHelper is runCommandApart's other half.
func TestRunCommandHelper(t *testing.T) {
	dir := os.Getenv("LAB_TEST_RUNCOMMAND_DIR")
	if dir == "" {
		t.Skip("a helper process of TestRunCommand")
	}
	b, _ := json.Marshal(runCommand(os.Stdin, dir))
	fmt.Printf("REPLY %s\n", b)
}

// TestRunCommand runs exec's child half against a directory standing for
// u-root's /bbin: stdout and the exit status come back, and nothing outside
// the directory runs.
func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"echo", "sh"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(p, filepath.Join(dir, c)); err != nil {
			t.Fatal(err)
		}
	}
	run := func(argv ...string) protocol.Reply { return runCommandApart(t, dir, argv...) }
	r := run("echo", "hi", "there")
	if !r.OK || r.Data != "hi there\n" || r.Exit == nil || *r.Exit != 0 {
		t.Errorf("echo: %+v; want ok, stdout \"hi there\\n\", exit 0", r)
	}
	r = run("sh", "-c", "echo out; echo err >&2; exit 3")
	if r.OK || r.Data != "out\n" || r.Exit == nil || *r.Exit != 3 || !strings.Contains(r.Error, "err") {
		t.Errorf("exit 3: %+v; want not ok, stdout out, exit 3, stderr in error", r)
	}
	r = run("cat", "/etc/passwd")
	if r.OK || r.Exit != nil || !strings.Contains(r.Error, "cat") {
		t.Errorf("a command outside the directory: %+v; want an error naming it", r)
	}
	r = run("../sh")
	if r.OK || !strings.Contains(r.Error, "u-root's commands by name") {
		t.Errorf("a path as command: %+v; want refused", r)
	}
}
