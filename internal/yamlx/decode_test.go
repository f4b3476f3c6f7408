package yamlx

import (
	"strings"
	"testing"
)

// TestParserErrorLine: yaml.v3 counts a parser error's line from 0; the
// message points at the line the construct broke on.
func TestParserErrorLine(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"name: a\nseries: [6.1\nboot: x\n", "p.yaml:2: did not find expected ',' or ']'"},
		{"- a\n- b\nname: c\n", "p.yaml:3: did not find expected '-' indicator"},
		{"steps:\n  - load: m\n x: y\n", "p.yaml:3: did not find expected key"},
		// A scanner error's line is right as it is.
		{"name: a\n\tseries: b\n", "p.yaml:2: found a tab character that violates indentation"},
	} {
		_, err := (&Decoder{File: "p.yaml"}).Parse([]byte(tc.data), "image")
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v; want %s", tc.data, err, tc.want)
		}
	}
}

type kernelSpec struct {
	Version string `yaml:"version"`
}

type image struct {
	Name     string      `yaml:"name"`
	Series   string      `yaml:"series"`
	Boot     []string    `yaml:"boot_modules"`
	Extra    []string    `yaml:"extra_modules"`
	Kernel   *kernelSpec `yaml:"kernel"`
	Backport *kernelSpec `yaml:"backport"`
}

// TestAliasesAndEmptyValues: an alias reads as what it names; a field
// left empty (null) is no value, for a list or a mapping, not an error.
func TestAliasesAndEmptyValues(t *testing.T) {
	d := &Decoder{File: "a.yaml"}
	var im image
	_, err := d.Decode([]byte("name: &n debian-6.1\nseries: *n\nboot_modules: &m [virtio_net, 9p]\nextra_modules: *m\nkernel: &k\n  version: \"6.1\"\nbackport: *k\n"), &im, "image")
	if err != nil || d.Failed() {
		t.Fatalf("Decode with aliases: %v %v", err, d.Err())
	}
	if im.Series != "debian-6.1" || len(im.Extra) != 2 || im.Extra[1] != "9p" || im.Backport == nil || im.Backport.Version != "6.1" {
		t.Errorf("aliases decoded as %+v (backport %+v)", im, im.Backport)
	}
	d = &Decoder{File: "e.yaml"}
	im = image{}
	if _, err := d.Decode([]byte("name: n\nboot_modules:\nextra_modules: ~\nkernel:\nbackport: null\n"), &im, "image"); err != nil || d.Failed() {
		t.Errorf("empty fields: %v %v; want no problem", err, d.Err())
	}
	if im.Boot != nil || im.Extra != nil || im.Kernel != nil || im.Backport != nil {
		t.Errorf("empty fields decoded as %+v", im)
	}
	d = &Decoder{File: "w.yaml"}
	if _, err := d.Decode([]byte("name: n\nkernel: 6.1\nboot_modules: virtio_net\nextra_modules: [a, [b]]\n"), &im, "image"); err != nil {
		t.Fatal(err)
	}
	want := "w.yaml:2: kernel must be a mapping, not a number\n" +
		"w.yaml:3: wrong type for \"boot_modules\": want a list, got the string \"virtio_net\"\n" +
		"w.yaml:4: wrong type for \"extra_modules[1]\": want a string, got a list"
	if d.Err() == nil || d.Err().Error() != want {
		t.Errorf("wrong kinds: %v\nwant %s", d.Err(), want)
	}
}

func TestLinesOutsideTheFile(t *testing.T) {
	root, err := (&Decoder{File: "l.yaml"}).Parse([]byte("name: n\nsteps:\n  - load: m\n  - read: A\nbase: &b\n  crash: true\ncopy: *b\n"), "experiment")
	if err != nil {
		t.Fatal(err)
	}
	l := LinesOf(root)
	// An item past the list, or a mapping that is not there, points at
	// its key; a missing key at the mapping; no mapping at line 1.
	if got := l.Item("steps", 2).Self; got != 2 {
		t.Errorf("Item(steps, 2) at line %d; want 2, the key's", got)
	}
	if got := l.In("name").Self; got != 1 {
		t.Errorf("In(name) at line %d; want 1", got)
	}
	if got := l.In("copy").Line("crash"); got != 6 {
		t.Errorf("crash through an alias at line %d; want 6, where its anchor's mapping has it", got)
	}
	if got := l.In("base").Line("nothing"); got != 5 {
		t.Errorf("a missing key of base at line %d; want 5", got)
	}
	var none *Lines
	if none.Line("x") != 1 || none.Has("x") || none.Item("x", 0).Self != 1 || none.In("x").Self != 1 {
		t.Error("nil Lines do not point at line 1")
	}
}

// TestLongValuesAreCut: an error quotes at most 60 characters of a value.
func TestLongValuesAreCut(t *testing.T) {
	sixty := strings.Repeat("é", 60)
	if q := Quote(sixty); q != `"`+sixty+`"` {
		t.Errorf("Quote of 60 characters = %s; want it whole", q)
	}
	d := &Decoder{File: "c.yaml"}
	var s spec
	if _, err := d.Decode([]byte("count: "+sixty+"x\n"), &s, "image"); err != nil {
		t.Fatal(err)
	}
	want := `c.yaml:1: wrong type for "count": want a whole number, got the string "` + sixty + `" (cut, 61 characters in all)`
	if d.Err() == nil || d.Err().Error() != want {
		t.Errorf("a long value: %v\nwant %s", d.Err(), want)
	}
}
