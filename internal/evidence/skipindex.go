package evidence

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

// reSkip is one long alternation, and the regexp engine runs every
// alternative's state on every byte of a name: most of the cost of
// telling whether a title looks past a function. Most alternatives start
// with a letter that a name they match must start with, past its leading
// underscores ("_*kasan_\w+" needs 'k', "__list_add\w*" needs 'l'), so
// skipIndex splits the alternation by that key: a name is tried against
// the alternatives of its key and those that do not tell one
// ("(?:arch_)?atomic\w+"), the same answer for a fraction of the work.
// TestSkipIndexMatchesRegexp holds it to reSkip's answers.
type skipIndex struct {
	key  [256]uint8 // index in alts of each key's alternation; 0 when none can match
	alts []skipAlt
}

// skipAlt is the alternation of the names of some keys, compiled when a
// name first needs it.
type skipAlt struct {
	src  string
	once sync.Once
	re   *regexp.Regexp
}

var skipIdx = newSkipIndex(skipRules)

func newSkipIndex(rules []skipRule) *skipIndex {
	var keyed [256][]string
	var anyKey []string
	for _, r := range rules {
		re, err := syntax.Parse(r.re, syntax.Perl)
		if err != nil {
			panic(err)
		}
		alts := []*syntax.Regexp{re}
		if re.Op == syntax.OpAlternate {
			alts = re.Sub
		}
		for _, a := range alts {
			keys, ok := firstKeys(a)
			if !ok {
				anyKey = append(anyKey, a.String())
				continue
			}
			for _, k := range keys {
				keyed[k] = append(keyed[k], a.String())
			}
		}
	}
	idx := &skipIndex{alts: make([]skipAlt, 1, 64)}
	seen := map[string]uint8{}
	for k := range idx.key {
		parts := append(keyed[k], anyKey...)
		if len(parts) == 0 {
			continue
		}
		src := `^(?:` + strings.Join(parts, "|") + `)$`
		i, ok := seen[src]
		if !ok {
			i = uint8(len(idx.alts)) // at most one per letter and digit, and one for the rest
			idx.alts = append(idx.alts, skipAlt{src: src})
			seen[src] = i
		}
		idx.key[k] = i
	}
	return idx
}

// match tells whether an alternative of fn's key matches it; names of
// underscores alone go to reSkip.
func (x *skipIndex) match(fn string) bool {
	i := 0
	for i < len(fn) && fn[i] == '_' {
		i++
	}
	if i == len(fn) {
		return reSkip().MatchString(fn)
	}
	a := &x.alts[x.key[fn[i]]]
	if a.src == "" {
		return false
	}
	a.once.Do(func() { a.re = regexp.MustCompile(a.src) })
	return a.re.MatchString(fn)
}

// firstKeys returns the bytes that a name re matches can hold first past
// its leading underscores, or false when re does not tell (it may start
// with a class, an optional part, or match underscores only).
func firstKeys(re *syntax.Regexp) ([]byte, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		for _, c := range re.Rune {
			if c != '_' {
				if c >= 0x80 {
					return nil, false
				}
				return []byte{byte(c)}, true
			}
		}
	case syntax.OpCapture:
		return firstKeys(re.Sub[0])
	case syntax.OpAlternate:
		var out []byte
		for _, s := range re.Sub {
			k, ok := firstKeys(s)
			if !ok {
				return nil, false
			}
			out = append(out, k...)
		}
		return out, true
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !onlyUnderscores(s) {
				return firstKeys(s)
			}
		}
	}
	return nil, false
}

// onlyUnderscores tells whether re matches nothing but runs of '_'.
func onlyUnderscores(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return !strings.ContainsFunc(string(re.Rune), func(c rune) bool { return c != '_' })
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat, syntax.OpCapture:
		return onlyUnderscores(re.Sub[0])
	case syntax.OpEmptyMatch:
		return true
	}
	return false
}
