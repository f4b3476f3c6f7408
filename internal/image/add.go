package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"pault.ag/go/debian/dependency"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/safefile"
)

// AddOptions say which Debian kernel an added image is.
type AddOptions struct {
	// Name is the image's name (images/NAME.yaml).
	Name string
	// Suite serves the kernel (required).
	Suite string
	// Package pins the kernel package, "linux-image-RELEASE[=VERSION]"
	// (without a version: the newest the suite serves); its release gives
	// the series. Without it, Series picks the newest of that series.
	Package string
	Series  string
	// Arch is the kernel's architecture (default amd64).
	Arch    string
	Flavour string
	// Compiler overrides the compiler the headers ask for.
	Compiler    string
	Description string
}

// Add writes images/NAME.yaml and its lock for a kernel the mirror serves,
// from then on an image like the others (lab images, run --kernel,
// matrix). What a spec needs is read from the archive's index: the series
// from the release string, the compiler from the headers' dependency on
// linux-compiler-gcc-N-x86 (gcc-N-for-host since 7.x), and whether module
// builds need a build root from the libc the kbuild tools need against
// the host's.
func Add(ctx context.Context, imagesDir string, o AddOptions, opts FetchOptions) (*Spec, error) {
	if !nameRe.MatchString(o.Name) {
		return nil, fmt.Errorf("bad image name %q: use lower-case letters, digits, '.', '_' and '-'", o.Name)
	}
	if o.Suite == "" || !tokenRe.MatchString(o.Suite) {
		return nil, fmt.Errorf("image %s: name the suite that serves the kernel (--suite, e.g. bookworm or bookworm-security)", o.Name)
	}
	specFile := filepath.Join(imagesDir, o.Name+yamlSuffix)
	if _, err := os.Stat(specFile); err == nil {
		return nil, fmt.Errorf("image %s exists (%s): remove it first, or lab images update %s", o.Name, specFile, o.Name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if _, err := arch.Get(o.Arch); err != nil {
		return nil, fmt.Errorf("image %s: --arch: %w", o.Name, err)
	}
	if o.Arch == ArchAMD64 {
		o.Arch = ""
	}
	spec := &Spec{Name: o.Name, Suite: o.Suite, Series: o.Series, Arch: o.Arch, Flavour: o.Flavour, Description: o.Description}
	var pin *Package
	if o.Package != "" {
		name, version, _ := strings.Cut(o.Package, "=")
		pin = &Package{Name: name, Version: version}
		m := anySeriesRe(spec.FlavourOrDefault()).FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("image %s: --package %s is not a signed %s kernel package (want linux-image-RELEASE-%s[=VERSION])", o.Name, o.Package, spec.FlavourOrDefault(), spec.FlavourOrDefault())
		}
		if spec.Series != "" && spec.Series != m[1] {
			return nil, fmt.Errorf("image %s: --package %s is series %s, not --series %s", o.Name, name, m[1], spec.Series)
		}
		spec.Series = m[1]
	}
	if spec.Series == "" || !seriesRe.MatchString(spec.Series) {
		return nil, fmt.Errorf("image %s: name the kernel (--package linux-image-RELEASE=VERSION) or its series (--series 6.1)", o.Name)
	}
	ix, err := indexOf(ctx, spec, opts, true)
	if err != nil {
		return nil, err
	}
	lock, err := resolve(spec, ix, time.Now(), pin)
	if err != nil {
		return nil, err
	}
	spec.Release, spec.Packages = lock.Release, lock.Packages
	headers, _ := ix.exact("linux-headers-"+lock.Release, lock.KernelPackage().Version)
	cc := compilerOf(headers)
	if o.Compiler != "" {
		cc = o.Compiler
	}
	if cc == "" {
		return nil, fmt.Errorf("image %s: the headers %s %s name no compiler; pass --compiler", o.Name, headers.Name, headers.Version)
	}
	spec.Compiler = cc
	if needs := kbuildLibc(lock, ix); needs != "" && compareVersions(needs, hostLibc()) > 0 {
		// The kbuild tools (fixdep, modpost, objtool) need a newer libc
		// than the host's: build modules in a root of the kernel's suite.
		spec.BuildRoot = &BuildRoot{Suite: baseSuite(o.Suite), Packages: []string{cc, "make", "libc6-dev", "libelf-dev", "dwarves"}}
	} else if _, err := exec.LookPath(spec.Target().Tool(cc)); err != nil && o.Compiler == "" && spec.Target().Native() {
		// Built with a compiler this host lacks (5.10: gcc-10 on bookworm):
		// the host's gcc-12 builds modules that load.
		if _, err := exec.LookPath("gcc-12"); err == nil {
			spec.KernelCompiler, spec.Compiler = cc, "gcc-12"
		}
	}
	// virtio_pci is a module on older kernels and built in on newer ones;
	// boot modules that are built in are skipped.
	spec.BootModules = []string{"virtio_pci", "virtio_net"}
	spec.File, spec.LockFile = specFile, LockPath(specFile)
	// A project's first added image makes its images/.
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return nil, err
	}
	if err := safefile.WriteAtomic(specFile, marshalSpec(spec, o)); err != nil {
		return nil, err
	}
	if err := WriteLock(spec.LockFile, lock); err != nil {
		os.Remove(specFile)
		return nil, err
	}
	return LoadSpec(specFile)
}

var (
	compilerDepRe = regexp.MustCompile(`^linux-compiler-(gcc-[0-9]+)-(?:x86|arm)$|^(gcc-[0-9]+)(-for-host)?$`)
)

// compilerOf is the compiler the headers package depends on.
func compilerOf(headers indexPackage) string {
	dep, err := dependency.Parse(headers.Depends)
	if err != nil {
		return ""
	}
	for _, rel := range dep.Relations {
		for _, p := range rel.Possibilities {
			if m := compilerDepRe.FindStringSubmatch(p.Name); m != nil {
				return m[1] + m[2]
			}
		}
	}
	return ""
}

// kbuildLibc is the libc6 version the lock's kbuild package needs ("" when
// it says none).
func kbuildLibc(l *Lock, ix suiteIndex) string {
	for _, p := range l.Packages {
		if !strings.HasPrefix(p.Name, "linux-kbuild-") {
			continue
		}
		e, ok := ix.exact(p.Name, p.Version)
		if !ok {
			return ""
		}
		dep, err := dependency.Parse(e.Depends)
		if err != nil {
			return ""
		}
		for _, rel := range dep.Relations {
			for _, q := range rel.Possibilities {
				if q.Name == "libc6" && q.Version != nil {
					return q.Version.Number
				}
			}
		}
	}
	return ""
}

// hostLibc is the host's glibc version ("2.36"), or "0" when unknown.
func hostLibc() string {
	out, err := exec.Command("getconf", "GNU_LIBC_VERSION").Output()
	if err != nil {
		return "0"
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "0"
	}
	return f[1]
}

// baseSuite is the suite a build root is made of: debootstrap makes no
// root of a security or updates suite, only of the release it serves.
func baseSuite(s string) string {
	for _, suf := range []string{"-security", "-updates", "-backports", "-proposed-updates"} {
		s = strings.TrimSuffix(s, suf)
	}
	return s
}

// marshalSpec writes an added spec, saying where it came from.
func marshalSpec(s *Spec, o AddOptions) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Added by `lab images add %s` on %s", s.Name, time.Now().UTC().Format("2006-01-02"))
	if o.Package != "" {
		fmt.Fprintf(&b, " from %s", o.Package)
	}
	fmt.Fprintf(&b, ".\n# The exact build is in %s.lock; lab follows the series when the mirror drops it.\n", s.Name)
	fmt.Fprintf(&b, "name: %s\n", s.Name)
	desc := s.Description
	if desc == "" {
		desc = fmt.Sprintf("Debian %s Linux %s %s kernel (%s)", s.Suite, s.Series, s.FlavourOrDefault(), s.Release)
	}
	fmt.Fprintf(&b, "description: %q\nsuite: %s\nseries: %q\n", desc, s.Suite, s.Series)
	if s.Arch != "" {
		fmt.Fprintf(&b, "arch: %s\n", s.Arch)
	}
	if s.Flavour != "" {
		fmt.Fprintf(&b, "flavour: %s\n", s.Flavour)
	}
	if s.KernelCompiler != "" {
		fmt.Fprintf(&b, "# Built with %s, which this host lacks; %s builds modules that load.\nkernel_compiler: %s\n", s.KernelCompiler, s.Compiler, s.KernelCompiler)
	}
	fmt.Fprintf(&b, "compiler: %s\n", s.Compiler)
	if s.BuildRoot != nil {
		fmt.Fprintf(&b, "# Its kbuild tools need a newer libc than this host's: modules build in a %s root.\nbuild_root:\n  suite: %s\n  packages: [%s]\n",
			s.BuildRoot.Suite, s.BuildRoot.Suite, strings.Join(s.BuildRoot.Packages, ", "))
	}
	fmt.Fprintf(&b, "# Built-in ones are skipped.\nboot_modules: [%s]\n", strings.Join(s.BootModules, ", "))
	return []byte(b.String())
}
