// Package image handles pinned kernel images: their spec files in images/,
// fetching the pinned Debian packages through a private apt state, unpacking
// them into one root in the cache, and fixing the headers tree so that
// out-of-tree modules build against it.
package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/yamlx"
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
	// Arch is the package's Debian architecture when it is not amd64: an
	// arm64 image's kernel and headers say arm64, its common headers all.
	// Its kbuild tools stay amd64: they run on the build host.
	Arch string `yaml:"arch,omitempty"`
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
	// Arch is the architecture the kernel runs on: amd64 (empty) or
	// arm64. It picks the packages, the cross compiler, the guest's
	// binaries and QEMU's machine.
	Arch string `yaml:"arch,omitempty"`
	// Flavour is Debian's kernel flavour (the last part of the release
	// string); empty means the architecture's own (amd64, arm64).
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
	// Tree, when set, makes the image a local kernel build tree (kind
	// local): its bzImage, System.map and Module.symvers, its own compiler
	// for modules; relative to the spec file. No suite, series or lock.
	Tree string `yaml:"tree,omitempty"`
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

// ArchAMD64 is the architecture of an image that names none.
const ArchAMD64 = "amd64"

// ArchOrDefault is the spec's architecture, amd64 when it names none.
func (s *Spec) ArchOrDefault() string {
	if s.Arch == "" {
		return ArchAMD64
	}
	return s.Arch
}

// Target is the spec's architecture, from the one table of them.
func (s *Spec) Target() arch.Arch { return arch.MustGet(s.Arch) }

// FlavourOrDefault is the spec's flavour, its architecture's own (amd64,
// arm64) when it names none.
func (s *Spec) FlavourOrDefault() string {
	if s.Flavour == "" {
		return s.ArchOrDefault()
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

// LoadDir loads every *.yaml file in dirs, sorted by name. dirs are
// layered: an image in an earlier one replaces a later one's of the same
// name (a project's images/ before lab's own).
func LoadDir(dirs ...string) ([]*Spec, error) {
	seen := map[string]bool{}
	var specs []*Spec
	var errs []error
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*"+yamlSuffix))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			name := filepath.Base(f)
			if seen[name] {
				continue
			}
			seen[name] = true
			s, err := LoadSpec(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			specs = append(specs, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	return specs, nil
}

// validateSpec checks values and required fields; it needs the lines again, so
// it re-walks the top mapping rather than threading them through decoding.
func validateSpec(d *yamlx.Decoder, s *Spec, root *yaml.Node, file string) {
	top := yamlx.LinesOf(root)
	req := func(fl *yamlx.Lines, key, val, what string) bool {
		if val == "" {
			d.Errorf(fl.Line(key), "missing field %q in %s", key, what)
			return false
		}
		return true
	}
	base := strings.TrimSuffix(filepath.Base(file), yamlSuffix)
	if req(top, "name", s.Name, "spec") {
		if !nameRe.MatchString(s.Name) {
			d.Errorf(top.Line("name"), "bad name %q: use lower-case letters, digits, '.', '_' and '-'", s.Name)
		} else if s.Name != base {
			d.Errorf(top.Line("name"), "name %q does not match the file name %q", s.Name, base+yamlSuffix)
		}
	}
	if s.Tree != "" {
		// A local build tree: no suite, series or lock; the compiler is
		// the tree's own (see LocalSpec).
		for _, k := range []string{"suite", "series", "flavour", "arch", "build_root"} {
			if top.Has(k) {
				d.Errorf(top.Line(k), "%s makes no sense for a local tree (tree: %s)", k, s.Tree)
			}
		}
	} else if req(top, "suite", s.Suite, "spec") && !tokenRe.MatchString(s.Suite) {
		d.Errorf(top.Line("suite"), "bad suite %q", s.Suite)
	}
	if s.Tree == "" && req(top, "series", s.Series, "spec") && !seriesRe.MatchString(s.Series) {
		d.Errorf(top.Line("series"), "bad series %q: want an upstream series such as 6.1", s.Series)
	}
	if _, err := arch.Get(s.Arch); err != nil {
		d.Errorf(top.Line("arch"), "bad arch: %v", err)
	}
	if s.Flavour != "" && !flavourRe.MatchString(s.Flavour) {
		d.Errorf(top.Line("flavour"), "bad flavour %q: want a Debian kernel flavour such as amd64 or cloud-amd64", s.Flavour)
	} else if s.Flavour != "" && !strings.Contains(s.Flavour, s.ArchOrDefault()) {
		// Debian's flavours name their architecture (cloud-arm64, rt-amd64).
		d.Errorf(top.Line("flavour"), "flavour %q is not an %s flavour: set arch to the flavour's architecture", s.Flavour, s.ArchOrDefault())
	}
	if (s.Tree != "" && s.Compiler != "" || s.Tree == "" && req(top, "compiler", s.Compiler, "spec")) && !tokenRe.MatchString(s.Compiler) {
		d.Errorf(top.Line("compiler"), "bad compiler %q", s.Compiler)
	}
	if s.KernelCompiler != "" && !tokenRe.MatchString(s.KernelCompiler) {
		d.Errorf(top.Line("kernel_compiler"), "bad kernel_compiler %q", s.KernelCompiler)
	}
	for i, m := range s.BootModules {
		if !modNameRe.MatchString(m) {
			d.Errorf(top.Item("boot_modules", i).Self, "bad module name %q in boot_modules", m)
		}
	}
	if br := s.BuildRoot; br != nil {
		fl := top.In("build_root")
		if req(fl, "suite", br.Suite, "build_root") && !tokenRe.MatchString(br.Suite) {
			d.Errorf(fl.Line("suite"), "bad suite %q in build_root", br.Suite)
		}
		if len(br.Packages) == 0 {
			d.Errorf(fl.Line("packages"), "missing field %q in build_root: list the packages to install (the compiler, make, libc6-dev, libelf-dev, dwarves)", "packages")
		}
		seen := map[string]bool{}
		for i, p := range br.Packages {
			switch {
			case !debNameRe.MatchString(p):
				d.Errorf(fl.Item("packages", i).Self, "bad package name %q in build_root", p)
			case seen[p]:
				d.Errorf(fl.Item("packages", i).Self, "package %q listed twice in build_root", p)
			}
			seen[p] = true
		}
	}
}

func parseSpec(file string, data []byte) (*Spec, error) {
	var s Spec
	d := &yamlx.Decoder{File: file}
	root, err := d.Decode(data, &s, "spec")
	if err != nil {
		return nil, err
	}
	if !d.Failed() {
		validateSpec(d, &s, root, file)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	s.File = file
	return &s, nil
}
