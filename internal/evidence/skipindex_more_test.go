package evidence

import (
	"regexp"
	"strings"
	"testing"
)

// An index built from any rules answers as the alternation of those
// rules does: rules that are a single name pattern and not an
// alternation, rules that fold case, rules whose first letter is not
// ASCII.
func TestSkipIndexOwnRules(t *testing.T) {
	rules := []skipRule{
		{re: `_*kasan_\w+`},
		{re: `dump_stack|show_stack`},
		{re: `(?i)oops_\w+`},
		{re: `émoi_\w*`},
		{re: "\u0080x"},
	}
	var parts []string
	for _, r := range rules {
		parts = append(parts, r.re)
	}
	ref := regexp.MustCompile(`^(?:` + strings.Join(parts, "|") + `)$`)
	idx := newSkipIndex(rules)
	for _, fn := range []string{
		"kasan_report", "__kasan_check_read", "vfs_read", "dump_stack", "show_stack", "dump_stack_lvl",
		"oops_begin", "OOPS_begin", "Oops_end", "émoi_x", "émoi", "\u0080x", "x", "ksys_read",
	} {
		if got, want := idx.match(fn), ref.MatchString(fn); got != want {
			t.Errorf("match(%q) = %v; the rules say %v", fn, got, want)
		}
	}
}
