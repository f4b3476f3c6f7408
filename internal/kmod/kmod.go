// Package kmod builds out-of-tree kernel modules (the families under kmods/)
// against a kernel image's headers, on the host or in a Debian build root
// for kernels the host cannot build for, caches the results by content, and
// reads the metadata of modules (.ko and .ko.xz).
package kmod

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/textutil"

	"github.com/ulikunitz/xz"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/safefile"
)

// BuildOptions says what to build and against which kernel.
type BuildOptions struct {
	Src        string // module family dir, e.g. <repo>/kmods/chardev
	HeadersDir string // kernel headers tree for make -C, usable from where it lies
	Release    string // uname -r of the kernel, for the cache key and error messages
	Compiler   string // e.g. "gcc-12": passed as CC=; empty leaves the headers' default
	CacheDir   string // e.g. ~/.cache/lab; outputs go under <CacheDir>/kmods/<hash>/
	KeyExtra   string // extra cache key material (image name, package versions)
	// BuildRoot, when set, builds inside that Debian root (chroot) rather
	// than on the host; HeadersDir still names the host-side tree, and
	// Compiler is looked for in the root.
	BuildRoot *BuildRoot
	// Arch is the kernel's architecture; one other than the host's
	// (amd64) cross-builds: ARCH=, CROSS_COMPILE= and the cross compiler
	// of Compiler's version (aarch64-linux-gnu-gcc-12), with the headers'
	// kbuild tools, which are the host's. The zero value is amd64.
	Arch arch.Arch
	Log  *slog.Logger
}

// keyVersion changes whenever the layout of the cache or the way modules are
// built changes, so that old entries are not reused.
const keyVersion = "lab-kmod-2"

// makeTailLines is how many lines of make's output a build error carries.
const makeTailLines = 30

// Build builds every module in o.Src and returns module name -> absolute .ko
// path. Results are cached under <CacheDir>/kmods/<hash>/ by a content hash of
// the files in Src, the HeadersDir path, Release, Compiler and KeyExtra: a
// call whose inputs are cached returns without running make (and without
// needing the compiler). Concurrent builds of the same inputs, in this or other
// processes, wait for each other and build once.
func Build(ctx context.Context, o BuildOptions) (map[string]string, error) {
	log := o.Log
	if log == nil {
		log = logx.Or(nil)
	}
	if o.Src == "" || o.HeadersDir == "" || o.CacheDir == "" {
		return nil, errors.New("kmod build: Src, HeadersDir and CacheDir must be set")
	}
	src, err := filepath.Abs(o.Src)
	if err != nil {
		return nil, err
	}
	headers, err := filepath.Abs(o.HeadersDir)
	if err != nil {
		return nil, err
	}
	cacheDir, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return nil, err
	}
	family := filepath.Base(src)
	if !isFamily(src) {
		return nil, fmt.Errorf("module family %s: no Kbuild file (or Makefile with obj-m)", src)
	}
	if _, err := os.Stat(filepath.Join(headers, "Makefile")); err != nil {
		return nil, fmt.Errorf("kernel %s: headers %s have no Makefile: %w", o.Release, headers, err)
	}

	o.Arch = o.Arch.OrDefault()
	if o.BuildRoot != nil && !o.Arch.Native() {
		return nil, fmt.Errorf("kernel %s: a build root builds for the host's architecture, not %s: lab cross-builds %s modules on the host", o.Release, o.Arch.Name, o.Arch.Name)
	}
	extra := o.KeyExtra
	if !o.Arch.Native() {
		extra += "\narch " + o.Arch.Name
	}
	if o.BuildRoot != nil {
		extra += "\nbuildroot " + o.BuildRoot.Key()
	}
	key, err := cacheKey(src, headers, o.Release, o.Compiler, extra)
	if err != nil {
		return nil, err
	}
	kmodsDir := filepath.Join(cacheDir, "kmods")
	outDir := filepath.Join(kmodsDir, key)
	log = log.With("family", family, "release", o.Release, "key", key)

	// Fast path: a complete entry is a directory renamed into place.
	if mods, err := cached(outDir); err == nil {
		log.Debug("kmod cache hit", "dir", outDir)
		return mods, nil
	}

	// Check the tools before taking the lock, so that a missing compiler is
	// reported at once, clearly.
	if o.BuildRoot != nil {
		if err := needRoot(o.BuildRoot, o.Release); err != nil {
			return nil, err
		}
	} else {
		if o.Compiler != "" {
			if cc := o.Arch.Tool(o.Compiler); !o.Arch.Native() {
				if _, err := exec.LookPath(cc); err != nil {
					return nil, fmt.Errorf("kernel %s (%s) was built with %s; install its cross compiler %s (apt-get install %s)", o.Release, o.Arch.Name, o.Compiler, cc, o.Arch.CrossPackage(o.Compiler))
				}
			} else if _, err := exec.LookPath(cc); err != nil {
				return nil, fmt.Errorf("kernel %s was built with %s; install it (apt-get install %s)", o.Release, o.Compiler, o.Compiler)
			}
		}
		if _, err := exec.LookPath("make"); err != nil {
			return nil, errors.New("make not found; install it (apt-get install make)")
		}
	}

	if err := os.MkdirAll(kmodsDir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := safefile.Lock(ctx, filepath.Join(kmodsDir, key+".lock"), o.Log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Someone may have built it while we waited for the lock.
	mods, err := cached(outDir)
	switch {
	case err == nil:
		log.Debug("kmod cache hit after waiting for lock", "dir", outDir)
		return mods, nil
	case errors.Is(err, errDamaged):
		// Removed under the lock, so no other lab is reading it now.
		log.Warn("kmod cache entry is damaged; building it again", "dir", outDir, "err", err)
		if err := os.RemoveAll(outDir); err != nil {
			return nil, err
		}
	}
	start := time.Now()

	var (
		buildDir string
		out      []byte
	)
	if o.BuildRoot != nil {
		dir := o.BuildRoot.Dir
		if dir == "" {
			dir = filepath.Join(cacheDir, "buildroots")
		}
		root, unlockRoot, err := prepareRoot(ctx, o.BuildRoot, dir, o.Release, log)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", o.Release, err)
		}
		defer unlockRoot()
		if !rootHasCompiler(root, o.Compiler) {
			return nil, fmt.Errorf("kernel %s: the %s build root has no %s: add it to build_root's packages", o.Release, o.BuildRoot.Suite, o.Compiler)
		}
		if buildDir, err = os.MkdirTemp(filepath.Join(root, "tmp"), "lab-kmod-"+family+"-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(buildDir)
		if err := copySources(src, buildDir); err != nil {
			return nil, fmt.Errorf("copy %s: %w", src, err)
		}
		start = time.Now() // the module build, not the making of the root
		log.Info("building kernel modules in the build root", "src", src, "root", root, "cc", o.Compiler)
		out, err = buildInRoot(ctx, root, o.BuildRoot.Image.HeadersRel(), buildDir, o.Compiler)
		if err != nil {
			return nil, fmt.Errorf("build %s against kernel %s in the %s build root %s: %w\n%s", family, o.Release, o.BuildRoot.Suite, root, err, lastLinesOf(out, makeTailLines))
		}
		log.Debug("make output", "output", string(out))
	} else {
		log.Info("building kernel modules", "src", src, "headers", headers, "cc", o.Compiler)
		if buildDir, err = os.MkdirTemp("", "lab-kmod-"+family+"-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(buildDir)
		if err := copySources(src, buildDir); err != nil {
			return nil, fmt.Errorf("copy %s: %w", src, err)
		}
		out, err = runMake(ctx, headers, buildDir, o.Compiler, o.Arch)
		if err != nil {
			return nil, fmt.Errorf("build %s against kernel %s (%s): %w%s\n%s", family, o.Release, headers, err, hint(out), lastLinesOf(out, makeTailLines))
		}
		log.Debug("make output", "output", string(out))
	}

	kos, err := findKOs(buildDir)
	if err != nil {
		return nil, err
	}
	if len(kos) == 0 {
		return nil, fmt.Errorf("build %s against kernel %s: make produced no .ko file\n%s", family, o.Release, lastLinesOf(out, makeTailLines))
	}

	staging, err := os.MkdirTemp(kmodsDir, key+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(staging) // a no-op once renamed
	if err := os.Chmod(staging, 0o755); err != nil {
		return nil, err
	}
	var sums strings.Builder
	for _, ko := range kos {
		dst := filepath.Join(staging, filepath.Base(ko))
		if err := copyFile(ko, dst, 0o644); err != nil {
			return nil, err
		}
		sum, err := safefile.SHA256(dst)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, filepath.Base(ko))
	}
	// The seal: what cached checks before trusting the entry.
	if err := os.WriteFile(filepath.Join(staging, sumsFile), []byte(sums.String()), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(staging, "build.log"), out, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(staging, outDir); err != nil {
		return nil, fmt.Errorf("store built modules: %w", err)
	}
	if mods, err = cached(outDir); err != nil {
		return nil, err
	}
	log.Info("built kernel modules", "modules", len(mods), "dir", outDir, "elapsed", time.Since(start).Round(time.Millisecond))
	return mods, nil
}

// ModInfo reads the .modinfo section of a kernel module, a plain .ko file
// or an xz-compressed .ko.xz (as Debian ships them since 6.12), and returns
// its key=value fields: name, vermagic, depends, license, description...
// A key present more than once (alias, parm) has its values joined with
// "\n"; depends is one comma-separated value, which Depends splits.
func ModInfo(path string) (map[string]string, error) {
	data, err := modinfoSection(path)
	if err != nil {
		return nil, fmt.Errorf("modinfo %s: %w", path, err)
	}
	info := map[string]string{}
	for _, field := range bytes.Split(data, []byte{0}) {
		if len(field) == 0 {
			continue // padding between entries
		}
		k, v, ok := strings.Cut(string(field), "=")
		if !ok {
			continue
		}
		if old, dup := info[k]; dup {
			v = old + "\n" + v
		}
		info[k] = v
	}
	return info, nil
}

// maxModuleSize bounds what a compressed module may expand to; the largest
// modules Debian ships are tens of MiB.
const maxModuleSize = 512 << 20

// modinfoSection returns the bytes of the module's .modinfo section.
func modinfoSection(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var r io.ReaderAt = fh
	if strings.HasSuffix(path, ".xz") {
		// The kernel's own format (xz --check=crc32 --lzma2=dict=1MiB):
		// decompress it whole, an ELF reader wants random access.
		xr, err := xz.NewReader(bufio.NewReader(fh))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(xr, maxModuleSize+1))
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		if n > maxModuleSize {
			return nil, fmt.Errorf("xz: expands to more than %d MiB", maxModuleSize>>20)
		}
		r = bytes.NewReader(buf.Bytes())
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section (not a kernel module)")
	}
	return sec.Data()
}

// Depends returns the module names in info's depends field (as returned by
// ModInfo), or nil when the module depends on nothing.
func Depends(info map[string]string) []string {
	var deps []string
	for _, d := range strings.Split(info["depends"], ",") {
		if d = strings.TrimSpace(d); d != "" {
			deps = append(deps, d)
		}
	}
	return deps
}

// sumsFile seals a cache entry: the sha256 of each .ko, in sha256sum's
// format, written before the entry is renamed into place.
const sumsFile = "SHA256SUMS"

// errDamaged marks a cache entry whose files no longer match its seal (a
// truncated copy, a disk error, a hand edit): it must be built again.
var errDamaged = errors.New("damaged cache entry")

// cached returns the modules of a complete cache entry: fs.ErrNotExist
// when there is none, errDamaged when its modules do not match the seal.
func cached(outDir string) (map[string]string, error) {
	seal, err := os.ReadFile(filepath.Join(outDir, sumsFile))
	if err != nil {
		if _, serr := os.Stat(outDir); serr == nil {
			return nil, fmt.Errorf("%w: %s has no %s", errDamaged, outDir, sumsFile)
		}
		return nil, fs.ErrNotExist
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(seal)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || name != filepath.Base(name) || !strings.HasSuffix(name, ".ko") {
			return nil, fmt.Errorf("%w: bad line %q in %s", errDamaged, line, sumsFile)
		}
		want[name] = sum
	}
	kos, err := filepath.Glob(filepath.Join(outDir, "*.ko"))
	if err != nil {
		return nil, err
	}
	if len(kos) != len(want) {
		return nil, fmt.Errorf("%w: %s holds %d modules, sealed %d", errDamaged, outDir, len(kos), len(want))
	}
	mods := make(map[string]string, len(kos))
	for _, ko := range kos {
		got, err := safefile.SHA256(ko)
		if err != nil {
			return nil, err
		}
		if got != want[filepath.Base(ko)] {
			return nil, fmt.Errorf("%w: %s does not match its sha256", errDamaged, ko)
		}
		mods[moduleName(ko)] = ko
	}
	return mods, nil
}

// moduleName is the kernel's name for a module file, as kbuild derives
// KBUILD_MODNAME: the file name without .ko, dashes turned into underscores.
func moduleName(ko string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
}

// isBuildOutput reports whether a file in a module source dir is something a
// build left behind (an in-place make), which must neither enter the cache key
// nor be copied into the build dir, where a stale object could be reused.
func isBuildOutput(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true // .*.cmd, .tmp_versions, editor and VCS files
	}
	switch name {
	case "modules.order", "Module.symvers", "Module.markers", "modules.builtin":
		return true
	}
	for _, suf := range []string{".o", ".ko", ".mod", ".mod.c", ".a", ".cmd", ".dwo", ".order", ".symvers"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// sourceFiles lists the regular files under src (paths relative to src, in
// lexical order), build outputs left out.
func sourceFiles(src string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		if isBuildOutput(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows symlinks
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	})
	sort.Strings(files)
	return files, err
}

// cacheKey hashes everything a build's result depends on.
func cacheKey(src, headers, release, compiler, extra string) (string, error) {
	files, err := sourceFiles(src)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, s := range []string{keyVersion, headers, release, compiler, extra} {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %d:%s %d\n", len(rel), filepath.ToSlash(rel), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func copySources(src, dst string) error {
	files, err := sourceFiles(src)
	if err != nil {
		return err
	}
	for _, rel := range files {
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(src, rel), to, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string, perm os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runMake runs kbuild for the external modules in dir and returns its
// combined output. make and everything it starts run in their own process
// group, which is killed when ctx is done.
func runMake(ctx context.Context, headers, dir, compiler string, a arch.Arch) ([]byte, error) {
	args := []string{"-C", headers, "M=" + dir, "-j" + strconv.Itoa(runtime.NumCPU())}
	if !a.Native() {
		// The arm64 headers set ARCH themselves, and CC to
		// $(CROSS_COMPILE)gcc-12; the host's CC would fail on arm64's
		// flags (-mbranch-protection), so CC is the cross compiler too.
		args = append(args, "ARCH="+a.KernelARCH, "CROSS_COMPILE="+a.CrossPrefix)
	}
	if compiler != "" {
		args = append(args, "CC="+a.Tool(compiler))
	}
	args = append(args, "modules")
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return runGroup(ctx, cmd)
}

// hint names the package a failed host build lacks, when make's output
// says so plainly.
func hint(out []byte) string {
	switch {
	case bytes.Contains(out, []byte("pahole: not found")) || bytes.Contains(out, []byte("pahole: No such file")):
		return " (pahole is missing: 6.12+ module builds need it for BTF; apt-get install dwarves)"
	case bytes.Contains(out, []byte("GLIBC_2.")) && bytes.Contains(out, []byte("not found")):
		return " (the kernel's kbuild tools need a newer glibc than the host's: give the image a build_root)"
	}
	return ""
}

// findKOs returns the .ko files a build left in dir.
func findKOs(dir string) ([]string, error) {
	var kos []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			kos = append(kos, p)
		}
		return nil
	})
	return kos, err
}

// lastLinesOf is the tail of a build's output, for an error message.
func lastLinesOf(out []byte, n int) string {
	return strings.Join(textutil.LastLines(string(out), n), "\n")
}
