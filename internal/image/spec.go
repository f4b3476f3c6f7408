// Package image handles pinned kernel images: their spec files in images/,
// fetching the pinned Debian packages through a private apt state, unpacking
// them into one root in the cache, and fixing the headers tree so that
// out-of-tree modules build against it.
package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Package is one Debian package of an image, exactly: what a lock records
// and what lab downloads.
type Package struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	SHA256  string `yaml:"sha256"`
	// Suite is the Debian suite that served the package; empty means the
	// spec's suite.
	Suite string `yaml:"suite,omitempty"`
	// Date is when the package was resolved (RFC 3339, UTC): a snapshot
	// archive at that time serves it.
	Date string `yaml:"date,omitempty"`
}

// Spec is one images/<name>.yaml file: what kernel an image is (a Debian
// suite, an upstream series, a flavour), not exactly which build. Which
// build it ran last time is in its lock (images/<name>.lock), loaded with
// it into Release and Packages.
type Spec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Suite is the Debian suite the kernel comes from.
	Suite string `yaml:"suite"`
	// Series is the upstream series ("6.1"): lab takes the newest
	// linux-image-<series>.* of the flavour that Suite serves.
	Series string `yaml:"series"`
	// Flavour is Debian's kernel flavour (the last part of the release
	// string); empty means amd64.
	Flavour string `yaml:"flavour,omitempty"`
	// Compiler is the compiler modules are built with (make CC=): the one
	// that built the kernel, as its headers' .kernelvariables name it,
	// unless KernelCompiler says otherwise.
	Compiler string `yaml:"compiler"`
	// KernelCompiler is the compiler that built the kernel when modules are
	// built with another one (Debian 5.10 was built with gcc-10, which
	// bookworm lacks; gcc-12 builds its modules). Empty means Compiler.
	// Fetch checks it against the headers.
	KernelCompiler string `yaml:"kernel_compiler,omitempty"`
	// BootModules are the modules the guest loads before networking; lab
	// resolves their dependencies.
	BootModules []string `yaml:"boot_modules,omitempty"`
	// BuildRoot, when set, makes modules build inside a Debian root of
	// that suite (chroot) instead of on the host: for kernels whose
	// compiler or kbuild tools the host cannot run.
	BuildRoot *BuildRoot `yaml:"build_root,omitempty"`

	// Release (what uname -r says in the guest) and Packages are the
	// resolved build: from the lock file when loaded, from the mirror when
	// lab followed the series. Empty when the image has no lock yet.
	Release  string    `yaml:"-"`
	Packages []Package `yaml:"-"`
	// File is the path the spec was loaded from; LockFile the lock's path
	// (which may not exist yet).
	File     string `yaml:"-"`
	LockFile string `yaml:"-"`
}

// FlavourOrDefault is the spec's flavour, amd64 when it names none.
func (s *Spec) FlavourOrDefault() string {
	if s.Flavour == "" {
		return "amd64"
	}
	return s.Flavour
}

// Locked says whether the spec has a lock (resolved packages).
func (s *Spec) Locked() bool { return len(s.Packages) > 0 }

// WithLock is a copy of s resolved to l.
func (s *Spec) WithLock(l *Lock) *Spec {
	c := *s
	c.Release = l.Release
	c.Packages = append([]Package(nil), l.Packages...)
	return &c
}

// BuildRoot is a Debian root to build modules in: debootstrap
// --variant=minbase of Suite with Packages included.
type BuildRoot struct {
	Suite    string   `yaml:"suite"`
	Packages []string `yaml:"packages"`
}

// BuiltWith is the compiler that built the kernel: KernelCompiler, else
// Compiler.
func (s *Spec) BuiltWith() string {
	if s.KernelCompiler != "" {
		return s.KernelCompiler
	}
	return s.Compiler
}

// PackageSuite is the suite that serves p under spec s.
func (s *Spec) PackageSuite(p Package) string {
	if p.Suite != "" {
		return p.Suite
	}
	return s.Suite
}

// PackageVersion is the version of the kernel image package (the first
// package named linux-image-*, else the first package), the version that
// result records report next to the release.
func (s *Spec) PackageVersion() string {
	for _, p := range s.Packages {
		if strings.HasPrefix(p.Name, "linux-image-") {
			return p.Version
		}
	}
	if len(s.Packages) > 0 {
		return s.Packages[0].Version
	}
	return ""
}

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	debNameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	versionRe  = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$`)
	sha256Re   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	tokenRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`)
	modNameRe  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	dateRe     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
	seriesRe   = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	flavourRe  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	yamlErrRe  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlSuffix = ".yaml"
)

// LoadSpec reads and validates one spec file. Every error names the file
// and line it is about.
func LoadSpec(file string) (*Spec, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := parseSpec(file, data)
	if err != nil {
		return nil, err
	}
	s.LockFile = LockPath(file)
	l, err := LoadLock(s.LockFile)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if l.Image != s.Name {
		return nil, fmt.Errorf("%s:1: lock of image %q, not %q", s.LockFile, l.Image, s.Name)
	}
	return s.WithLock(l), nil
}

// LoadDir loads every *.yaml file in dir, sorted by name.
func LoadDir(dir string) ([]*Spec, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"+yamlSuffix))
	if err != nil {
		return nil, err
	}
	var specs []*Spec
	var errs []error
	for _, f := range files {
		s, err := LoadSpec(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		specs = append(specs, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs, nil
}

// specDecoder decodes yaml.Node trees by hand rather than with
// yaml.Unmarshal so that every problem, including unknown and missing
// fields, is reported with its line, and all problems at once.
type specDecoder struct {
	file string
	errs []error
}

func (d *specDecoder) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.file, line, fmt.Sprintf(format, args...)))
}

func parseSpec(file string, data []byte) (*Spec, error) {
	var s Spec
	d := &specDecoder{file: file}
	root, err := d.decodeDoc(data, &s, "spec")
	if err != nil {
		return nil, err
	}
	if len(d.errs) == 0 {
		d.validate(&s, root, file)
	}
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	s.File = file
	return &s, nil
}

// decodeDoc parses data as one YAML document and decodes it into out (a
// pointer to a struct), collecting field errors in d. The error it returns
// is a syntax error, which stops decoding.
func (d *specDecoder) decodeDoc(data []byte, out any, what string) (*yaml.Node, error) {
	file := d.file
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
	d.decodeStruct(root, reflect.ValueOf(out).Elem(), what)
	return root, nil
}

// fieldLines remembers where each field of a mapping was, for validation
// messages about values that parsed but make no sense.
type fieldLines struct {
	self   int
	fields map[string]int // key → line of the key
	// sub holds the lines inside a mapping value, items those of each item
	// of a list value (a scalar item's fieldLines has only self).
	sub   map[string]*fieldLines
	items map[string][]*fieldLines
}

func (f *fieldLines) line(key string) int {
	if f == nil {
		return 1
	}
	if l, ok := f.fields[key]; ok {
		return l
	}
	return f.self
}

// in is the fieldLines of the mapping under key; where there is none, it
// points at the key itself.
func (f *fieldLines) in(key string) *fieldLines {
	if f != nil && f.sub[key] != nil {
		return f.sub[key]
	}
	return &fieldLines{self: f.line(key)}
}

// item is the fieldLines of item i of the list under key; where there is
// none, it points at the key itself.
func (f *fieldLines) item(key string, i int) *fieldLines {
	if f != nil && i < len(f.items[key]) {
		return f.items[key][i]
	}
	return &fieldLines{self: f.line(key)}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
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
		return "a string"
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

func (d *specDecoder) decodeStruct(n *yaml.Node, v reflect.Value, what string) {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "%s must be a mapping, not %s", what, kindName(n))
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
		kn, vn := n.Content[i], resolveAlias(n.Content[i+1])
		key := kn.Value
		idx, ok := byKey[key]
		if !ok {
			d.errorf(kn.Line, "unknown field %q in %s (known: %s)", key, what, strings.Join(known, ", "))
			continue
		}
		if seen[key] {
			d.errorf(kn.Line, "field %q given twice in %s", key, what)
			continue
		}
		seen[key] = true
		fv := v.Field(idx)
		switch fv.Kind() {
		case reflect.String:
			if s, ok := d.scalar(vn, key); ok {
				fv.SetString(s)
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
				d.errorf(vn.Line, "wrong type for %q: want a list, got %s", key, kindName(vn))
				continue
			}
			elem := fv.Type().Elem()
			out := reflect.MakeSlice(fv.Type(), 0, len(vn.Content))
			for j, item := range vn.Content {
				ev := reflect.New(elem).Elem()
				switch elem.Kind() {
				case reflect.String:
					s, ok := d.scalar(resolveAlias(item), fmt.Sprintf("%s[%d]", key, j))
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
		}
	}
}

// scalar accepts strings and numbers (a version like 6.1 parses as a
// float, but its text is what the spec means) and rejects the rest.
func (d *specDecoder) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, "wrong type for %q: want a string, got %s", key, kindName(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
		return n.Value, true
	case "!!null":
		d.errorf(n.Line, "%q has no value", key)
	default:
		d.errorf(n.Line, "wrong type for %q: want a string, got %s", key, kindName(n))
	}
	return "", false
}

// validate checks values and required fields; it needs the lines again, so
// it re-walks the top mapping rather than threading them through decoding.
func (d *specDecoder) validate(s *Spec, root *yaml.Node, file string) {
	top := linesOf(root)
	req := func(fl *fieldLines, key, val, what string) bool {
		if val == "" {
			d.errorf(fl.line(key), "missing field %q in %s", key, what)
			return false
		}
		return true
	}
	base := strings.TrimSuffix(filepath.Base(file), yamlSuffix)
	if req(top, "name", s.Name, "spec") {
		if !nameRe.MatchString(s.Name) {
			d.errorf(top.line("name"), "bad name %q: use lower-case letters, digits, '.', '_' and '-'", s.Name)
		} else if s.Name != base {
			d.errorf(top.line("name"), "name %q does not match the file name %q", s.Name, base+yamlSuffix)
		}
	}
	if req(top, "suite", s.Suite, "spec") && !tokenRe.MatchString(s.Suite) {
		d.errorf(top.line("suite"), "bad suite %q", s.Suite)
	}
	if req(top, "series", s.Series, "spec") && !seriesRe.MatchString(s.Series) {
		d.errorf(top.line("series"), "bad series %q: want an upstream series such as 6.1", s.Series)
	}
	if s.Flavour != "" && !flavourRe.MatchString(s.Flavour) {
		d.errorf(top.line("flavour"), "bad flavour %q: want a Debian kernel flavour such as amd64 or cloud-amd64", s.Flavour)
	}
	if req(top, "compiler", s.Compiler, "spec") && !tokenRe.MatchString(s.Compiler) {
		d.errorf(top.line("compiler"), "bad compiler %q", s.Compiler)
	}
	if s.KernelCompiler != "" && !tokenRe.MatchString(s.KernelCompiler) {
		d.errorf(top.line("kernel_compiler"), "bad kernel_compiler %q", s.KernelCompiler)
	}
	for i, m := range s.BootModules {
		if !modNameRe.MatchString(m) {
			d.errorf(top.item("boot_modules", i).self, "bad module name %q in boot_modules", m)
		}
	}
	if br := s.BuildRoot; br != nil {
		fl := top.in("build_root")
		if req(fl, "suite", br.Suite, "build_root") && !tokenRe.MatchString(br.Suite) {
			d.errorf(fl.line("suite"), "bad suite %q in build_root", br.Suite)
		}
		if len(br.Packages) == 0 {
			d.errorf(fl.line("packages"), "missing field %q in build_root: list the packages to install (the compiler, make, libc6-dev, libelf-dev, dwarves)", "packages")
		}
		seen := map[string]bool{}
		for i, p := range br.Packages {
			switch {
			case !debNameRe.MatchString(p):
				d.errorf(fl.item("packages", i).self, "bad package name %q in build_root", p)
			case seen[p]:
				d.errorf(fl.item("packages", i).self, "package %q listed twice in build_root", p)
			}
			seen[p] = true
		}
	}
}

// linesOf records the lines of a mapping's keys, and recursively of the
// mappings and lists under them (the first of a duplicated key wins: the
// decoder reports the second).
func linesOf(n *yaml.Node) *fieldLines {
	n = resolveAlias(n)
	fl := &fieldLines{self: n.Line, fields: map[string]int{}, sub: map[string]*fieldLines{}, items: map[string][]*fieldLines{}}
	if n.Kind != yaml.MappingNode {
		return fl
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if _, dup := fl.fields[k.Value]; dup {
			continue
		}
		fl.fields[k.Value] = k.Line
		switch v.Kind {
		case yaml.MappingNode:
			// A field missing from it is reported at its key.
			sub := linesOf(v)
			sub.self = k.Line
			fl.sub[k.Value] = sub
		case yaml.SequenceNode:
			for _, item := range v.Content {
				fl.items[k.Value] = append(fl.items[k.Value], linesOf(item))
			}
		}
	}
	return fl
}
