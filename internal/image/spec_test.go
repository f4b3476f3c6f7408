package image

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const goodSpec = `name: test-1
description: a test kernel
suite: bookworm-security
series: "6.1"
compiler: gcc-12
boot_modules: [virtio_pci, virtio_net]
`

const goodLock = `image: test-1
release: 6.1.0-1-amd64
packages:
  - name: linux-image-6.1.0-1-amd64
    version: 6.1.1-1
    sha256: 0000000000000000000000000000000000000000000000000000000000000001
    date: 2026-12-02T17:40:00Z
  - name: linux-kbuild-6.1
    version: "1:6.1"
    sha256: 0000000000000000000000000000000000000000000000000000000000000002
    suite: bookworm
`

func writeSpec(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLoadSpecGood(t *testing.T) {
	f := writeSpec(t, "test-1", goodSpec)
	s, err := LoadSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "test-1" || s.Series != "6.1" || s.FlavourOrDefault() != "amd64" || s.Compiler != "gcc-12" || s.File != f {
		t.Errorf("spec = %+v", s)
	}
	if s.Locked() || s.Release != "" || s.LockFile != strings.TrimSuffix(f, ".yaml")+".lock" {
		t.Errorf("spec without a lock file: locked %v, release %q, lock file %q", s.Locked(), s.Release, s.LockFile)
	}
	if got := strings.Join(s.BootModules, ","); got != "virtio_pci,virtio_net" {
		t.Errorf("boot modules = %s", got)
	}

	// With its lock, the spec says which build it is.
	if err := os.WriteFile(s.LockFile, []byte(goodLock), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = LoadSpec(f); err != nil {
		t.Fatal(err)
	}
	if s.Release != "6.1.0-1-amd64" || !s.Locked() {
		t.Errorf("locked spec: release %q, locked %v", s.Release, s.Locked())
	}
	if len(s.Packages) != 2 || s.Packages[1].Version != "1:6.1" || s.PackageSuite(s.Packages[0]) != "bookworm-security" || s.PackageSuite(s.Packages[1]) != "bookworm" || s.Packages[0].Date != "2026-12-02T17:40:00Z" {
		t.Errorf("packages = %+v", s.Packages)
	}
	if s.PackageVersion() != "6.1.1-1" {
		t.Errorf("package version = %s", s.PackageVersion())
	}
	// What lab writes, it reads back the same.
	l, err := LoadLock(s.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	again, err := parseLock("again.lock", l.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	again.File = l.File
	if !reflect.DeepEqual(again, l) {
		t.Errorf("Marshal round trip:\n got %+v\nwant %+v", again, l)
	}
}

// specErrorCase is a spec file that must not load, and what its error says.
type specErrorCase struct {
	name, content string
	want          []string // each a substring of the error; the file name is prepended
}

// checkSpecErrors loads each case's spec and checks its error names the
// file, the line and the fault.
func checkSpecErrors(t *testing.T, tests []specErrorCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeSpec(t, "test-1", tc.content)
			_, err := LoadSpec(f)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), f+w) {
					t.Errorf("error %q\nlacks %q", err, f+w)
				}
			}
		})
	}
}

func TestLoadSpecErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(goodSpec, old) {
			t.Fatalf("goodSpec lacks %q", old)
		}
		return strings.Replace(goodSpec, old, new, 1)
	}
	tests := []specErrorCase{
		{"unknown field", replace("compiler: gcc-12\n", "compiler: gcc-12\nkernal: x\n"),
			[]string{`:6: unknown field "kernal" in spec`}},
		{"a pin in the spec", replace("compiler: gcc-12\n", "compiler: gcc-12\nrelease: 6.1.0-1-amd64\n"),
			[]string{`:6: unknown field "release" in spec`}},
		{"missing field", replace("series: \"6.1\"\n", ""),
			[]string{`:1: missing field "series" in spec`}},
		{"bad series", replace(`series: "6.1"`, `series: "6.1.0-56"`),
			[]string{`:4: bad series "6.1.0-56": want an upstream series such as 6.1`}},
		{"bad flavour", replace("compiler: gcc-12\n", "compiler: gcc-12\nflavour: AMD 64\n"),
			[]string{`:6: bad flavour "AMD 64"`}},
		{"wrong type list", replace("boot_modules: [virtio_pci, virtio_net]", "boot_modules: virtio_pci"),
			[]string{`:6: wrong type for "boot_modules": want a list, got the string "virtio_pci"`}},
		{"wrong type string", replace("compiler: gcc-12", "compiler: {gcc: 12}"),
			[]string{`:5: wrong type for "compiler": want a string, got a mapping`}},
		{"wrong type bool", replace("compiler: gcc-12", "compiler: true"),
			[]string{`:5: wrong type for "compiler": want a string, got a boolean`}},
		{"name mismatch", replace("name: test-1", "name: other"),
			[]string{`:1: name "other" does not match the file name "test-1.yaml"`}},
		{"duplicate field", replace("suite: bookworm-security\n", "suite: bookworm-security\nsuite: bookworm\n"),
			[]string{`:4: field "suite" given twice in spec`}},
		{"null value", replace("compiler: gcc-12", "compiler:"),
			[]string{`:5: "compiler" has no value`}},
		{"syntax error", replace("suite: bookworm-security", "suite: [bookworm"),
			[]string{`:3: did not find expected ',' or ']'`}},
		{"not a mapping", "- a\n- b\n", []string{`:1: spec must be a mapping, not a list`}},
		{"empty", "", []string{`:1: empty spec`}},
		{"several errors at once", replace("compiler: gcc-12\n", "kernal: x\nversion: 1\n"),
			[]string{`:5: unknown field "kernal"`, `:6: unknown field "version"`}},
		{"bad boot module", replace("boot_modules: [virtio_pci, virtio_net]", "boot_modules:\n  - virtio_pci\n  - virtio net"),
			[]string{`:8: bad module name "virtio net" in boot_modules`}},
		{"bad kernel_compiler", replace("compiler: gcc-12\n", "compiler: gcc-12\nkernel_compiler: gcc 10\n"),
			[]string{`:6: bad kernel_compiler "gcc 10"`}},
		{"missing and bad values together", replace("compiler: gcc-12\n", "flavour: a b\n"),
			[]string{`:1: missing field "compiler"`, `:5: bad flavour "a b"`}},
		{"bad arch", replace("compiler: gcc-12\n", "compiler: gcc-12\narch: riscv64\n"),
			[]string{`:6: bad arch: lab runs amd64 and arm64 kernels, not "riscv64"`}},
		{"flavour of another arch", replace("compiler: gcc-12\n", "compiler: gcc-12\narch: arm64\nflavour: cloud-amd64\n"),
			[]string{`:7: flavour "cloud-amd64" is not an arm64 flavour: set arch to the flavour's architecture`}},
		{"amd64 flavour, no arch", replace("compiler: gcc-12\n", "compiler: gcc-12\nflavour: rt-arm64\n"),
			[]string{`:6: flavour "rt-arm64" is not an amd64 flavour`}},
	}
	checkSpecErrors(t, tests)
}

func TestLoadLockErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(goodLock, old) {
			t.Fatalf("goodLock lacks %q", old)
		}
		return strings.Replace(goodLock, old, new, 1)
	}
	for _, tc := range []specErrorCase{
		{"unknown package field", replace("    suite: bookworm\n", "    suit: bookworm\n"),
			[]string{`:11: unknown field "suit" in packages[1]`}},
		{"missing package field", replace("    version: 6.1.1-1\n", ""),
			[]string{`:4: missing field "version" in packages[0]`}},
		{"missing release", replace("release: 6.1.0-1-amd64\n", ""),
			[]string{`:1: missing field "release" in lock`}},
		{"packages not a list", replace("packages:\n", "packages: 3\nx:\n"),
			[]string{`:3: wrong type for "packages": want a list, got a number`, `:4: unknown field "x"`}},
		{"bad sha256", replace("0000000000000000000000000000000000000000000000000000000000000002", "ABC"),
			[]string{`:10: bad sha256 "ABC" for package linux-kbuild-6.1: want 64 lower-case hex digits`}},
		{"duplicate package", replace("name: linux-kbuild-6.1", "name: linux-image-6.1.0-1-amd64"),
			[]string{`:8: package "linux-image-6.1.0-1-amd64" listed twice`}},
		{"bad version", replace("version: 6.1.1-1", "version: v6.1"),
			[]string{`:5: bad version "v6.1"`}},
		{"bad arch", replace("    suite: bookworm\n", "    suite: bookworm\n    arch: i386\n"),
			[]string{`:12: bad arch "i386" for package linux-kbuild-6.1: want amd64, arm64 or all`}},
		{"bad date", replace("date: 2026-12-02T17:40:00Z", "date: yesterday"),
			[]string{`:7: bad date "yesterday" for package linux-image-6.1.0-1-amd64`}},
		{"syntax error in package", replace("    version: 6.1.1-1\n", "   version: 6.1.1-1\n"),
			[]string{`:4: did not find expected '-' indicator`}},
		{"another image", replace("image: test-1", "image: test-2"),
			[]string{`.lock:1: lock of image "test-2", not "test-1"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeSpec(t, "test-1", goodSpec)
			lf := strings.TrimSuffix(f, ".yaml") + ".lock"
			if err := os.WriteFile(lf, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSpec(f)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), strings.TrimSuffix(lf, ".lock")+w) && !strings.Contains(err.Error(), lf+w) {
					t.Errorf("error %q\nlacks %q", err, lf+w)
				}
			}
		})
	}
}

// buildRootSpec is goodSpec with a build root, for the build_root tests.
const buildRootSpec = goodSpec + `build_root:
  suite: sid
  packages:
    - gcc-16
    - make
    - libc6-dev
`

func TestLoadSpecBuildRoot(t *testing.T) {
	f := writeSpec(t, "test-1", buildRootSpec+"kernel_compiler: gcc-10\n")
	s, err := LoadSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	want := &BuildRoot{Suite: "sid", Packages: []string{"gcc-16", "make", "libc6-dev"}}
	if !reflect.DeepEqual(s.BuildRoot, want) {
		t.Errorf("build root = %+v, want %+v", s.BuildRoot, want)
	}
	if s.Compiler != "gcc-12" || s.KernelCompiler != "gcc-10" || s.BuiltWith() != "gcc-10" {
		t.Errorf("compiler %q, kernel_compiler %q, built with %q", s.Compiler, s.KernelCompiler, s.BuiltWith())
	}
	s, err = LoadSpec(writeSpec(t, "test-1", goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.BuildRoot != nil || s.BuiltWith() != "gcc-12" {
		t.Errorf("spec without build_root: build root %+v, built with %q", s.BuildRoot, s.BuiltWith())
	}
	// Flow style and null are fine too.
	for _, extra := range []string{"build_root: {suite: sid, packages: [gcc-16, make]}\n", "build_root:\n"} {
		if _, err := LoadSpec(writeSpec(t, "test-1", goodSpec+extra)); err != nil {
			t.Errorf("%q: %v", extra, err)
		}
	}
}

func TestLoadSpecBuildRootErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(buildRootSpec, old) {
			t.Fatalf("buildRootSpec lacks %q", old)
		}
		return strings.Replace(buildRootSpec, old, new, 1)
	}
	tests := []specErrorCase{
		{"unknown field", replace("  suite: sid\n", "  suite: sid\n  mirror: x\n"),
			[]string{`:9: unknown field "mirror" in build_root (known: suite, packages)`}},
		{"missing suite", replace("  suite: sid\n", ""),
			[]string{`:7: missing field "suite" in build_root`}},
		{"bad suite", replace("suite: sid", "suite: s/d"),
			[]string{`:8: bad suite "s/d" in build_root`}},
		{"no packages", replace("  packages:\n    - gcc-16\n    - make\n    - libc6-dev\n", "  packages: []\n"),
			[]string{`:9: missing field "packages" in build_root`}},
		{"missing packages", replace("  packages:\n    - gcc-16\n    - make\n    - libc6-dev\n", ""),
			[]string{`:7: missing field "packages" in build_root`}},
		{"bad package", replace("- make", "- make,gcc"),
			[]string{`:11: bad package name "make,gcc" in build_root`}},
		{"duplicate package", replace("- libc6-dev", "- gcc-16"),
			[]string{`:12: package "gcc-16" listed twice in build_root`}},
		{"package not a string", replace("- make", "- {make: 1}"),
			[]string{`:11: wrong type for "packages[1]": want a string, got a mapping`}},
		{"not a mapping", strings.Replace(goodSpec+"build_root: sid\n", "", "", 1),
			[]string{`:7: build_root must be a mapping, not the string "sid"`}},
		{"packages not a list", replace("  packages:\n    - gcc-16\n    - make\n    - libc6-dev\n", "  packages: gcc-16\n"),
			[]string{`:9: wrong type for "packages": want a list, got the string "gcc-16"`}},
	}
	checkSpecErrors(t, tests)
}

func TestLoadDirRepo(t *testing.T) {
	specs, err := LoadDir("../../images")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	for _, want := range []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2"} {
		if !strings.Contains(","+strings.Join(names, ",")+",", ","+want+",") {
			t.Errorf("images/ holds %v, want %s among them", names, want)
		}
	}
	for _, s := range specs {
		// Only kernels whose kbuild tools the host cannot run need a build
		// root; the others build on the host.
		if (s.BuildRoot != nil) != (s.Name == "debian-7.2") {
			t.Errorf("%s: build root %+v", s.Name, s.BuildRoot)
		}
		if s.Name == "debian-5.10" && (s.KernelCompiler != "gcc-10" || s.Compiler != "gcc-12") {
			t.Errorf("%s: compiler %q, kernel_compiler %q", s.Name, s.Compiler, s.KernelCompiler)
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] > names[i] {
			t.Errorf("not sorted: %v", names)
		}
	}
}

func TestCompilerFromKernelVariables(t *testing.T) {
	kv := "override ARCH = x86\noverride KERNELRELEASE = 6.1.0-56-amd64\nCCACHE = ccache\nCC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12\n"
	cc, err := compilerFromKernelVariables("kv", []byte(kv))
	if err != nil || cc != "gcc-12" {
		t.Errorf("got %q, %v", cc, err)
	}
	if _, err := compilerFromKernelVariables("kv", []byte("ARCH = x86\n")); err == nil {
		t.Error("no error without CC")
	}
}
