package yamlx

import (
	"strings"
	"testing"
)

type spec struct {
	Name   string   `yaml:"name"`
	Series string   `yaml:"series"`
	Boot   []string `yaml:"boot_modules"`
	Count  int      `yaml:"count"`
}

func TestOneDocument(t *testing.T) {
	d := &Decoder{File: "x.yaml"}
	_, err := d.Parse([]byte("name: a\n---\nname: b\n"), "image")
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2: more than one yaml document") {
		t.Errorf("a second document: %v; want x.yaml:2 (its ---): more than one yaml document", err)
	}
	for _, empty := range []string{"", "# only a comment\n"} {
		if _, err := (&Decoder{File: "e.yaml"}).Parse([]byte(empty), "image"); err == nil || !strings.Contains(err.Error(), "e.yaml:1: empty image") {
			t.Errorf("Parse(%q) = %v; want e.yaml:1: empty image", empty, err)
		}
	}
}

func TestSyntaxErrorLine(t *testing.T) {
	_, err := (&Decoder{File: "s.yaml"}).Parse([]byte("name: a\nseries: [6.1\nboot: x\n"), "image")
	if err == nil || !strings.HasPrefix(err.Error(), "s.yaml:") {
		t.Fatalf("a syntax error: %v; want it at s.yaml:LINE", err)
	}
	_, err = (&Decoder{File: "s.yaml"}).Parse([]byte("name: a\n  bad: indent\n"), "image")
	if err == nil || !strings.HasPrefix(err.Error(), "s.yaml:2:") {
		t.Errorf("bad indentation: %v; want s.yaml:2:", err)
	}
}

// TestDecodeCollectsEveryProblem: unknown fields and wrong kinds, each with
// its line, all at once; the good fields are decoded.
func TestDecodeCollectsEveryProblem(t *testing.T) {
	d := &Decoder{File: "i.yaml"}
	var s spec
	_, err := d.Decode([]byte("name: debian-6.1\nsuite: bookworm\nseries: \"6.1\"\nboot_modules: virtio_net\ncount: many\n"), &s, "image")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "debian-6.1" || s.Series != "6.1" {
		t.Errorf("decoded %+v", s)
	}
	got := d.Err()
	if got == nil || d.Count() < 3 || !d.Failed() {
		t.Fatalf("problems %v (%d); want three", got, d.Count())
	}
	for _, want := range []string{"i.yaml:2:", "suite", "i.yaml:4:", "i.yaml:5:"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
	d = &Decoder{File: "ok.yaml"}
	s = spec{}
	if _, err := d.Decode([]byte("name: n\nboot_modules: [a, b]\ncount: 3\n"), &s, "image"); err != nil || d.Failed() || len(s.Boot) != 2 || s.Count != 3 {
		t.Errorf("a good file: %v %v %+v", err, d.Err(), s)
	}
}

func TestLines(t *testing.T) {
	root, err := (&Decoder{File: "l.yaml"}).Parse([]byte("name: n\nsteps:\n  - load: m\n  - read: A\nexpect:\n  crash: true\n"), "experiment")
	if err != nil {
		t.Fatal(err)
	}
	l := LinesOf(root)
	if l.Line("name") != 1 || l.Line("steps") != 2 || l.Item("steps", 1).Self != 4 || l.In("expect").Line("crash") != 6 || !l.Has("expect") || l.Has("cmdline") {
		t.Errorf("lines: name %d steps %d item1 %d crash %d", l.Line("name"), l.Line("steps"), l.Item("steps", 1).Self, l.In("expect").Line("crash"))
	}
	if q := Quote("a: b"); !strings.HasPrefix(q, "\"") {
		t.Errorf("Quote(a: b) = %s; want it quoted", q)
	}
}
