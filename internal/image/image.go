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
}

// New returns the image of spec in cacheDir, fetched or not; Cached says
// which.
func New(spec *Spec, cacheDir string) *Image {
	return &Image{Spec: spec, Root: filepath.Join(imageDir(cacheDir, spec.Name), "root")}
}

func imagesDir(cacheDir string) string      { return filepath.Join(cacheDir, "images") }
func imageDir(cacheDir, name string) string { return filepath.Join(imagesDir(cacheDir), name) }
func (img *Image) dir() string              { return filepath.Dir(img.Root) }
func (img *Image) stampPath() string        { return filepath.Join(img.dir(), "stamp") }
func (img *Image) lockPath() string         { return img.dir() + ".lock" }
func (img *Image) abs(rel string) string {
	return filepath.Join(img.Root, filepath.FromSlash(rel))
}

// KernelPath is the absolute path of the kernel (vmlinuz).
func (img *Image) KernelPath() string { return img.abs(img.Spec.Kernel) }

// SystemMapPath is the absolute path of the kernel's System.map. Debian's
// is a one-line placeholder ("The real System.map is in the
// linux-image-<version>-dbg package"); use the guest's /proc/kallsyms (with
// nokaslr) to symbolize addresses.
func (img *Image) SystemMapPath() string { return img.abs(img.Spec.SystemMap) }

// HeadersDir is the absolute path of the headers tree to pass to make -C.
func (img *Image) HeadersDir() string { return img.abs(img.Spec.Headers) }

// ModulesDir is the absolute path of the kernel's modules
// (lib/modules/RELEASE).
func (img *Image) ModulesDir() string { return img.abs(img.Spec.Modules) }

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

// cacheDir is the cache the image lives in: <cache>/images/<name>/root.
func (img *Image) cacheDir() string { return filepath.Dir(filepath.Dir(img.dir())) }

// unpackVersion changes whenever unpacking or fixing up the tree changes,
// so that trees made by older code are made again.
const unpackVersion = "lab-image-unpack 1"

// stamp identifies what the unpacked tree was made from: the package list,
// the headers fixed up, and the root path those fixes point into (a moved
// cache must be unpacked again).
func (img *Image) stamp() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nroot %s\nheaders %s\n", unpackVersion, img.Root, img.Spec.Headers)
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
