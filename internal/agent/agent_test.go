package agent

import (
	"testing"

	"lab/internal/guest"
)

func TestAllowedPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/dev/chardev_unsafe", true},
		{"/proc/proc_safe", true},
		{"/sys/kernel/notes", true},
		{"/dev/../etc/shadow", false},
		{"/etc/shadow", false},
		{"dev/x", false},
		{"", false},
		{"/devices", false},
	} {
		if err := allowedPath(tc.path); (err == nil) != tc.ok {
			t.Errorf("allowedPath(%q) = %v; want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{"chardev_unsafe": true, "A": true, "x-y": true, "": false, "../x": false, "a b": false, "a;rm": false} {
		if validName(name) != ok {
			t.Errorf("validName(%q) = %v; want %v", name, !ok, ok)
		}
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		req  guest.Request
		want string
	}{
		{guest.Request{Action: guest.ActionOpen, Path: "/dev/x"}, "open /dev/x\n"},
		{guest.Request{Action: guest.ActionRead}, "read 4096\n"},
		{guest.Request{Action: guest.ActionRead, Count: 10}, "read 10\n"},
		{guest.Request{Action: guest.ActionSeek, Offset: 0}, "seek 0\n"},
		{guest.Request{Action: guest.ActionClose}, "close\n"},
	} {
		if got := commandLine(tc.req); got != tc.want {
			t.Errorf("commandLine(%+v) = %q; want %q", tc.req, got, tc.want)
		}
	}
}
