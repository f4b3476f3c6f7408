package protocol

import (
	"errors"
	"regexp"
	"strings"
	"testing"
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
		if err := CheckPath(tc.path); (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v; want ok=%v", tc.path, err, tc.ok)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{"chardev_unsafe": true, "A": true, "x-y": true, "": false, "../x": false, "a b": false, "a;rm": false,
		strings.Repeat("m", 56): true, strings.Repeat("m", 57): false, "é": false, "a\n": false} {
		if ValidName(name) != ok {
			t.Errorf("ValidName(%q) = %v; want %v", name, !ok, ok)
		}
	}
}

// FuzzValidName: the hand-written check accepts exactly what the rule in
// its comment, as a regular expression, accepts.
func FuzzValidName(f *testing.F) {
	rule := regexp.MustCompile(`^[A-Za-z0-9_-]{1,56}$`)
	for _, s := range []string{"chardev_unsafe", "", "a b", "x-y", strings.Repeat("m", 57), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidName(s), rule.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v; the rule says %v", s, got, want)
		}
	})
}

// TestMarkers: what the agent writes is what the host parses.
func TestMarkers(t *testing.T) {
	if !IsReady("[    1.234567] " + ReadyLine()) {
		t.Errorf("IsReady(ReadyLine()) = false")
	}
	if msg, ok := ParseFatal("[    1.2] " + FatalLine(errors.New("no eth0"))); !ok || msg != "no eth0" {
		t.Errorf("ParseFatal(FatalLine) = %q, %v; want no eth0", msg, ok)
	}
	if n, ok := ParseStep("[   12.5] " + StepLine(Request{Step: 7, Action: ActionRead, Holder: "A"})); !ok || n != 7 {
		t.Errorf("ParseStep(StepLine(7)) = %d, %v; want 7", n, ok)
	}
	if _, ok := ParseStep("[   12.5] lab-agent: ready"); ok {
		t.Errorf("ParseStep(ready line) = ok")
	}
	at, mod, ok := ParseUnloaded("[   30.250000] " + UnloadedLine("chardev_unsafe") + "\r")
	if !ok || at != 30.25 || mod != "chardev_unsafe" {
		t.Errorf("ParseUnloaded(UnloadedLine) = %v, %q, %v; want 30.25 chardev_unsafe", at, mod, ok)
	}
}

func TestSysctlPath(t *testing.T) {
	for key, ok := range map[string]bool{"kernel/hung_task_timeout_secs": true, "/etc/x": false, "../../etc/shadow": false, "kernel/../../x": false, "": false} {
		if _, err := SysctlPath(key); (err == nil) != ok {
			t.Errorf("SysctlPath(%q) = %v; want ok=%v", key, err, ok)
		}
	}
}
