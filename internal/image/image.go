package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvCache overrides the cache directory, so that tests and CI share one
// download with the rest of lab.
const EnvCache = "LAB_CACHE"

// CacheDir is lab's cache directory: $LAB_CACHE if set, else
// $XDG_CACHE_HOME/lab, else ~/.cache/lab.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCache); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w", err)
	}
	return filepath.Join(d, "lab"), nil
}

// Image is a spec unpacked (or to be unpacked) under a cache directory.
type Image struct {
	Spec *Spec
	// Root is the directory all packages are unpacked into.
	Root string
	// Resolution says how Spec's packages relate to the lock (set by
	// Fetch).
	Resolution Resolution
}

// New returns the image of spec in cacheDir, fetched or not; Cached says
// which.
func New(spec *Spec, cacheDir string) *Image {
	return &Image{Spec: spec, Root: filepath.Join(imageDir(cacheDir, spec.Name), buildID(spec), "root")}
}

func imagesDir(cacheDir string) string      { return filepath.Join(cacheDir, "images") }
func imageDir(cacheDir, name string) string { return filepath.Join(imagesDir(cacheDir), name) }
func (img *Image) dir() string              { return filepath.Dir(img.Root) }
func (img *Image) stampPath() string        { return filepath.Join(img.dir(), "stamp") }
func (img *Image) lockPath() string         { return filepath.Dir(img.dir()) + ".lock" }

// buildID names one build of an image in the cache: its release and a hash
// of its packages. Builds live side by side, so a followed build and the
// locked one (or two checkouts with different locks) never unpack over
// each other.
func buildID(spec *Spec) string {
	h := sha256.New()
	for _, p := range spec.Packages {
		fmt.Fprintf(h, "%s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	r := spec.Release
	if r == "" {
		r = "unresolved"
	}
	return r + "-" + hex.EncodeToString(h.Sum(nil))[:8]
}
func (img *Image) abs(rel string) string {
	return filepath.Join(img.Root, filepath.FromSlash(rel))
}

// The parts of an image are found in the unpacked tree from the release
// string alone, so a new ABI number or a package split (7.2 moved the
// kernel into linux-binary-*, under usr/lib/modules) needs no spec edit.
// Candidates are tried in order; the first that exists wins.
func kernelCandidates(r string) []string {
	return []string{"boot/vmlinuz-" + r, "usr/lib/modules/" + r + "/vmlinuz", "lib/modules/" + r + "/vmlinuz", "arch/x86/boot/bzImage"}
}

func systemMapCandidates(r string) []string {
	return []string{"boot/System.map-" + r, "usr/lib/modules/" + r + "/System.map", "lib/modules/" + r + "/System.map", "System.map"}
}

// modulesCandidates: the 5.10 and 6.1 headers packages ship
// lib/modules/R/build too, so the modules tree is the one with kernel/.
func modulesCandidates(r string) []string {
	return []string{"lib/modules/" + r + "/kernel", "usr/lib/modules/" + r + "/kernel"}
}

func (img *Image) find(cands []string) string {
	for _, c := range cands {
		if _, err := os.Stat(img.abs(c)); err == nil {
			return c
		}
	}
	return cands[0]
}

// KernelPath is the absolute path of the kernel (vmlinuz).
func (img *Image) KernelPath() string { return img.abs(img.find(kernelCandidates(img.Spec.Release))) }

// SystemMapPath is the absolute path of the kernel's System.map. Debian's
// is a one-line placeholder ("The real System.map is in the
// linux-image-<version>-dbg package"); use the guest's /proc/kallsyms (with
// nokaslr) to symbolize addresses.
func (img *Image) SystemMapPath() string {
	return img.abs(img.find(systemMapCandidates(img.Spec.Release)))
}

// HeadersRel is the headers tree to pass to make -C, relative to the root
// (a build root unpacks the packages at /).
func (img *Image) HeadersRel() string {
	if img.Spec.Tree != "" {
		return "." // a build tree is its own headers
	}
	return "usr/src/linux-headers-" + img.Spec.Release
}

// HeadersDir is the absolute path of the headers tree.
func (img *Image) HeadersDir() string { return img.abs(img.HeadersRel()) }

// ModulesDir is the absolute path of the kernel's modules
// (lib/modules/RELEASE or usr/lib/modules/RELEASE).
func (img *Image) ModulesDir() string {
	if img.Spec.Tree != "" {
		return img.Root // its .ko files and modules.builtin
	}
	return filepath.Dir(img.abs(img.find(modulesCandidates(img.Spec.Release))))
}

// checkLayout says which part of the image the unpacked tree lacks.
func (img *Image) checkLayout() error {
	for _, f := range []struct {
		what  string
		cands []string
	}{
		{"kernel", kernelCandidates(img.Spec.Release)}, {"System.map", systemMapCandidates(img.Spec.Release)},
		{"headers", []string{img.HeadersRel()}}, {"modules", modulesCandidates(img.Spec.Release)},
	} {
		if _, err := os.Stat(img.abs(img.find(f.cands))); err != nil {
			return fmt.Errorf("release %s: no %s in the unpacked packages (looked for %s)", img.Spec.Release, f.what, strings.Join(f.cands, ", "))
		}
	}
	return nil
}

// DebPaths returns the image's cached .deb files in spec order, for
// callers that unpack them elsewhere (a chroot build root keeps the
// headers at their own /usr/src paths). Fetch has verified them.
func (img *Image) DebPaths() ([]string, error) {
	dir := debsDir(img.cacheDir())
	var out []string
	for _, p := range img.Spec.Packages {
		m, err := filepath.Glob(debPattern(dir, p))
		if err != nil {
			return nil, err
		}
		if len(m) != 1 {
			return nil, fmt.Errorf("image %s: package %s %s is not in the cache (%d files); fetch the image first", img.Spec.Name, p.Name, p.Version, len(m))
		}
		out = append(out, m[0])
	}
	return out, nil
}

func (img *Image) debsPresent() bool {
	_, err := img.DebPaths()
	return err == nil
}

// cacheDir is the cache the image lives in: <cache>/images/<name>/<build>/root.
func (img *Image) cacheDir() string { return filepath.Dir(filepath.Dir(filepath.Dir(img.dir()))) }

// unpackVersion changes whenever unpacking or fixing up the tree changes,
// so that trees made by older code are made again.
const unpackVersion = "lab-image-unpack 2"

// stamp identifies what the unpacked tree was made from: the package list,
// the headers fixed up, and the root path those fixes point into (a moved
// cache must be unpacked again).
func (img *Image) stamp() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nroot %s\nrelease %s\n", unpackVersion, img.Root, img.Spec.Release)
	for _, p := range img.Spec.Packages {
		fmt.Fprintf(h, "package %s %s %s\n", p.Name, p.Version, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Cached says whether the image is unpacked and matches its spec.
func (img *Image) Cached() bool {
	b, err := os.ReadFile(img.stampPath())
	if err != nil || strings.TrimSpace(string(b)) != img.stamp() {
		return false
	}
	fi, err := os.Stat(img.Root)
	return err == nil && fi.IsDir()
}

// HeadersCompiler is the compiler the kernel was built with, as the
// headers' .kernelvariables name it (e.g. "gcc-12").
func (img *Image) HeadersCompiler() (string, error) {
	f := filepath.Join(img.HeadersDir(), ".kernelvariables")
	b, err := os.ReadFile(f)
	if err != nil {
		return "", err
	}
	return compilerFromKernelVariables(f, b)
}

func compilerFromKernelVariables(file string, b []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), "override ")) != "CC" {
			continue
		}
		// CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		cc := f[len(f)-1]
		cc = cc[strings.LastIndex(cc, ")")+1:]
		if cc == "" {
			break
		}
		return cc, nil
	}
	return "", errors.New(file + ": names no compiler (no CC line)")
}
