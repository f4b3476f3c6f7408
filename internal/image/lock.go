package image

import (
	"fmt"
	"os"
	"strings"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/yamlx"
)

// Lock is an images/<name>.lock file: exactly which packages an image
// resolved to, and when. Specs say what a kernel is; locks say which build
// ran. Debian's archive is rolling (security suites drop a version days
// after the next one lands), so a lock is a record to reproduce, and the
// fallbacks when it cannot be are explicit (see Fetch).
type Lock struct {
	Image string `yaml:"image"`
	// Release is the kernel release string (uname -r), from the image
	// package's name.
	Release  string    `yaml:"release"`
	Packages []Package `yaml:"packages"`

	// File is the path the lock was loaded from.
	File string `yaml:"-"`
}

// lockSuffix names a spec's lock: images/debian-6.1.yaml is locked by
// images/debian-6.1.lock (not *.yaml, so spec globs do not load it).
const lockSuffix = ".lock"

// LockPath is the lock file of the spec file specFile.
func LockPath(specFile string) string {
	return strings.TrimSuffix(specFile, yamlSuffix) + lockSuffix
}

// KernelPackage is the package the release string comes from: the first
// linux-image-*, else the first package.
func (l *Lock) KernelPackage() Package {
	for _, p := range l.Packages {
		if strings.HasPrefix(p.Name, "linux-image-") {
			return p
		}
	}
	if len(l.Packages) > 0 {
		return l.Packages[0]
	}
	return Package{}
}

// LoadLock reads and validates a lock file; every error names the file
// and line.
func LoadLock(file string) (*Lock, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseLock(file, data)
}

func parseLock(file string, data []byte) (*Lock, error) {
	var l Lock
	d := &yamlx.Decoder{File: file}
	root, err := d.Decode(data, &l, "lock")
	if err != nil {
		return nil, err
	}
	if !d.Failed() {
		top := yamlx.LinesOf(root)
		if l.Image == "" {
			d.Errorf(top.Line("image"), "missing field %q in lock", "image")
		} else if !nameRe.MatchString(l.Image) {
			d.Errorf(top.Line("image"), "bad image name %q", l.Image)
		}
		if l.Release == "" {
			d.Errorf(top.Line("release"), "missing field %q in lock", "release")
		} else if !tokenRe.MatchString(l.Release) {
			d.Errorf(top.Line("release"), "bad release %q", l.Release)
		}
		validatePackages(d, l.Packages, top)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	l.File = file
	return &l, nil
}

func validatePackages(d *yamlx.Decoder, pkgs []Package, top *yamlx.Lines) {
	if len(pkgs) == 0 {
		d.Errorf(top.Line("packages"), "missing field %q in lock: list at least one package (lab images update writes them)", "packages")
		return
	}
	seen := map[string]bool{}
	for i, p := range pkgs {
		fl := top.Item("packages", i)
		what := fmt.Sprintf("packages[%d]", i)
		req := func(key, val string) bool {
			if val == "" {
				d.Errorf(fl.Line(key), "missing field %q in %s", key, what)
				return false
			}
			return true
		}
		if req("name", p.Name) {
			if !debNameRe.MatchString(p.Name) {
				d.Errorf(fl.Line("name"), "bad package name %q", p.Name)
			} else if seen[p.Name] {
				d.Errorf(fl.Line("name"), "package %q listed twice", p.Name)
			}
			seen[p.Name] = true
		}
		if req("version", p.Version) && !versionRe.MatchString(p.Version) {
			d.Errorf(fl.Line("version"), "bad version %q for package %s", p.Version, p.Name)
		}
		if req("sha256", p.SHA256) && !sha256Re.MatchString(p.SHA256) {
			d.Errorf(fl.Line("sha256"), "bad sha256 %q for package %s: want 64 lower-case hex digits", p.SHA256, p.Name)
		}
		if p.Suite != "" && !tokenRe.MatchString(p.Suite) {
			d.Errorf(fl.Line("suite"), "bad suite %q for package %s", p.Suite, p.Name)
		}
		if _, err := arch.Get(p.Arch); err != nil && p.Arch != "all" {
			d.Errorf(fl.Line("arch"), "bad arch %q for package %s: want %s or all", p.Arch, p.Name, strings.Join(arch.Names(), ", "))
		}
		if p.Date != "" && !dateRe.MatchString(p.Date) {
			d.Errorf(fl.Line("date"), "bad date %q for package %s: want RFC 3339 UTC such as 2026-12-02T17:40:00Z", p.Date, p.Name)
		}
	}
}

// Marshal renders the lock the way lab writes it: one field a line, in a
// fixed order, so that an update is a diff a person can review.
func (l *Lock) Marshal() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# The exact packages image %s resolved to. Written by `lab images update %s`:\n", l.Image, l.Image)
	b.WriteString("# review the diff and commit it. When the mirror no longer serves these, lab\n")
	b.WriteString("# runs the newest build of the same series (or, with --locked, refuses).\n")
	fmt.Fprintf(&b, "image: %s\nrelease: %s\npackages:\n", l.Image, l.Release)
	for _, p := range l.Packages {
		fmt.Fprintf(&b, "  - name: %s\n    version: %q\n    sha256: %s\n", p.Name, p.Version, p.SHA256)
		if p.Suite != "" {
			fmt.Fprintf(&b, "    suite: %s\n", p.Suite)
		}
		if p.Arch != "" {
			fmt.Fprintf(&b, "    arch: %s\n", p.Arch)
		}
		if p.Date != "" {
			fmt.Fprintf(&b, "    date: %s\n", p.Date)
		}
	}
	return []byte(b.String())
}

// WriteLock writes l to file atomically.
func WriteLock(file string, l *Lock) error {
	return safefile.WriteAtomic(file, l.Marshal())
}
