package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/protocol"
)

// TestBadExperimentExits2 checks that a broken experiment file is refused
// with file:line and exit status 2 before anything is fetched or booted
// (the cache directory stays empty).
func TestBadExperimentExits2(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown step", "name: bad\nsummary: s\nsteps:\n  - explode: A\n", "bad.yaml:4: step: unknown field \"explode\""},
		{"missing field", "name: bad\nsummary: s\n", "bad.yaml:1: experiment: missing field \"steps\""},
		{"wrong type", "name: bad\nsummary: s\nsteps:\n  - sleep: 1s\n    timeout: [1]\n", "bad.yaml:5: timeout must be a string"},
		{"unknown module", "name: bad\nsummary: s\nmodules: [no_such_module]\nsteps:\n  - load: no_such_module\n", "bad.yaml: module \"no_such_module\" is not built by any Kbuild file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bad.yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o644)
			cache := filepath.Join(dir, "cache")
			var out, errb bytes.Buffer
			code := Main([]string{"--root", "../..", "--cache", cache, "run", "--results", filepath.Join(dir, "results"), path}, &out, &errb)
			if code != ExitError || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("lab run %s = exit %d, stderr %q; want exit 2 and %q", tc.name, code, errb.String(), tc.want)
			}
			if _, err := os.Stat(cache); !os.IsNotExist(err) {
				t.Errorf("lab run %s touched the cache before refusing the experiment", tc.name)
			}
		})
	}
}

func TestUnknownKernel(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"--root", "../..", "--cache", t.TempDir(), "run", "--results", t.TempDir(), "--kernel", "debian-9.9", "chardev-safe"}, &out, &errb)
	if code != ExitError || !strings.Contains(errb.String(), `no kernel image "debian-9.9"`) {
		t.Errorf("lab run --kernel debian-9.9 = exit %d, %q; want exit 2 naming the kernel", code, errb.String())
	}
}

func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"--root", "../..", "list"}, &out, &errb); code != 0 {
		t.Fatalf("lab list = exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"chardev\n  chardev-getput ", "  chardev-unsafe ", "(modules: chardev_unsafe)\n", "\ntimer\n  timer-safe "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lab list output lacks %q:\n%s", want, out.String())
		}
	}
}

// Only experiments with an exec step get u-root's commands in their
// initramfs (a run without them boots a half-size initramfs).
func TestNeedCommands(t *testing.T) {
	plain := &experiment.Spec{Steps: []experiment.Step{{Action: protocol.ActionLoad}, {Action: protocol.ActionRead}}}
	execs := &experiment.Spec{Steps: []experiment.Step{{Action: protocol.ActionLoad}, {Action: protocol.ActionExec}}}
	if needCommands([]*experiment.Spec{plain}) {
		t.Errorf("needCommands(no exec step) = true")
	}
	if !needCommands([]*experiment.Spec{plain, execs}) {
		t.Errorf("needCommands(a matrix with one exec step) = false")
	}
}
