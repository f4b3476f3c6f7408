package evidence

import "strings"

// Hand-written scans for the lines every report is made of. They replace
// regexps on the hot path (TestFastPathsMatchRegexps holds them to the
// regexps' answers).

// registerNames are the registers a dump names; RIP is taken apart.
var registerNames = []string{"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP",
	"R08", "R09", "R10", "R11", "R12", "R13", "R14", "R15", "EFLAGS"}

// register reads "NAME: value" or "NAME:value" at the start of s, with
// value optionally after a "0018:" selector, and returns the name, the
// hex value and the length read; n is 0 when s does not start so. A
// hand-written scan: a regexp over every dump line was a tenth of a
// parse.
func register(s string) (name, val string, n int) {
	for _, nm := range registerNames {
		if strings.HasPrefix(s, nm) && len(s) > len(nm) && s[len(nm)] == ':' {
			name = nm
			break
		}
	}
	if name == "" {
		return "", "", 0
	}
	i := len(name) + 1
	if i < len(s) && s[i] == ' ' {
		i++
	}
	if j := i + 4; j+1 < len(s) && s[j] == ':' && isHex(s[i:j]) && isHex(s[j+1:j+2]) {
		i = j + 1 // the selector
	}
	j := i
	for j < len(s) && (isDigit(s[j]) || 'a' <= s[j] && s[j] <= 'f') {
		j++
	}
	if j == i {
		return "", "", 0
	}
	return name, s[i:j], j
}

func isWordByte(c byte) bool {
	return c == '_' || isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isFrame tells whether s is a frame reFrame matches. Nearly every frame
// is the plain "f+0x1f/0x90" or "f+0x1f/0x90 [mod]", which a scan tells
// without the regexp; anything else goes to it.
func isFrame(s string) bool {
	i := 0
	for i < len(s) && (isWordByte(s[i]) || s[i] == '.' || s[i] == '$' || s[i] == '@') {
		i++
	}
	if i > 0 && strings.HasPrefix(s[i:], "+0x") {
		j := hexRun(s, i+3)
		if j > i+3 && strings.HasPrefix(s[j:], "/0x") {
			k := hexRun(s, j+3)
			if k > j+3 {
				rest := s[k:]
				if rest == "" {
					return true
				}
				if len(rest) > 3 && rest[:2] == " [" && rest[len(rest)-1] == ']' &&
					!strings.ContainsAny(rest[2:len(rest)-1], "]") {
					return true
				}
			}
		}
	}
	// Every other form has "+0x", ends in " [inline]" or ")" (decoded),
	// or is a bare address.
	if !strings.Contains(s, "+0x") && !strings.HasSuffix(s, " [inline]") && !strings.HasPrefix(s, "0x") &&
		(i == 0 || !strings.HasPrefix(s[i:], " (") || !strings.HasSuffix(s, ")")) {
		return false
	}
	return reFrame.MatchString(s)
}

// isIdent tells whether s is a bare function name, as a symbolizer that
// drops offsets prints a frame ("bio_free"): a C identifier (with the
// compiler's ".constprop.0" suffixes) that is not a run of hex digits.
func isIdent(s string) bool {
	if s == "" || isDigit(s[0]) || s[0] == '.' {
		return false
	}
	hex := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isWordByte(c) && c != '.' {
			return false
		}
		hex = hex && (isDigit(c) || 'a' <= c && c <= 'f')
	}
	return !hex
}

// hexRun returns the end of the lowercase hex digits from s[i].
func hexRun(s string, i int) int {
	for i < len(s) && (isDigit(s[i]) || 'a' <= s[i] && s[i] <= 'f') {
		i++
	}
	return i
}
