package evidence

import (
	"strconv"
	"testing"
)

// TestSplitPrefixQuirks: console quirks around the kernel's prefixes, one
// line each.
func TestSplitPrefixQuirks(t *testing.T) {
	for _, tc := range []struct {
		line   string
		msg    string
		time   float64
		marked bool
		caller string
	}{
		// A progress dot that userspace printed without a newline sits
		// right before the kernel's next record.
		{".[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000008",
			"BUG: kernel NULL pointer dereference, address: 0000000000000008", 12.345678, true, ""},
		{"x[[   12.5] lab-agent: ready", "lab-agent: ready", 12.5, true, ""},
		// The first /dev/kmsg record of a boot: four fields, no caller.
		{"5,0,0,-;Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)",
			"Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)", 0, true, ""},
		{"6,339,5140900,-;chardev_unsafe: loading out-of-tree module taints kernel.",
			"chardev_unsafe: loading out-of-tree module taints kernel.", 5.1409, true, ""},
		// Userspace output that looks like a record but is not one.
		{"3,ok,12,-;done", "3,ok,12,-;done", 0, false, ""},
		{"3,12,-;done", "3,12,-;done", 0, false, ""},
		// Mail quoting: ">> " and "> >" nest quotes; "> >" alone is a
		// quoted blank line.
		{">> [   12.5] BUG: unable to handle page fault", "BUG: unable to handle page fault", 12.5, true, ""},
		{"> > [   12.5] BUG: unable to handle page fault", "BUG: unable to handle page fault", 12.5, true, ""},
		{"> >", "", 0, false, ""},
		{">", "", 0, false, ""},
		// A KASAN shadow row: ">" marks the bad row, it is no quote.
		{">ffff8881c84f8b00: fb fb fb fb", ">ffff8881c84f8b00: fb fb fb fb", 0, false, ""},
		// Android's CPU, comm and PID after the timestamp.
		{"[   12.5] [5:    kworker/5:1:  130] binder: 130:130 transaction failed",
			"binder: 130:130 transaction failed", 12.5, true, ""},
		{"[   12.5][T1] Run /init as init process", "Run /init as init process", 12.5, true, "T1"},
		// A level alone (an empty message the kernel printed).
		{"<4>", "", 0, true, ""},
	} {
		l := splitPrefix(tc.line)
		if l.msg != tc.msg || l.time != tc.time || l.marked != tc.marked || l.caller != tc.caller {
			t.Errorf("splitPrefix(%q) = %+v; want msg %q time %v marked %v caller %q",
				tc.line, l, tc.msg, tc.time, tc.marked, tc.caller)
		}
	}
}

// TestPrefixParsersCutLines: lines cut short anywhere in a prefix (a
// partial line at the end of a capture, a mailer's wrap) are no prefix,
// and the parsers do not read past their end.
func TestPrefixParsersCutLines(t *testing.T) {
	for _, s := range []string{"<12", "<1", "<", "<1234>x", "<>x"} {
		if n := levelPrefix(s); n != 0 {
			t.Errorf("levelPrefix(%q) = %d; want 0", s, n)
		}
	}
	for s, want := range map[string]int{"<4>": 3, "<4>BUG: x": 3, "<191>x": 5} {
		if n := levelPrefix(s); n != want {
			t.Errorf("levelPrefix(%q) = %d; want %d", s, n, want)
		}
	}
	for _, s := range []string{"[   ", "[      12", "[   12.", "[   12.5", "[.5] x", "[12.]"} {
		if _, _, ok := timestamp(s); ok {
			t.Errorf("timestamp(%q) ok; want not a timestamp", s)
		}
	}
	for s, want := range map[string]int{"[T1]": 4, "[    T88] x": 9, "[  C0]": 6, "[    ": 0, "[  T12": 0, "[  T": 0, "[  X1]": 0} {
		if n := callerID(s); n != want {
			t.Errorf("callerID(%q) = %d; want %d", s, n, want)
		}
	}
	for s, want := range map[string]int{
		"[5:    kworker/5:1:  130] binder": len("[5:    kworker/5:1:  130] "),
		"[5:    kworker/5:1:  130]":        len("[5:    kworker/5:1:  130]"),
		"[1:a:1]":                          7,
		"[5:  130] x":                      0, // one colon: no comm
		"[:a:1] x":                         0,
		"[5:sh:x] x":                       0,
		"[5:sh:1":                          0,
	} {
		if n := androidCaller(s); n != want {
			t.Errorf("androidCaller(%q) = %d; want %d", s, n, want)
		}
	}
	for s, want := range map[string]string{"> ": "", ">": "", "> >": "", ">> x": "x", "> > x": "x", ">x": ">x"} {
		if got := unquote(s); got != want {
			t.Errorf("unquote(%q) = %q; want %q", s, got, want)
		}
	}
}

// TestPrefiltersMatchRegexps: the byte checks before reSyslog and
// reDateStamp let through every line the regexps match, whatever letter
// starts it.
func TestPrefiltersMatchRegexps(t *testing.T) {
	for c := byte('A'); c <= 'Z'; c++ {
		sys := string(c) + "ov 18 08:10:27 host kernel: BUG: x"
		if l := splitPrefix(sys); !l.marked || l.msg != "BUG: x" {
			t.Errorf("splitPrefix(%q) = %+v; want the syslog header taken", sys, l)
		}
		date := "[" + string(c) + "at Nov 23 08:55:01 2024] BUG: x"
		if got, want := dateStampIndex(date), len("[Sat Nov 23 08:55:01 2024]"); got != want {
			t.Errorf("dateStampIndex(%q) = %d; want %d", date, got, want)
		}
	}
}

// TestParseSecondsLong: timestamps of more digits than the fast path
// holds exactly go to strconv.
func TestParseSecondsLong(t *testing.T) {
	for _, s := range []string{"12345678901234567890.123456", "1.2345678901234567890123", "123456789012.3456"} {
		i := 0
		for s[i] != '.' {
			i++
		}
		want, _ := strconv.ParseFloat(s, 64)
		if got, ok := parseSeconds(s, i); !ok || got != want {
			t.Errorf("parseSeconds(%q) = %v; want %v", s, got, want)
		}
	}
}
