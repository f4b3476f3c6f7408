package evidence

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// reSkip joins skipRules into one anchored alternation (skipIdx splits
// it, and compiles it whole only for a name of underscores alone), and
// skipContains gathers their substrings.
var (
	reSkip       = sync.OnceValue(func() *regexp.Regexp { return joinRules(skipRules, func(skipRule) bool { return true }) })
	skipContains = gatherContains(skipRules, func(skipRule) bool { return true })
)

// reKeep holds, for each policy that keeps some families of skipRules
// (skipRule.keep), those families joined; nil for the policies that look
// past them all. A name such a family matches is kept even where another
// family would skip it (arm's do_page_fault is both a trap entry and the
// fault handler a hung task waits in).
var reKeep, keepContains = func() (out [nPolicies]*regexp.Regexp, subs [nPolicies][]string) {
	for p := range out {
		keeps := func(r skipRule) bool { return slices.Contains(r.keep, policy(p)) }
		if slices.ContainsFunc(skipRules, keeps) {
			out[p] = joinRules(skipRules, keeps)
			subs[p] = gatherContains(skipRules, keeps)
		}
	}
	return out, subs
}()

// gatherContains lists the substrings of the rules that pick selects.
func gatherContains(rules []skipRule, pick func(skipRule) bool) []string {
	var out []string
	for _, r := range rules {
		if pick(r) {
			out = append(out, r.contains...)
		}
	}
	return out
}

// containsAny tells whether s holds one of subs.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// joinRules compiles the rules that pick selects into one anchored
// alternation.
func joinRules(rules []skipRule, pick func(skipRule) bool) *regexp.Regexp {
	var parts []string
	for _, r := range rules {
		if pick(r) {
			parts = append(parts, r.re)
		}
	}
	return regexp.MustCompile(`^(?:` + strings.Join(parts, "|") + `)$`)
}

// skipped tells whether a title looks past the function.
func skipped(fn string) bool { return containsAny(fn, skipContains) || skipIdx.match(fn) }

// kept tells whether policy p keeps fn whatever skipRules say.
func kept(p policy, fn string) bool {
	return reKeep[p] != nil && (reKeep[p].MatchString(fn) || containsAny(fn, keepContains[p]))
}

// maxSkipCache bounds a parser's memo of skipped: a log names few
// functions, again and again, but a hostile one must not grow it.
const maxSkipCache = 1024

// skipCache memoizes skip answers for one parser: reSkip is one long
// alternation that the regexp engine runs state by state, and it was the
// largest single cost of a parse (every report tries RIP and frames;
// skipIdx has since cut it down).
// Each name holds a bit per policy (bit 0: skipRules alone) telling
// whether the answer is known, and one telling the answer.
type skipCache map[string]skipBits

type skipBits struct{ known, skip uint16 }

// skipped is the answer of skipRules alone.
func (c *skipCache) skipped(fn string) bool { return c.ask(policyPlain, fn) }

// ask answers whether policy p looks past fn: skipRules (less the
// families p keeps), or the policy's own kindRules.
func (c *skipCache) ask(p policy, fn string) bool {
	bit := uint16(1) << p
	e, ok := (*c)[fn]
	if ok && e.known&bit != 0 {
		return e.skip&bit != 0
	}
	var v bool
	if p == policyPlain {
		v = skipped(fn)
	} else {
		v = c.ask(policyPlain, fn) && !kept(p, fn) || reKind[p] != nil && reKind[p].MatchString(fn)
		e = (*c)[fn] // ask filled the plain bit
	}
	if *c == nil || len(*c) >= maxSkipCache {
		*c = make(skipCache)
	}
	e.known |= bit
	if v {
		e.skip |= bit
	}
	(*c)[fn] = e
	return v
}

// policySkip is the skip test of a policy.
func (c *skipCache) policySkip(p policy) func(string) bool {
	if reKind[p] == nil && reKeep[p] == nil {
		return c.skipped
	}
	return func(fn string) bool { return c.ask(p, fn) }
}

// isInlineFrame tells whether a symbolized frame is an inline level
// ("null_lock_zone drivers/block/null_blk/zoned.c:39 [inline]"). syzbot
// names a report from the raw log, where inlined functions do not
// appear, so a title looks past them whatever file they are from.
func isInlineFrame(frame string) bool {
	return strings.HasSuffix(frame, " [inline]")
}

// guilty names the function a report blames: the first of the candidates
// (the function its banner names, RIP, then the frames) that is neither
// skipped (by skip) nor an inline level. It
// returns "" when every candidate is.
func guilty(skip func(string) bool, cands ...[]string) string {
	for _, list := range cands {
		for _, fr := range list {
			if isInlineFrame(fr) {
				continue
			}
			if f := funcName(fr); f != "" && !skip(f) {
				return f
			}
		}
	}
	return ""
}

// isDecoded tells decode_stacktrace.sh's " (file.c:123 ...)" after a
// name, with or without the " [inline]" it may add.
func isDecoded(rest string) bool {
	rest = strings.TrimSuffix(rest, " [inline]")
	return strings.HasPrefix(rest, " (") && strings.IndexByte(rest, ':') > 0 && strings.HasSuffix(rest, ")")
}

// funcName returns the function of a frame: "vfs_read" for
// "vfs_read+0x7f/0x2e0", "device_read" for "device_read.cold+0x5/0x9
// [chardev]", "refcount_dec" for a symbolized inline frame
// "refcount_dec include/linux/refcount.h:405 [inline]", and "" for a bare
// address.
func funcName(frame string) string {
	s := frame
	sp := strings.IndexByte(s, ' ')
	if sp >= 0 {
		s = s[:sp]
	}
	i := strings.IndexByte(s, '+')
	if i <= 0 {
		// Only a symbolized inline frame, decode_stacktrace.sh's "f
		// (fs/x.c:1332 (discriminator 1))" and a symbolizer's bare
		// "bio_free" name a function without an offset.
		switch {
		case sp < 0 && isIdent(s):
		case sp <= 0 || !strings.HasSuffix(frame, " [inline]") && !isDecoded(frame[sp:]):
			return ""
		}
		i = len(s)
	}
	s = s[:i]
	if len(s) > 1 && s[0] == '.' {
		// ppc64 ELFv1 (big-endian, before 5.x) prints the text symbol of
		// a function descriptor: ".eeh_dev_check_failure".
		s = s[1:]
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return s
}
