package evidence

import (
	"regexp"
	"strconv"
	"strings"
)

// kline is one console line split into the kernel's message and what
// prefixed it.
type kline struct {
	msg  string  // the message with prefixes and trailing blanks removed; leading blanks kept (they indent frames)
	time float64 // kernel timestamp in seconds, 0 when the line had none
	// marked tells that the line carried a kernel prefix: a timestamp, a
	// log level, a /dev/kmsg record header or a syslog "kernel:" header.
	// Once a log has shown marked lines, unmarked ones are output of other
	// programs sharing the console.
	marked bool
	// caller is CONFIG_PRINTK_CALLER's id ("T88", "C1") or "": reports of
	// different tasks and CPUs interleave line by line, and the id tells
	// them apart.
	caller string
}

// reSyslog matches the header journalctl and syslog put before kernel
// messages: "Nov 18 08:10:27 host kernel: " or
// "2025-12-03T15:57:25.438905+00:00 host kernel: ".
var reSyslog = regexp.MustCompile(`^(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*) \S+ kernel: `)

// reDateStamp matches dmesg -T's "[Sat Nov 23 08:55:01 2024]".
var reDateStamp = regexp.MustCompile(`^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}\]`)

// reTalos matches the prefix talosctl dmesg puts before each kernel
// line: "10.0.10.113: kern: warning: [2025-08-14T09:05:56.633254391Z]: ".
var reTalos = regexp.MustCompile(`^\S+: kern: +\w+: \[\d{4}-\d\d-\d\dT[^\]]*\]: `)

func splitPrefix(s string) kline {
	s = trimRight(s)
	if s != "" && s[0] == '>' {
		// A mail quotes the log: "> Apr 28 10:17:39 host kernel: BUG: ...".
		// The marker goes; the line counts as the kernel's only when a
		// kernel prefix follows it.
		if q := unquote(s); q != s {
			if l := splitPrefix(q); l.marked {
				return l
			}
			s = q
		}
	}
	var l kline
	// reSyslog starts with a month or a year: most lines skip the search.
	if s != "" && ('A' <= s[0] && s[0] <= 'Z' || isDigit(s[0])) && strings.Contains(s, " kernel: ") {
		if loc := reSyslog.FindStringIndex(s); loc != nil {
			s = s[loc[1]:]
			l.marked = true
		}
	}
	switch {
	case strings.HasPrefix(s, "kernel: "):
		// The journal's short format with the date and host cut away.
		s = s[len("kernel: "):]
		l.marked = true
	case hostKern(s):
		if loc := reTalos.FindStringIndex(s); loc != nil {
			s = s[loc[1]:]
			l.marked = true
		}
	}
	if msg, t, ok := kmsgRecord(s); ok {
		return kline{msg: msg, time: t, marked: true}
	}
	if n := levelPrefix(s); n > 0 {
		s = s[n:]
		l.marked = true
	}
	if t, n, ok := timestamp(s); ok {
		l.caller = callerOf(s[:n])
		s = s[n:]
		l.time = t
		l.marked = true
	} else if !l.marked {
		// Userspace output written without a newline ends up in front of
		// the kernel's next line: "holder: reading[   12.3] BUG: ...".
		for i := 1; i < len(s); i++ {
			j := strings.IndexByte(s[i:], '[')
			if j < 0 {
				break
			}
			i += j
			if t, n, ok := timestamp(s[i:]); ok {
				l.caller = callerOf(s[i : i+n])
				s = s[i+n:]
				l.time = t
				l.marked = true
				break
			}
		}
	}
	l.msg = s
	return l
}

// levelPrefix returns the length of a "<N>" log level prefix at the start
// of s, or 0.
func levelPrefix(s string) int {
	if len(s) < 3 || s[0] != '<' {
		return 0
	}
	i := 1
	for i < len(s) && i < 4 && isDigit(s[i]) {
		i++
	}
	if i == 1 || i >= len(s) || s[i] != '>' {
		return 0
	}
	return i + 1
}

// timestamp parses the kernel's "[   12.345678]" (followed by an optional
// caller id "[    T88]" of CONFIG_PRINTK_CALLER) or dmesg -T's date at the
// start of s. It returns the time in seconds (0 for a date) and how many
// bytes the prefix and the one space after it take.
func timestamp(s string) (float64, int, bool) {
	if len(s) < 4 || s[0] != '[' {
		return 0, 0, false
	}
	var t float64
	n := 0
	if loc := dateStampIndex(s); loc > 0 {
		n = loc
	} else {
		i := 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start || i >= len(s) || s[i] != '.' {
			return 0, 0, false
		}
		i++
		frac := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == frac || i >= len(s) || s[i] != ']' {
			return 0, 0, false
		}
		v, ok := parseSeconds(s[start:i], frac-start-1)
		if !ok {
			return 0, 0, false
		}
		t = v
		n = i + 1
	}
	n += callerID(s[n:])
	if n < len(s) && s[n] == ' ' {
		n++
	}
	if k := androidCaller(s[n:]); k > 0 {
		n += k
	}
	return t, n, true
}

// androidCaller returns the length of the "[5:    kworker/5:1:  130] "
// (CPU, comm, PID) that some Android kernels print after the timestamp,
// or 0.
func androidCaller(s string) int {
	if len(s) < 7 || s[0] != '[' || !isDigit(s[1]) {
		return 0
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0
	}
	in := s[1:end]
	first, last := strings.IndexByte(in, ':'), strings.LastIndexByte(in, ':')
	if first <= 0 || last <= first || !allDigits(in[:first]) || !allDigits(strings.TrimLeft(in[last+1:], " ")) {
		return 0
	}
	if end+1 < len(s) && s[end+1] == ' ' {
		end++
	}
	return end + 1
}

// hostKern tells whether s may start with talosctl's "host: kern: ":
// ": kern: " at its first colon (one byte search for most lines).
func hostKern(s string) bool {
	if s == "" || s[0] == '[' || s[0] == '<' || s[0] == ' ' {
		return false // a timestamp, a level or a frame: the kernel's own line
	}
	i := strings.IndexByte(s, ':')
	return i > 0 && strings.HasPrefix(s[i:], ": kern: ")
}

// unquote drops the markers a mail puts before quoted lines: "> ", ">> ",
// "> > ".
func unquote(s string) string {
	i := 0
	for i < len(s) && s[i] == '>' {
		if i+1 < len(s) && s[i+1] != ' ' && s[i+1] != '>' {
			break // ">ffff8881c84f8b00: fb fb": not a quote marker
		}
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	return s[i:]
}

func dateStampIndex(s string) int {
	if len(s) < 2 || s[1] < 'A' || s[1] > 'Z' {
		return 0
	}
	if loc := reDateStamp.FindStringIndex(s); loc != nil {
		return loc[1]
	}
	return 0
}

// callerID returns the length of a "[    T88]" or "[  C0]" caller id at
// the start of s, or 0.
func callerID(s string) int {
	if len(s) < 4 || s[0] != '[' {
		return 0
	}
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) || (s[i] != 'T' && s[i] != 'C') {
		return 0
	}
	i++
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start || i >= len(s) || s[i] != ']' {
		return 0
	}
	return i + 1
}

// callerOf returns the caller id inside a timestamp prefix
// "[   12.345678][   T88] ", or "".
func callerOf(prefix string) string {
	i := strings.Index(prefix, "][")
	if i < 0 {
		return ""
	}
	id := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(prefix[i+2:]), "]"))
	return id
}

// kmsgRecord parses a /dev/kmsg record, "6,339,5140900,-;text" (fields
// after the flags, like ",caller=T1", are allowed), returning the text and
// the time in seconds.
func kmsgRecord(s string) (string, float64, bool) {
	semi := strings.IndexByte(s, ';')
	if semi < 7 || !isDigit(s[0]) {
		return "", 0, false
	}
	fields := strings.SplitN(s[:semi], ",", 5)
	if len(fields) < 4 {
		return "", 0, false
	}
	for _, f := range fields[:3] {
		if !allDigits(f) {
			return "", 0, false
		}
	}
	if len(fields[3]) != 1 {
		return "", 0, false
	}
	us, err := strconv.ParseUint(fields[2], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return s[semi+1:], float64(us) / 1e6, true
}

// trimRight drops the blanks, line ends and NULs at the end of a line
// (strings.TrimRight builds its set of bytes anew on every call).
func trimRight(s string) string {
	i := len(s)
	for i > 0 {
		switch s[i-1] {
		case ' ', '\t', '\r', '\n', 0:
			i--
			continue
		}
		break
	}
	return s[:i]
}

// pow10 holds the powers of ten that a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseSeconds parses "12.345678", whose integer part has intDigits
// digits. Up to 15 digits the value is their integer divided by a power
// of ten, both exact, so the one rounding gives what strconv.ParseFloat
// gives (its own exact fast path); longer ones go to ParseFloat.
func parseSeconds(s string, intDigits int) (float64, bool) {
	if len(s)-1 > 15 {
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	var m uint64
	for i := 0; i < len(s); i++ {
		if i != intDigits {
			m = m*10 + uint64(s[i]-'0')
		}
	}
	return float64(m) / pow10[len(s)-1-intDigits], true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// LineTime splits a console line into the kernel's timestamp (seconds since
// the kernel started) and its message. ok is false for a line without a
// timestamp, and for the early lines stamped 0.000000, before the kernel's
// clock runs.
func LineTime(line string) (msg string, seconds float64, ok bool) {
	l := splitPrefix(line)
	return l.msg, l.time, l.time > 0
}
