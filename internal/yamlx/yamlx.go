// Package yamlx is lab's one way of reading YAML files: the document is
// parsed into nodes and walked by hand (by reflection for plain structs,
// by the caller for richer shapes), and every problem is collected with
// its file:line, so that a file with several mistakes gets all of them at
// once. images/ specs and locks and experiments/ files all load through it.
package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var yamlErrRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Decoder decodes yaml.Node trees by hand rather than with
// yaml.Unmarshal so that every problem, including unknown and missing
// fields, is reported with its line, and all problems at once.
type Decoder struct {
	File string
	errs []error
}

// Errorf records a problem at line of the file and goes on: the caller
// keeps walking so that the next problem is found too.
func (d *Decoder) Errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.File, line, fmt.Sprintf(format, args...)))
}

// Failed tells whether any problem was recorded so far.
func (d *Decoder) Failed() bool { return len(d.errs) > 0 }

// Count is how many problems were recorded so far: a caller compares it
// before and after a part to skip checks that would only repeat them.
func (d *Decoder) Count() int { return len(d.errs) }

// Err is every recorded problem, joined (one a line), or nil.
func (d *Decoder) Err() error { return errors.Join(d.errs...) }

// Decode parses data as one YAML document and decodes it into out (a
// pointer to a struct), collecting field errors in d. The error it returns
// is a syntax error, which stops decoding.
func (d *Decoder) Decode(data []byte, out any, what string) (*yaml.Node, error) {
	root, err := d.Parse(data, what)
	if err != nil {
		return nil, err
	}
	d.decodeStruct(root, reflect.ValueOf(out).Elem(), what)
	return root, nil
}

// Parse parses data as exactly one YAML document and returns its root
// node, aliases and all; a syntax error is returned as file:line and stops
// the loading (nothing after it can be trusted).
func (d *Decoder) Parse(data []byte, what string) (*yaml.Node, error) {
	file := d.File
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:1: empty %s", file, what)
		}
		// yaml.v3 says "yaml: line N: msg"; reshape it to file:line.
		if m := yamlErrRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			if strings.HasPrefix(m[2], "did not find expected ") && !strings.Contains(m[2], " character") &&
				!strings.Contains(m[2], " line break") && !strings.Contains(m[2], " number") {
				// yaml.v3 reports parser (not scanner) errors with a
				// 0-based line: it points one line above the construct.
				line++
			}
			return nil, fmt.Errorf("%s:%d: %s", file, line, m[2])
		}
		return nil, fmt.Errorf("%s:1: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: more than one yaml document", file, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, fmt.Errorf("%s:1: empty %s", file, what)
		}
		root = root.Content[0]
	}
	return root, nil
}

// Lines remembers where each field of a mapping was, for validation
// messages about values that parsed but make no sense.
type Lines struct {
	Self   int
	fields map[string]int // key → line of the key
	// sub holds the lines inside a mapping value, items those of each item
	// of a list value (a scalar item's Lines has only self).
	sub   map[string]*Lines
	items map[string][]*Lines
}

func (f *Lines) Line(key string) int {
	if f == nil {
		return 1
	}
	if l, ok := f.fields[key]; ok {
		return l
	}
	return f.Self
}

// in is the Lines of the mapping under key; where there is none, it
// points at the key itself.
func (f *Lines) In(key string) *Lines {
	if f != nil && f.sub[key] != nil {
		return f.sub[key]
	}
	return &Lines{Self: f.Line(key)}
}

// item is the Lines of item i of the list under key; where there is
// none, it points at the key itself.
func (f *Lines) Item(key string, i int) *Lines {
	if f != nil && i < len(f.items[key]) {
		return f.items[key][i]
	}
	return &Lines{Self: f.Line(key)}
}

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// KindName says what a node is, in words, for error messages.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "a number"
		case "!!float":
			return "a number"
		}
		return "the string " + Quote(n.Value)
	}
	return "something else"
}

// yamlKey is the key of a struct field, from its yaml tag.
func yamlKey(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	if tag == "-" {
		return ""
	}
	if k, _, _ := strings.Cut(tag, ","); k != "" {
		return k
	}
	return strings.ToLower(f.Name)
}

func (d *Decoder) decodeStruct(n *yaml.Node, v reflect.Value, what string) {
	n = Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.Errorf(n.Line, "%s must be a mapping, not %s", what, KindName(n))
		return
	}
	seen := map[string]bool{}
	t := v.Type()
	byKey := map[string]int{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		if k := yamlKey(t.Field(i)); k != "" {
			byKey[k] = i
			known = append(known, k)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], Resolve(n.Content[i+1])
		key := kn.Value
		idx, ok := byKey[key]
		if !ok {
			d.Errorf(kn.Line, "unknown field %q in %s (known: %s)", key, what, strings.Join(known, ", "))
			continue
		}
		if seen[key] {
			d.Errorf(kn.Line, "field %q given twice in %s", key, what)
			continue
		}
		seen[key] = true
		fv := v.Field(idx)
		switch fv.Kind() {
		case reflect.String:
			if s, ok := d.scalar(vn, key); ok {
				fv.SetString(s)
			}
		case reflect.Int, reflect.Int64:
			if s, ok := d.scalar(vn, key); ok {
				i, err := strconv.ParseInt(s, 10, 64)
				if err != nil || vn.ShortTag() != "!!int" {
					d.Errorf(vn.Line, "wrong type for %q: want a whole number, got %s", key, KindName(vn))
					continue
				}
				fv.SetInt(i)
			}
		case reflect.Pointer:
			if vn.Kind == yaml.ScalarNode && vn.ShortTag() == "!!null" {
				continue
			}
			pv := reflect.New(fv.Type().Elem())
			d.decodeStruct(vn, pv.Elem(), key)
			fv.Set(pv)
		case reflect.Slice:
			if vn.Kind == yaml.ScalarNode && vn.ShortTag() == "!!null" {
				continue
			}
			if vn.Kind != yaml.SequenceNode {
				d.Errorf(vn.Line, "wrong type for %q: want a list, got %s", key, KindName(vn))
				continue
			}
			elem := fv.Type().Elem()
			out := reflect.MakeSlice(fv.Type(), 0, len(vn.Content))
			for j, item := range vn.Content {
				ev := reflect.New(elem).Elem()
				switch elem.Kind() {
				case reflect.String:
					s, ok := d.scalar(Resolve(item), fmt.Sprintf("%s[%d]", key, j))
					if !ok {
						continue
					}
					ev.SetString(s)
				case reflect.Struct:
					d.decodeStruct(item, ev, fmt.Sprintf("%s[%d]", key, j))
				}
				out = reflect.Append(out, ev)
			}
			fv.Set(out)
		default:
			// A field of a kind this walker does not read would stay
			// silently empty: say so, it is lab's bug, not the file's.
			d.Errorf(kn.Line, "field %q: lab cannot read a %s field here", key, fv.Kind())
		}
	}
}

// scalar accepts strings and numbers (a version like 6.1 parses as a
// float, but its text is what the spec means) and rejects the rest.
func (d *Decoder) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n.Line, "wrong type for %q: want a string, got %s", key, KindName(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
		return n.Value, true
	case "!!null":
		d.Errorf(n.Line, "%q has no value", key)
	default:
		d.Errorf(n.Line, "wrong type for %q: want a string, got %s", key, KindName(n))
	}
	return "", false
}

// LinesOf records the lines of a mapping's keys, and recursively of the
// mappings and lists under them (the first of a duplicated key wins: the
// decoder reports the second).
func LinesOf(n *yaml.Node) *Lines {
	n = Resolve(n)
	fl := &Lines{Self: n.Line, fields: map[string]int{}, sub: map[string]*Lines{}, items: map[string][]*Lines{}}
	if n.Kind != yaml.MappingNode {
		return fl
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], Resolve(n.Content[i+1])
		if _, dup := fl.fields[k.Value]; dup {
			continue
		}
		fl.fields[k.Value] = k.Line
		switch v.Kind {
		case yaml.MappingNode:
			// A field missing from it is reported at its key.
			sub := LinesOf(v)
			sub.Self = k.Line
			fl.sub[k.Value] = sub
		case yaml.SequenceNode:
			for _, item := range v.Content {
				fl.items[k.Value] = append(fl.items[k.Value], LinesOf(item))
			}
		}
	}
	return fl
}

// maxQuoted is how much of a value an error message quotes: enough to
// recognise it, not a whole file read by mistake (lab run /etc/passwd).
const maxQuoted = 60

// Quote is s quoted like %q, cut to its first maxQuoted characters.
func Quote(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		return strconv.Quote(string(r[:maxQuoted])) + fmt.Sprintf(" (cut, %d characters in all)", len(r))
	}
	return strconv.Quote(s)
}

// Has says whether the mapping has key.
func (f *Lines) Has(key string) bool {
	if f == nil {
		return false
	}
	_, ok := f.fields[key]
	return ok
}
