package evidence

import "strings"

// taintBits lists the taint flags in bit order with the letter the kernel
// prints when the flag is set and what it means, after the kernel's
// Documentation/admin-guide/tainted-kernels.rst. Bit 0 prints 'G' when
// clear, the only flag whose clear state shows a letter.
var taintBits = []struct {
	letter  byte
	meaning string
}{
	{'P', "proprietary module loaded"},
	{'F', "module force loaded"},
	{'S', "kernel running on an out-of-specification system"},
	{'R', "module force unloaded"},
	{'M', "machine check exception reported"},
	{'B', "bad page referenced or unexpected page flags"},
	{'U', "taint requested by userspace"},
	{'D', "kernel died recently (oops or BUG)"},
	{'A', "ACPI table overridden by user"},
	{'W', "warning issued"},
	{'C', "staging driver loaded"},
	{'I', "workaround for platform firmware bug applied"},
	{'O', "out-of-tree module loaded"},
	{'E', "unsigned module loaded"},
	{'L', "soft lockup occurred"},
	{'K', "kernel live patched"},
	{'X', "auxiliary taint, defined by distributions"},
	{'T', "kernel built with the struct randomization plugin"},
	{'N', "in-kernel test run"},
	{'J', "userspace used a mutating debug operation in fwctl"},
}

const gplMeaning = "only GPL-compatible modules loaded"

// DecodeTaint explains each letter of a taint string as the kernel prints
// it ("G           OE" or the collapsed "G OE"), in order: "G: only
// GPL-compatible modules loaded", "O: out-of-tree module loaded", ...
// Letters the kernel does not define come out as "Q: unknown taint flag".
func DecodeTaint(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			continue
		}
		out = append(out, string(c)+": "+taintMeaning(c))
	}
	return out
}

func taintMeaning(c byte) string {
	if c == 'G' {
		return gplMeaning
	}
	for _, b := range taintBits {
		if b.letter == c {
			return b.meaning
		}
	}
	return "unknown taint flag"
}

// TaintString renders a taint mask, the number in
// /proc/sys/kernel/tainted, the way reports show it once runs of blanks
// are collapsed: 12288 gives "G OE", 0 gives "".
func TaintString(mask uint64) string {
	if mask == 0 {
		return ""
	}
	var b strings.Builder
	if mask&1 != 0 {
		b.WriteByte('P')
	} else {
		b.WriteByte('G')
	}
	word := true // position 0 always prints a letter, so bit 1 joins it
	for i := 1; i < len(taintBits); i++ {
		if mask&(1<<i) == 0 {
			word = false
			continue
		}
		if !word {
			b.WriteByte(' ')
			word = true
		}
		b.WriteByte(taintBits[i].letter)
	}
	return b.String()
}

// collapseTaint turns the fixed-width taint field ("G           OE     ")
// into its letters with single blanks between groups ("G OE").
func collapseTaint(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
