package agent

import (
	"os"
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

// TestStatState: the state letter of /proc/PID/stat, for a command name
// with spaces and parentheses in it too (a holder's comm is its name).
func TestStatState(t *testing.T) {
	for stat, want := range map[string]byte{
		"92 (holder-A) X 85 92 85 0 -1 4194560 43 0 0 0":       'X',
		"6432 (cat) R 6342 6342 1107 0 -1 4194304 128 0 0 0 0": 'R',
		"7 (a) b) c) D 1 7 7 0 -1":                             'D',
		"7 (x":                                                 0,
		"":                                                     0,
		"7 (x)":                                                0,
	} {
		if got := statState(stat); got != want {
			t.Errorf("statState(%q) = %q; want %q", stat, got, want)
		}
	}
	if deadTask(os.Getpid()) {
		t.Error("deadTask says this running test is dead")
	}
}
