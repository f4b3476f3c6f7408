package experiment

import (
	"slices"
	"strings"
	"testing"
)

// stepHead opens holder A, so that the step under test (line 6) may use it.
const stepHead = "name: x\nsummary: s\nmodules: [m]\nsteps:\n  - open: {holder: A, path: /dev/m}\n"

// parseStep parses stepHead and one more step, and returns that step.
func parseStep(t *testing.T, step string) Step {
	t.Helper()
	s, err := Parse("x.yaml", []byte(stepHead+step))
	if err != nil {
		t.Fatalf("Parse(%q) = %v; want ok", step, err)
	}
	if len(s.Steps) != 2 {
		t.Fatalf("Parse(%q) = %d steps; want 2", step, len(s.Steps))
	}
	return s.Steps[1]
}

// wantParseError parses yaml and wants exactly the error want (every line
// of it, so that a stray second complaint shows).
func wantParseError(t *testing.T, yaml, want string) {
	t.Helper()
	_, err := Parse("x.yaml", []byte(yaml))
	if err == nil {
		t.Errorf("Parse(%q) accepted; want %q", yaml, want)
		return
	}
	if err.Error() != want {
		t.Errorf("Parse(%q) =\n%v\nwant\n%s", yaml, err, want)
	}
}

// TestStepFieldsEachAction: every field of a step's mapping reaches the
// step for the actions that take it.
func TestStepFieldsEachAction(t *testing.T) {
	for _, tc := range []struct {
		step  string
		check func(Step) bool
	}{
		{"  - load: {module: m, params: \"a=1 b=2\"}\n", func(s Step) bool { return s.Target == "m" && s.Params == "a=1 b=2" }},
		{"  - open: {holder: B, path: /proc/meminfo, mode: r}\n", func(s Step) bool { return s.Target == "B" && s.Path == "/proc/meminfo" && s.Mode == "r" }},
		{"  - open: {holder: B, path: /sys/kernel/x, mode: w}\n", func(s Step) bool { return s.Path == "/sys/kernel/x" && s.Mode == "w" }},
		{"  - read: {holder: A, count: 7}\n", func(s Step) bool { return s.Target == "A" && s.Count == 7 }},
		{"  - read: A\n", func(s Step) bool { return s.Target == "A" && s.Count == 0 }},
		{"  - seek: {holder: A, offset: 12}\n", func(s Step) bool { return s.Target == "A" && s.Offset == 12 }},
		{"  - write: {holder: A, data: hello}\n", func(s Step) bool { return s.Target == "A" && s.Data == "hello" }},
		{"  - mmap: {holder: A, size: 8192, count: 3, offset: 4096, at: 5, write: ab}\n", func(s Step) bool {
			return s.Size == 8192 && s.Count == 3 && s.Offset == 4096 && s.At == 5 && s.Data == "ab"
		}},
		{"  - ioctl: {holder: A, cmd: 0x6301, arg: 7}\n", func(s Step) bool { return s.Cmd == 0x6301 && s.Arg == 7 && !s.Buffer }},
		{"  - ioctl: {holder: A, cmd: 0x80046302, in: \"01000000\"}\n", func(s Step) bool {
			return s.Cmd == 0x80046302 && s.Buffer && slices.Equal(s.In, []byte{1, 0, 0, 0}) && s.Size == 4
		}},
		{"  - ioctl: {holder: A, cmd: 1, size: 16}\n", func(s Step) bool { return s.Buffer && s.Size == 16 && len(s.In) == 0 }},
		{"  - ioctl: {holder: A, cmd: 1, in: \"00\"}\n", func(s Step) bool { return s.Buffer && s.Arg == 0 && s.Size == 1 }},
		{"  - sysctl: {key: kernel/printk, value: \"4 4 1 7\"}\n", func(s Step) bool { return s.Target == "kernel/printk" && s.Value == "4 4 1 7" }},
		{"  - exists: /sys/module/m\n", func(s Step) bool { return s.Target == "/sys/module/m" }},
		{"  - close: A\n", func(s Step) bool { return s.Target == "A" }},
		{"  - observe: A\n", func(s Step) bool { return s.Target == "A" }},
		{"  - unload: m\n", func(s Step) bool { return s.Target == "m" }},
		{"  - sleep: 250ms\n", func(s Step) bool { return s.Sleep.Milliseconds() == 250 && s.Target == "250ms" }},
		{"  - exec: [cat, \"/proc/a b\"]\n", func(s Step) bool {
			return slices.Equal(s.Command, []string{"cat", "/proc/a b"}) && s.Target == "cat /proc/a b"
		}},
		{"  - exec: \"ls  -l /dev\"\n", func(s Step) bool {
			return slices.Equal(s.Command, []string{"ls", "-l", "/dev"}) && s.Target == "ls -l /dev"
		}},
	} {
		if st := parseStep(t, tc.step); !tc.check(st) {
			t.Errorf("Parse(%q): step = %+v", tc.step, st)
		}
	}
}

// TestStepFieldsOtherActions: a field belongs to its actions; any other
// action refuses it as unknown.
func TestStepFieldsOtherActions(t *testing.T) {
	for step, field := range map[string]string{
		"  - read: {holder: A, path: /dev/m}\n":      "path",
		"  - unload: {module: m, params: a=1}\n":     "params",
		"  - seek: {holder: A, count: 1}\n":          "count",
		"  - read: {holder: A, offset: 1}\n":         "offset",
		"  - read: {holder: A, mode: r}\n":           "mode",
		"  - read: {holder: A, data: x}\n":           "data",
		"  - write: {holder: A, write: x}\n":         "write",
		"  - write: {holder: A, at: 1}\n":            "at",
		"  - write: {holder: A, size: 1}\n":          "size",
		"  - mmap: {holder: A, cmd: 1}\n":            "cmd",
		"  - mmap: {holder: A, arg: 1}\n":            "arg",
		"  - mmap: {holder: A, in: \"00\"}\n":        "in",
		"  - write: {holder: A, value: x}\n":         "value",
		"  - sysctl: {key: a, value: b, count: 1}\n": "count",
	} {
		action := strings.TrimSuffix(strings.Fields(step)[1], ":")
		wantParseError(t, stepHead+step, "x.yaml:6: "+action+": unknown field \""+field+"\"")
	}
}

// TestStepMissingFields: a step without its main argument, or without a
// field its action needs, is refused at its line.
func TestStepMissingFields(t *testing.T) {
	for step, want := range map[string]string{
		"  - sysctl: kernel/printk\n":                    `x.yaml:6: sysctl: missing field "value"`,
		"  - sysctl: {key: kernel/printk}\n":             `x.yaml:6: sysctl: missing field "value"`,
		"  - sysctl: {value: \"1\"}\n":                   `x.yaml:6: sysctl: missing field "key"`,
		"  - exists: {}\n":                               `x.yaml:6: exists: missing field "path"`,
		"  - sleep: {}\n":                                `x.yaml:6: sleep: missing field "duration"`,
		"  - open: {path: /dev/m}\n":                     `x.yaml:6: open: missing field "holder"`,
		"  - ioctl: {holder: A}\n":                       `x.yaml:6: ioctl: missing field "cmd" (the request number, e.g. 0x80046302)`,
		"  - sysctl: {key: /proc/sys/a, value: \"1\"}\n": `x.yaml:6: sysctl key "/proc/sys/a" must be relative to /proc/sys without ..`,
		"  - sysctl: {key: a/../../b, value: \"1\"}\n":   `x.yaml:6: sysctl key "a/../../b" must be relative to /proc/sys without ..`,
	} {
		wantParseError(t, stepHead+step, want)
	}
	// A step that already failed is not told its field is missing too.
	wantParseError(t, stepHead+"  - sysctl: {key: /a}\n", `x.yaml:6: sysctl key "/a" must be relative to /proc/sys without ..`)
}

// TestStepLimits: the bounds of a step's numbers and byte strings, at
// and just past each edge.
func TestStepLimits(t *testing.T) {
	hex := func(n int) string { return strings.Repeat("00", n) }
	for _, tc := range []struct {
		step string
		want string // "" when accepted
	}{
		// A write carries at most one holder line, 1024 bytes.
		{"  - write: {holder: A, data: " + strings.Repeat("a", 1024) + "}\n", ""},
		{"  - write: {holder: A, data: " + strings.Repeat("a", 1025) + "}\n", "x.yaml:6: data: 1025 bytes; at most 1024"},
		{"  - mmap: {holder: A, size: 2048, write: " + strings.Repeat("a", 1025) + "}\n", "x.yaml:6: write: 1025 bytes; at most 1024"},
		// An ioctl request number is 32 bits.
		{"  - ioctl: {holder: A, cmd: 0xffffffff}\n", ""},
		{"  - ioctl: {holder: A, cmd: 0x100000000}\n", "x.yaml:6: ioctl: cmd 0x100000000 does not fit the 32 bits of a request number"},
		// An ioctl buffer is 1 to 65536 bytes, in at most the size and a line.
		{"  - ioctl: {holder: A, cmd: 1, size: 1}\n", ""},
		{"  - ioctl: {holder: A, cmd: 1, size: 65536}\n", ""},
		{"  - ioctl: {holder: A, cmd: 1, size: 0}\n", "x.yaml:6: ioctl: buffer size 0: want 1 to 65536 bytes"},
		{"  - ioctl: {holder: A, cmd: 1, size: -1}\n", "x.yaml:6: ioctl: buffer size -1: want 1 to 65536 bytes"},
		{"  - ioctl: {holder: A, cmd: 1, size: 65537}\n", "x.yaml:6: ioctl: buffer size 65537: want 1 to 65536 bytes"},
		{"  - ioctl: {holder: A, cmd: 1, in: \"0102\", size: 2}\n", ""},
		{"  - ioctl: {holder: A, cmd: 1, in: \"010203\", size: 2}\n", "x.yaml:6: ioctl: in has 3 bytes; at most the size, 2, and 1024"},
		{"  - ioctl: {holder: A, cmd: 1, in: \"" + hex(1024) + "\", size: 4096}\n", ""},
		{"  - ioctl: {holder: A, cmd: 1, in: \"" + hex(1025) + "\", size: 4096}\n", "x.yaml:6: ioctl: in has 1025 bytes; at most the size, 4096, and 1024"},
		{"  - ioctl: {holder: A, cmd: 1, in: \"" + hex(1025) + "\"}\n", "x.yaml:6: ioctl: in has 1025 bytes; at most the size, 1025, and 1024"},
		{"  - ioctl: {holder: A, cmd: 1, arg: 2, in: \"00\"}\n", "x.yaml:6: ioctl: give arg (an integer argument) or in/size (a buffer), not both"},
		// An mmap maps 1 byte to 1 MiB, and what it reads and writes fits.
		{"  - mmap: A\n", ""},
		{"  - mmap: {holder: A, size: 1}\n", ""},
		{"  - mmap: {holder: A, size: 1048576, at: 1048575}\n", ""},
		{"  - mmap: {holder: A, size: 0}\n", "x.yaml:6: mmap: size 0: want 1 to 1048576 bytes"},
		{"  - mmap: {holder: A, size: -4096}\n", "x.yaml:6: mmap: size -4096: want 1 to 1048576 bytes"},
		{"  - mmap: {holder: A, size: 1048577}\n", "x.yaml:6: mmap: size 1048577: want 1 to 1048576 bytes"},
		{"  - mmap: {holder: A, at: 0}\n", ""},
		{"  - mmap: {holder: A, at: -1}\n", "x.yaml:6: mmap: at -1 with 1 bytes to read and 0 to write does not fit in the 4096 bytes mapped"},
		{"  - mmap: {holder: A, at: 4095}\n", ""},
		{"  - mmap: {holder: A, at: 4096}\n", "x.yaml:6: mmap: at 4096 with 1 bytes to read and 0 to write does not fit in the 4096 bytes mapped"},
		{"  - mmap: {holder: A, at: 4090, count: 6}\n", ""},
		{"  - mmap: {holder: A, at: 4090, count: 7}\n", "x.yaml:6: mmap: at 4090 with 7 bytes to read and 0 to write does not fit in the 4096 bytes mapped"},
		{"  - mmap: {holder: A, at: 4090, write: abcdef}\n", ""},
		{"  - mmap: {holder: A, at: 4090, write: abcdefg}\n", "x.yaml:6: mmap: at 4090 with 1 bytes to read and 7 to write does not fit in the 4096 bytes mapped"},
		{"  - mmap: {holder: A, size: 16, at: 8, count: 8, write: abcdefgh}\n", ""},
		{"  - mmap: {holder: A, offset: 0}\n", ""},
		{"  - mmap: {holder: A, offset: -1}\n", "x.yaml:6: mmap: offset -1 must not be negative"},
	} {
		_, err := Parse("x.yaml", []byte(stepHead+tc.step))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Parse(%.80q) = %v; want ok", tc.step, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("Parse(%.80q) = %v; want %q", tc.step, err, tc.want)
		}
	}
	// mmap maps one page unless told otherwise.
	if st := parseStep(t, "  - mmap: A\n"); st.Size != 4096 || st.Count != 0 || st.At != 0 {
		t.Errorf("mmap: A = size %d count %d at %d; want one page at 0", st.Size, st.Count, st.At)
	}
}
