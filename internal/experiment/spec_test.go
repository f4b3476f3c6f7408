package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRepoExperiments loads every experiment shipped in experiments/.
func TestLoadRepoExperiments(t *testing.T) {
	specs, err := LoadDir("../../experiments")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < 3 {
		t.Fatalf("LoadDir(experiments) = %d specs; want at least 3", len(specs))
	}
	for _, s := range specs {
		if want := strings.TrimSuffix(filepath.Base(s.File), ".yaml"); s.Name != want {
			t.Errorf("%s: name %q; want the file's name %q", s.File, s.Name, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown step", "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\n  - explode: m\n", "x.yaml:6: step: unknown field \"explode\""},
		{"missing name", "summary: s\nsteps:\n  - sleep: 1s\n", "x.yaml:1: experiment: missing field \"name\""},
		{"missing steps", "name: x\nsummary: s\n", "x.yaml:1: experiment: missing field \"steps\""},
		{"wrong type ok", "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\n    expect: {ok: yes please}\n", "x.yaml:6: ok must be true or false"},
		{"wrong type count", "name: x\nsummary: s\nsteps:\n  - open: {holder: A, path: /dev/x}\n  - read: {holder: A, count: many}\n", "x.yaml:5: count must be an integer"},
		{"steps not list", "name: x\nsummary: s\nsteps: 3\n", "x.yaml:3: steps must be a non-empty list"},
		{"unknown module", "name: x\nsummary: s\nmodules: [a]\nsteps:\n  - load: b\n", "x.yaml:5: load: module \"b\" is not in the experiment's modules list"},
		{"holder not opened", "name: x\nsummary: s\nsteps:\n  - read: A\n", "x.yaml:4: read: \"A\" is not a holder opened by an earlier step"},
		{"path traversal", "name: x\nsummary: s\nsteps:\n  - open: {holder: A, path: /dev/../etc/shadow}\n", "x.yaml:4: path \"/dev/../etc/shadow\" must be absolute and clean"},
		{"path outside", "name: x\nsummary: s\nsteps:\n  - open: {holder: A, path: /etc/shadow}\n", "outside /dev, /proc and /sys"},
		{"bad errno", "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - unload: m\n    expect: {errno: EFOO}\n", "x.yaml:6: errno \"EFOO\" is not an errno name"},
		{"bad state", "name: x\nsummary: s\nsteps:\n  - open: {holder: A, path: /dev/x}\n  - observe: A\n    expect: {state: Q}\n", "x.yaml:6: state \"Q\""},
		{"two actions", "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\n    unload: m\n", "x.yaml:6: step has two actions"},
		{"no action", "name: x\nsummary: s\nsteps:\n  - expect: {ok: true}\n", "x.yaml:4: step has no action"},
		{"async without id", "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - unload: m\n    async: true\n", "x.yaml:5: an async step needs an id"},
		{"await unknown", "name: x\nsummary: s\nsteps:\n  - await: t1\n", "x.yaml:4: await: no earlier async step with id \"t1\""},
		{"bad duration", "name: x\nsummary: s\nsteps:\n  - sleep: soon\n", "x.yaml:4: sleep must be a positive duration"},
		{"bad regexp", "name: x\nsummary: s\nsteps:\n  - sleep: 1s\nexpect: {oops_title: \"(\"}\n", "x.yaml:5: oops_title: bad pattern"},
		{"bad name", "name: x y\nsummary: s\nsteps:\n  - sleep: 1s\n", "x.yaml:1: name \"x y\""},
		{"syntax", "name: [x\n", "x.yaml: yaml:"},
		{"duplicate key", "name: x\nname: y\nsummary: s\nsteps:\n  - sleep: 1s\n", "x.yaml:"},
		{"unknown expect field", "name: x\nsummary: s\nsteps:\n  - sleep: 1s\n    expect: {color: red}\n", "x.yaml:5: expect: unknown field \"color\""},
		{"open without path", "name: x\nsummary: s\nsteps:\n  - open: A\n", "x.yaml:4: open: missing field \"path\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v; want an error containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}

func TestParseSteps(t *testing.T) {
	y := `name: demo
summary: s
modules: [proc_slow]
steps:
  - load: {module: proc_slow, params: delay_ms=3000}
  - open: {holder: A, path: /proc/proc_slow}
  - read: A
    id: r1
    async: true
    timeout: 20s
  - unload: proc_slow
    expect:
      ok: true
      min_ms: 1000
      kernels:
        debian-5.10: {ok: false, errno: EBUSY}
  - await: r1
    expect: {ok: true, data_contains: "hello"}
  - seek: {holder: A, offset: 0}
  - sleep: 500ms
`
	s, err := Parse("demo.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.Steps); got != 7 {
		t.Fatalf("Parse(demo) = %d steps; want 7", got)
	}
	load := s.Steps[0]
	if load.Action != "load" || load.Target != "proc_slow" || load.Params != "delay_ms=3000" || load.Line != 5 {
		t.Errorf("step 1 = %+v; want load proc_slow with params at line 5", load)
	}
	read := s.Steps[2]
	if !read.Async || read.ID != "r1" || read.Timeout.Seconds() != 20 {
		t.Errorf("step 3 = %+v; want async read r1 with 20s timeout", read)
	}
	e := s.Steps[3].Expect
	if *e.OK != true || *e.MinMS != 1000 {
		t.Errorf("step 4 expect = %+v; want ok true, min_ms 1000", e)
	}
	k := e.For("debian-5.10")
	if *k.OK != false || k.Errno[0] != "EBUSY" || *k.MinMS != 1000 {
		t.Errorf("step 4 expect for debian-5.10 = ok %v errno %v min %v; want false EBUSY 1000", *k.OK, k.Errno, *k.MinMS)
	}
	if got := e.For("debian-6.1"); *got.OK != true {
		t.Errorf("step 4 expect for debian-6.1: ok = %v; want true", *got.OK)
	}
	if s.Steps[5].Offset != 0 || s.Steps[6].Sleep.Milliseconds() != 500 {
		t.Errorf("seek/sleep = %+v %+v", s.Steps[5], s.Steps[6])
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("name: a\nsummary: s\nsteps:\n  - sleep: 1s\n"), 0o644)
	if s, err := Find(dir, "a"); err != nil || s.Name != "a" {
		t.Errorf("Find(a) = %v, %v; want a", s, err)
	}
	if s, err := Find(dir, filepath.Join(dir, "a.yaml")); err != nil || s.Name != "a" {
		t.Errorf("Find(path) = %v, %v; want a", s, err)
	}
	if _, err := Find(dir, "nope"); err == nil || !strings.Contains(err.Error(), "have: a") {
		t.Errorf("Find(nope) = %v; want an error listing a", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../experiments/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("name: x\nsummary: s\nsteps:\n  - await: t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err == nil && (s.Name == "" || len(s.Steps) == 0) {
			t.Errorf("Parse accepted a spec without name or steps: %+v", s)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Errorf("Parse error %q does not name the file", err)
		}
	})
}
