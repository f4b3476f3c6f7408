package kmod

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/safefile"
)

// BuildRoot is a Debian root that modules are built in (chroot), for
// kernels whose compiler or kbuild tools the host cannot run: 7.2's need
// gcc-16 and glibc 2.38, a bookworm host has gcc-12 and glibc 2.36.
//
// The root is made once by debootstrap --variant=minbase of Suite with
// Packages included, and cached by suite and packages under
// <Dir>/<key>/root. Before a build, the kernel's headers and kbuild
// packages are unpacked into it at their own paths (/usr/src/...), where
// their absolute paths hold without the rewrite the host-side tree needs.
// Making and entering it needs root.
type BuildRoot struct {
	Suite    string
	Packages []string
	// Mirror is the archive debootstrap installs from; "" means
	// $LAB_DEBIAN_MIRROR, else the host's apt sources
	// (image.SuiteMirror).
	Mirror string
	// Image is the kernel whose packages named linux-headers-* and
	// linux-kbuild-* are unpacked into the root; it must be fetched.
	Image *image.Image
	// Dir is where build roots are cached; "" means
	// <BuildOptions.CacheDir>/buildroots.
	Dir string
	// Progress hears that a root is being made (minutes, once); nil: silence.
	Progress io.Writer
}

// ImageBuildRoot returns the build root img's spec asks for (build_root),
// or nil when its modules build on the host. mirror is the --mirror flag's
// value ("" when not given). compiler is the compiler modules are built
// with: when it is not the spec's (a followed sid build may want gcc-17
// where the spec says gcc-16), the root installs it in place of the
// spec's, so its key changes and it is made again.
func ImageBuildRoot(img *image.Image, mirror, compiler string) *BuildRoot {
	br := img.Spec.BuildRoot
	if br == nil {
		return nil
	}
	pkgs := append([]string(nil), br.Packages...)
	if compiler != "" && compiler != img.Spec.Compiler {
		for i, p := range pkgs {
			if p == img.Spec.Compiler {
				pkgs[i] = compiler
			}
		}
	}
	return &BuildRoot{Suite: br.Suite, Packages: pkgs, Mirror: mirror, Image: img}
}

// buildRootVersion changes whenever the way roots are made changes, so that
// roots made by older code are made again.
const buildRootVersion = "lab-buildroot-1"

// Key identifies the root by what is installed in it: suite and packages
// (not the mirror: any mirror of the suite gives the same root).
func (b *BuildRoot) Key() string {
	pkgs := append([]string(nil), b.Packages...)
	sort.Strings(pkgs)
	h := sha256.Sum256([]byte(buildRootVersion + "\nsuite " + b.Suite + "\npackages " + strings.Join(pkgs, ",") + "\n"))
	return hex.EncodeToString(h[:])[:16]
}

// Cached says where b's root lives under cacheDir and whether it was made
// completely (lab doctor asks: making one takes minutes and root).
func (b *BuildRoot) Cached(cacheDir string) (string, bool) {
	dir := b.Dir
	if dir == "" {
		dir = filepath.Join(cacheDir, "buildroots")
	}
	return filepath.Join(dir, b.Key()), rootComplete(dir, b.Key())
}

// debs are the image's packages that go into the root.
func (b *BuildRoot) debs() ([]string, error) {
	if b.Image == nil {
		return nil, errors.New("build root: no kernel image")
	}
	all, err := b.Image.DebPaths()
	if err != nil {
		return nil, err
	}
	var out []string
	for i, p := range b.Image.Spec.Packages {
		if strings.HasPrefix(p.Name, "linux-headers-") || strings.HasPrefix(p.Name, "linux-kbuild-") {
			out = append(out, all[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("image %s has no linux-headers-* or linux-kbuild-* package to build against", b.Image.Spec.Name)
	}
	return out, nil
}

// rootDir is the chroot directory of a cached root.
func rootDir(dir, key string) string { return filepath.Join(dir, key, "root") }

// geteuid is os.Geteuid, replaced by tests.
var geteuid = os.Geteuid

// needRoot says why lab must run as root to make or use a build root.
func needRoot(b *BuildRoot, release string) error {
	if geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("kernel %s builds its modules in a Debian %s build root (chroot: the host cannot run its compiler or kbuild tools); "+
		"making and entering it needs root: run lab as root (sudo) once, after which the built modules are cached", release, b.Suite)
}

// buildInRoot builds the modules copied into buildDir (a directory under
// the root's /tmp) with make inside the root, and returns make's output.
// The caller holds the root's lock.
func buildInRoot(ctx context.Context, root, headers, buildDir, compiler string) ([]byte, error) {
	rel, err := filepath.Rel(root, buildDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("build dir %s is not inside the build root %s", buildDir, root)
	}
	args := []string{"make", "-C", "/" + strings.TrimPrefix(filepath.ToSlash(headers), "/"), "M=/" + filepath.ToSlash(rel), "-j" + strconv.Itoa(runtime.NumCPU())}
	if compiler != "" {
		args = append(args, "CC="+compiler)
	}
	args = append(args, "modules")
	return inRoot(ctx, root, args...)
}

// inRoot runs args inside root: chroot in a private mount namespace with
// proc mounted (objtool reads /proc: "read_stack_limit: fopen failed"
// without it). The namespace dies with the command, and its proc mount
// with it, however the command ends: nothing is left mounted on the host.
func inRoot(ctx context.Context, root string, args ...string) ([]byte, error) {
	script := `mount -t proc proc "$1/proc" && exec chroot "$@"`
	cmdArgs := append([]string{"--mount", "--propagation", "private", "--fork", "--kill-child", "--", "sh", "-c", script, "sh", root}, args...)
	cmd := exec.CommandContext(ctx, "unshare", cmdArgs...)
	// Should lab die without cancelling, unshare dies with it, and
	// --kill-child takes the command along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Dir = root
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/root"}
	return runGroup(ctx, cmd)
}

// runGroup runs cmd in a process group of its own, killed whole when ctx
// is done, and returns its combined output.
func runGroup(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	name := filepath.Base(cmd.Path)
	if len(cmd.Args) > 0 {
		name = filepath.Base(cmd.Args[0])
	}
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		err = fmt.Errorf("%s: %w", name, ctxErr)
	} else if err != nil {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return out.Bytes(), err
}

// prepareRoot makes sure the build root exists and holds the image's
// headers, and returns its chroot directory, locked: the caller runs its
// build and then calls unlock. Roots are made once per suite and package
// list; a root being made lives in a temporary directory until it is
// complete and renamed into place.
func prepareRoot(ctx context.Context, b *BuildRoot, dir, release string, log *slog.Logger) (root string, unlock func(), err error) {
	if err := needRoot(b, release); err != nil {
		return "", nil, err
	}
	debs, err := b.debs()
	if err != nil {
		return "", nil, err
	}
	key := b.Key()
	root = rootDir(dir, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	unlock, err = safefile.Lock(ctx, filepath.Join(dir, key+".lock"), log)
	if err != nil {
		return "", nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()
	log = log.With("suite", b.Suite, "buildroot", key)
	if !rootComplete(dir, key) {
		if err := makeRoot(ctx, b, dir, key, log); err != nil {
			return "", nil, err
		}
	}
	if err := unpackInto(ctx, root, debs, log); err != nil {
		return "", nil, fmt.Errorf("build root %s: %w", root, err)
	}
	ok = true
	return root, unlock, nil
}

// rootComplete says whether the cached root was made completely (its stamp
// is written last, before the rename).
func rootComplete(dir, key string) bool {
	b, err := os.ReadFile(filepath.Join(dir, key, "stamp"))
	if err != nil || !strings.HasPrefix(string(b), buildRootVersion+"\n") {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, key, "root", "usr", "bin"))
	return err == nil && fi.IsDir()
}

// makeRoot runs debootstrap into a temporary directory and renames it
// into place. The caller holds the root's lock.
func makeRoot(ctx context.Context, b *BuildRoot, dir, key string, log *slog.Logger) error {
	for _, p := range b.Packages {
		if strings.ContainsAny(p, ", \t") || p == "" {
			return fmt.Errorf("build root: bad package name %q", p)
		}
	}
	debootstrap, err := findDebootstrap(ctx, log)
	if err != nil {
		return err
	}
	if b.Progress != nil {
		fmt.Fprintf(b.Progress, "lab: making a Debian %s build root with %s for this kernel's modules (once; about two minutes)\n", b.Suite, strings.Join(b.Packages, ", "))
	}
	mirror := b.Mirror
	if mirror == "" {
		if mirror, err = image.SuiteMirror(b.Suite, image.FetchOptions{}); err != nil {
			return fmt.Errorf("build root %s: %w", b.Suite, err)
		}
	}
	// Leftovers of a process that died while making this root, and an old
	// incomplete root.
	old, _ := filepath.Glob(filepath.Join(dir, key+".tmp-*"))
	if _, err := os.Lstat(filepath.Join(dir, key)); err == nil {
		old = append(old, filepath.Join(dir, key))
	}
	for _, o := range old {
		log.Info("removing an incomplete build root", "dir", o)
		if err := removeTree(o); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(dir, key+".tmp-")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			if err := removeTree(tmp); err != nil {
				log.Warn("cannot remove the failed build root", "dir", tmp, "err", err)
			}
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	target := filepath.Join(tmp, "root")
	start := time.Now()
	log.Info("making a Debian build root with debootstrap (a minute or two, once)", "packages", b.Packages)
	args := []string{
		"--variant=minbase", "--include=" + strings.Join(b.Packages, ","),
		"--keyring=" + image.Keyring, b.Suite, target, mirror,
	}
	// debootstrap mounts proc and sys in the target while it installs;
	// in a private mount namespace they can never outlive it.
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "--fork", "--kill-child", "--", debootstrap}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := runGroup(ctx, cmd)
	os.WriteFile(filepath.Join(tmp, "debootstrap.log"), out, 0o644)
	if err != nil {
		return fmt.Errorf("debootstrap %s build root: %w\n%s", b.Suite, err, lastLinesOf(out, makeTailLines))
	}
	stamp := fmt.Sprintf("%s\nsuite %s\npackages %s\ncreated %s\nelapsed %s\n", buildRootVersion, b.Suite,
		strings.Join(b.Packages, ","), time.Now().UTC().Format(time.RFC3339), time.Since(start).Round(time.Second))
	if err := os.WriteFile(filepath.Join(tmp, "stamp"), []byte(stamp), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, key)); err != nil {
		return err
	}
	done = true
	log.Info("build root ready", "dir", filepath.Join(dir, key), "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// findDebootstrap returns debootstrap's path, installing it with apt-get
// when it is missing (lab runs as root here).
func findDebootstrap(ctx context.Context, log *slog.Logger) (string, error) {
	look := func() (string, error) {
		if p, err := exec.LookPath("debootstrap"); err == nil {
			return p, nil
		}
		const sbin = "/usr/sbin/debootstrap"
		if _, err := os.Stat(sbin); err != nil {
			return "", err
		}
		return sbin, nil
	}
	if p, err := look(); err == nil {
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	log.Info("installing debootstrap with apt-get (the build root needs it)")
	// Not killed with ctx: a dpkg run cut short leaves the host's package
	// database half-configured. An interrupt from the terminal reaches
	// apt-get itself, which stops cleanly.
	cmd := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("debootstrap is missing and apt-get could not install it (apt-get install debootstrap): %w\n%s", err, lastLinesOf(out, 10))
	}
	p, err := look()
	if err != nil {
		return "", errors.New("apt-get installed debootstrap, yet it is not found")
	}
	return p, nil
}

// unpackInto unpacks debs into root at their own paths, each set once: a
// marker under /var/lib/lab names the set. The caller holds the root's lock.
func unpackInto(ctx context.Context, root string, debs []string, log *slog.Logger) error {
	names := make([]string, len(debs))
	for i, d := range debs {
		names[i] = filepath.Base(d)
	}
	sort.Strings(names)
	h := sha256.Sum256([]byte(strings.Join(names, "\n")))
	marker := filepath.Join(root, "var", "lib", "lab", "debs-"+hex.EncodeToString(h[:])[:16])
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	start := time.Now()
	for _, d := range debs {
		if err := image.UnpackDeb(ctx, d, root); err != nil {
			return fmt.Errorf("unpacking %s: %w", filepath.Base(d), err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(marker, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	log.Info("unpacked the kernel's headers into the build root", "packages", names, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// rootHasCompiler checks that the compiler is in the root.
func rootHasCompiler(root, compiler string) bool {
	if compiler == "" {
		compiler = "gcc"
	}
	for _, d := range []string{"usr/bin", "usr/local/bin", "bin"} {
		if fi, err := os.Stat(filepath.Join(root, d, compiler)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// removeTree removes dir after checking that nothing is mounted below it:
// removing a tree with the host's /dev or /proc mounted into it would
// reach into them.
func removeTree(dir string) error {
	if m, err := mountsUnder(dir); err != nil {
		return err
	} else if len(m) > 0 {
		return fmt.Errorf("not removing %s: %s is mounted there; unmount it (umount -R %s) and run again", dir, strings.Join(m, ", "), dir)
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir (from
// /proc/self/mountinfo).
func mountsUnder(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	prefix := strings.TrimSuffix(abs, "/") + "/"
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; octal escapes for spaces.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == abs || strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes the octal escapes (\040 for a space …) of
// /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
