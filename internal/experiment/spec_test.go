package experiment

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/schematest"
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
		{"syntax", "name: [x\n", "x.yaml:2: did not find expected"},
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
	if s, err := Find([]string{dir}, "a"); err != nil || s.Name != "a" {
		t.Errorf("Find(a) = %v, %v; want a", s, err)
	}
	if s, err := Find([]string{dir}, filepath.Join(dir, "a.yaml")); err != nil || s.Name != "a" {
		t.Errorf("Find(path) = %v, %v; want a", s, err)
	}
	if _, err := Find([]string{dir}, "nope"); err == nil || !strings.Contains(err.Error(), "have: a") {
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

// TestParseReportsEveryError: a file with several mistakes gets all of
// them, each with its file:line, not only the first.
func TestParseReportsEveryError(t *testing.T) {
	y := "name: x y\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\n    expect: {ok: yes please}\n  - explode: m\n  - read: A\n  - sleep: soon\nexpect: {oops_title: \"(\"}\n"
	_, err := Parse("x.yaml", []byte(y))
	if err == nil {
		t.Fatal("Parse accepted a file with five mistakes")
	}
	for _, want := range []string{
		`x.yaml:1: name "x y"`,
		`x.yaml:6: ok must be true or false`,
		`x.yaml:7: step: unknown field "explode"`,
		`x.yaml:8: read: "A" is not a holder opened by an earlier step`,
		`x.yaml:9: sleep must be a positive duration`,
		`x.yaml:10: oops_title: bad pattern`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error lacks %q; got:\n%v", want, err)
		}
	}
}

// TestParseCutsLongValues: reading a file that is not an experiment
// (lab run /etc/passwd) names it without printing the whole file back.
func TestParseCutsLongValues(t *testing.T) {
	long := strings.Repeat("root:x:0:0:root:/root:/bin/bash\n", 200)
	_, err := Parse("passwd", []byte(long))
	if err == nil {
		t.Fatal("Parse accepted /etc/passwd")
	}
	if !strings.Contains(err.Error(), "passwd:1: experiment must be a mapping") || len(err.Error()) > 300 {
		t.Errorf("Parse(passwd) error is %d bytes: %.400s", len(err.Error()), err)
	}
}

// TestOldNamesLoad: files written before report:/crash: existed (step
// oops:, run oops: and oops_title:) load to the same spec as the new names,
// and giving both spellings is an error.
func TestOldNamesLoad(t *testing.T) {
	head := "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\n"
	old, err := Parse("old.yaml", []byte(head+"    expect: {oops: \"WARNING\"}\nexpect: {oops: true, oops_title: fault}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Parse("new.yaml", []byte(head+"    expect: {report: \"WARNING\"}\nexpect: {crash: true, crash_title: fault}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Spec{old, cur} {
		e, r := s.Steps[0].Expect, s.Expect
		if e.Report == nil || !*e.Report || e.ReportTitle == nil || e.ReportTitle.String() != "WARNING" {
			t.Errorf("%s: step expect = %+v; want a report matching WARNING", s.File, e)
		}
		if r.Crash == nil || !*r.Crash || r.CrashTitle == nil || r.CrashTitle.String() != "fault" {
			t.Errorf("%s: run expect = %+v; want a crash titled fault", s.File, r)
		}
	}
	_, err = Parse("both.yaml", []byte(head+"expect: {oops: true, crash: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "both.yaml:6: expect: give crash (or the older oops), not both") {
		t.Errorf("Parse(oops and crash) = %v; want an error naming both", err)
	}
}

// TestExperimentsMatchSchema: every shipped experiment validates against
// schema/experiment.schema.json (what editors check), and the schema
// refuses what the loader refuses in shape.
func TestExperimentsMatchSchema(t *testing.T) {
	files, err := filepath.Glob("../../experiments/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no experiments: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schematest.ValidateYAML(schematest.Experiment, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, bad := range []string{
		"name: x\nsummary: s\nsteps:\n  - explode: m\n",
		"name: x\nsummary: s\nsteps:\n  - open: {holder: A, path: /etc/shadow}\n",
		"name: x y\nsummary: s\nsteps:\n  - sleep: 1s\n",
		"name: x\nsummary: s\nsteps:\n  - sleep: 1s\nexpect: {crash: maybe}\n",
		"name: x\nsteps:\n  - sleep: 1s\n",
	} {
		if err := schematest.ValidateYAML(schematest.Experiment, []byte(bad)); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
	}
}

// TestDriverSteps loads write, ioctl, mmap and exec steps with their
// expectations, and refuses bad ones with file:line.
func TestDriverSteps(t *testing.T) {
	s, err := Load("../../e2e/testdata/chardev-rw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("../../e2e/testdata/chardev-rw.yaml")
	if err := schematest.ValidateYAML(schematest.Experiment, b); err != nil {
		t.Errorf("chardev-rw.yaml does not match the schema: %v", err)
	}
	st := s.Steps
	if st[1].Mode != "rw" || st[2].Data != "Goodbye, world!\n" || st[2].Expect.Return == nil || *st[2].Expect.Return != 16 {
		t.Errorf("open/write = %+v / %+v", st[1], st[2])
	}
	if st[5].Cmd != 0x6301 || st[5].Buffer || st[6].Cmd != 0x80046302 || !st[6].Buffer || st[6].Size != 4 {
		t.Errorf("ioctls = %+v / %+v", st[5], st[6])
	}
	if st[8].Size != 4096 || st[8].Count != 13 || st[9].Data != "PAGE" || st[9].At != 8 || st[9].Size != 4096 {
		t.Errorf("mmaps = %+v / %+v", st[8], st[9])
	}
	if !slices.Equal(st[12].Command, []string{"lsmod"}) || !slices.Equal(st[14].Command, []string{"cat", "/nonexistent"}) ||
		st[12].Expect.Exit == nil || *st[12].Expect.Exit != 0 || *st[12].Expect.StdoutContains != "chardev_safe" {
		t.Errorf("exec = %+v / %+v", st[12], st[14])
	}
	head := "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - open: {holder: A, path: /dev/m}\n"
	for step, want := range map[string]string{
		"  - ioctl: {holder: A, arg: 1}\n":                  "x.yaml:6: ioctl: missing field \"cmd\"",
		"  - ioctl: {holder: A, cmd: 1, arg: 2, size: 4}\n": "x.yaml:6: ioctl: give arg (an integer argument) or in/size (a buffer), not both",
		"  - ioctl: {holder: A, cmd: 1, in: zz}\n":          "x.yaml:6: ioctl: in \"zz\" must be hex bytes",
		"  - ioctl: {holder: A, cmd: -1}\n":                 "x.yaml:6: cmd must be a non-negative integer",
		"  - mmap: {holder: A, at: 4095, count: 2}\n":       "x.yaml:6: mmap: at 4095 with 2 bytes to read and 0 to write does not fit in the 4096 bytes mapped",
		"  - write: {holder: B, data: x}\n":                 "x.yaml:6: write: \"B\" is not a holder opened by an earlier step",
		"  - exec: /bin/sh -c reboot\n":                     "x.yaml:6: exec command \"/bin/sh\": give one of u-root's commands by name",
		"  - exec: []\n":                                    "x.yaml:6: exec needs a command",
		"  - open: {holder: C, path: /dev/m, mode: x}\n":    "x.yaml:6: open: mode \"x\": want r, w or rw",
		"  - exec: ls\n    async: true\n    id: e\n  - await: e\n    expect: {exit: 0, stdout_contains: m}\n": "",
		"  - sysctl: {key: a, value: b}\n    async: true\n    id: e\n":                                        "x.yaml:6: sysctl cannot be async",
	} {
		_, err := Parse("x.yaml", []byte(head+step))
		if want == "" {
			if err != nil {
				t.Errorf("Parse(%q) = %v; want ok", step, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want %q", step, err, want)
		}
	}
}
