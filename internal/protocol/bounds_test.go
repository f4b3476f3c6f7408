package protocol

import (
	"strings"
	"testing"
)

// TestNameBounds: each end of each allowed range is allowed, the byte
// next to it is not, and 56 bytes is the longest name.
func TestNameBounds(t *testing.T) {
	for _, ok := range []string{"a", "z", "A", "Z", "0", "9", "_", "-", strings.Repeat("x", 56)} {
		if !ValidName(ok) {
			t.Errorf("ValidName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"`", "{", "@", "[", "/", ":", " ", ".", strings.Repeat("x", 57), ""} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
}

func TestCheckCommand(t *testing.T) {
	if err := CheckCommand([]string{"insmod", "/lab/modules/timer_safe.ko"}); err != nil {
		t.Errorf("insmod: %v", err)
	}
	for _, bad := range [][]string{nil, {"/bin/sh"}, {"ls", strings.Repeat("a", MaxLine)}} {
		if err := CheckCommand(bad); err == nil {
			t.Errorf("CheckCommand(%q) accepted", bad)
		}
	}
	// The line's length counts every argument and a separator each.
	if err := CheckCommand([]string{"ls", strings.Repeat("a", MaxLine-4)}); err != nil {
		t.Errorf("a command line of exactly %d bytes: %v", MaxLine, err)
	}
	if err := CheckCommand([]string{"ls", strings.Repeat("a", MaxLine-3)}); err == nil {
		t.Errorf("a command line of %d bytes accepted", MaxLine+1)
	}
}

func TestStateLetterAndFatal(t *testing.T) {
	for state, want := range map[string]string{"D (disk sleep)": "D", "X (dead)": "X", "gone": "gone", "": ""} {
		if got := (&ProcessState{State: state}).StateLetter(); got != want {
			t.Errorf("StateLetter(%q) = %q; want %q", state, got, want)
		}
	}
	if (*ProcessState)(nil).StateLetter() != "" {
		t.Error("a nil state has a letter")
	}
	if msg, ok := ParseFatal(FatalLine(errString("no keys"))); !ok || msg != "no keys" {
		t.Errorf("ParseFatal(FatalLine) = %q, %v", msg, ok)
	}
	if msg, ok := ParseFatal("[ 1.0] " + FatalLine(errString("at the start"))); !ok || msg != "at the start" {
		t.Errorf("ParseFatal with a timestamp = %q, %v", msg, ok)
	}
	if _, ok := ParseFatal("lab-agent: ready"); ok {
		t.Error("a ready line parsed as fatal")
	}
}

type errString string

func (e errString) Error() string { return string(e) }
