package agent

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/protocol"
)

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		req  protocol.Request
		want string
	}{
		{protocol.Request{Action: protocol.ActionOpen, Path: "/dev/x"}, "open /dev/x\n"},
		{protocol.Request{Action: protocol.ActionRead}, "read 4096\n"},
		{protocol.Request{Action: protocol.ActionRead, Count: 10}, "read 10\n"},
		{protocol.Request{Action: protocol.ActionSeek, Offset: 0}, "seek 0\n"},
		{protocol.Request{Action: protocol.ActionClose}, "close\n"},
		{protocol.Request{Action: protocol.ActionOpen, Path: "/dev/x", Mode: "rw"}, "open-rw /dev/x\n"},
		{protocol.Request{Action: protocol.ActionWrite, Data: "a b\n"}, "write 6120620a\n"},
		{protocol.Request{Action: protocol.ActionIoctl, Cmd: 0x6301, Arg: 7}, "ioctl 25345 7\n"},
		{protocol.Request{Action: protocol.ActionIoctl, Cmd: 0x80046302, Buffer: true, Size: 4}, "ioctl-buf 2147771138 4 \n"},
		{protocol.Request{Action: protocol.ActionMmap, Size: 4096, At: 2}, "mmap 4096 0 2 1 \n"},
		{protocol.Request{Action: protocol.ActionExec, Command: []string{"ls", "/dev"}}, "[\"ls\",\"/dev\"]\n"},
	} {
		if got := commandLine(tc.req); got != tc.want {
			t.Errorf("commandLine(%+v) = %q; want %q", tc.req, got, tc.want)
		}
	}
}

// TestProcStatus: the name and state of this test's own process, as
// processState and deadTask read them, and no state for a pid that is gone.
func TestProcStatus(t *testing.T) {
	comm, state, ok := procStatus(os.Getpid())
	if !ok || comm == "" || !strings.HasPrefix(state, "R") {
		t.Errorf("procStatus(self) = %q, %q, %v; want this process, running", comm, state, ok)
	}
	if deadTask(os.Getpid()) {
		t.Error("deadTask says this running test is dead")
	}
	if _, _, ok := procStatus(-1); ok {
		t.Error("procStatus(-1) found a process")
	}
}

// The guest's C programs write the protocol's lines and use its paths: the
// unloader's "unloaded" line orders an unload against the kernel's reports,
// /init's fatal line tells the host the agent is gone, and /init starts
// the agent where the initramfs puts it.
func TestCProgramsAgreeWithProtocol(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"holder/holder.c", fmt.Sprintf("#define UNLOADED_LINE %q", protocol.UnloadedLine(""))},
		{"init/init.c", fmt.Sprintf("#define FATAL_LINE %q", protocol.FatalLine(errors.New("")))},
		{"init/init.c", fmt.Sprintf("#define AGENT %q", protocol.AgentBinary)},
	} {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), c.want) {
			t.Errorf("%s has no %s", c.file, c.want)
		}
	}
}
