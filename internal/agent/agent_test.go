package agent

import (
	"lab/internal/protocol"
	"testing"
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
	} {
		if got := commandLine(tc.req); got != tc.want {
			t.Errorf("commandLine(%+v) = %q; want %q", tc.req, got, tc.want)
		}
	}
}
