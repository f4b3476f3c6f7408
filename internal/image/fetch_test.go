package image

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realCache is the cache the real tests share with the rest of the suite
// ($LAB_CACHE or the default), so that the image is downloaded once.
func realCache(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("downloads a real kernel; skipped with -short")
	}
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host", tool)
		}
	}
	d, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestFetchDebian61(t *testing.T) {
	cache := realCache(t)
	spec, err := LoadSpec("../../images/debian-6.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	img, err := Fetch(ctx, spec, FetchOptions{CacheDir: cache, Progress: t.Output(), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fetch took %v (root %s)", time.Since(start).Round(time.Millisecond), img.Root)
	if img.Resolution.Followed {
		t.Logf("the lock is stale: followed %s to %s", spec.PackageVersion(), img.Spec.PackageVersion())
	}
	spec = img.Spec
	if !img.Cached() {
		t.Error("not cached after fetch")
	}

	// A bzImage carries "HdrS" at 0x202 (the x86 boot protocol header).
	k, err := os.ReadFile(img.KernelPath())
	if err != nil {
		t.Fatal(err)
	}
	if len(k) < 1<<20 || string(k[0x202:0x206]) != "HdrS" {
		t.Errorf("%s is no bzImage (%d bytes)", img.KernelPath(), len(k))
	}
	sm, err := os.ReadFile(img.SystemMapPath())
	if err != nil {
		t.Fatal(err)
	}
	// Debian ships a one-line placeholder (the real map is in the 858 MB
	// -dbg package); accept it, but notice if that ever changes.
	if !bytes.Contains(sm, []byte(" T start_kernel\n")) && !bytes.Contains(sm, []byte("The real System.map is in the linux-image-<version>-dbg package")) {
		t.Errorf("%s is neither a System.map nor Debian's placeholder: %.100q", img.SystemMapPath(), sm)
	}

	mk, err := os.ReadFile(filepath.Join(img.HeadersDir(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	common := "usr/src/linux-headers-" + strings.TrimSuffix(img.Spec.Release, "-amd64") + "-common"
	want := "include " + img.Root + "/" + common + "/Makefile"
	if !strings.Contains(string(mk), want) {
		t.Errorf("headers Makefile = %q, want it to hold %q", mk, want)
	}
	if _, err := os.Stat(filepath.Join(img.Root, common, "Makefile")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(img.HeadersDir(), "scripts", "basic", "fixdep")); err != nil {
		t.Errorf("kbuild scripts not reachable from the headers: %v", err)
	}
	// lib/modules/RELEASE/build must lead into this root, not the host's.
	if build, err := filepath.EvalSymlinks(filepath.Join(img.ModulesDir(), "build")); err != nil || build != img.HeadersDir() {
		t.Errorf("modules build link resolves to %q, %v", build, err)
	}
	if cc, err := img.HeadersCompiler(); err != nil || cc != spec.Compiler {
		t.Errorf("headers compiler %q, %v; spec says %s", cc, err, spec.Compiler)
	}
	for _, m := range spec.BootModules {
		name := strings.ReplaceAll(m, "_", "?")
		found, _ := filepath.Glob(filepath.Join(img.ModulesDir(), "kernel", "*", "*", name+".ko*"))
		more, _ := filepath.Glob(filepath.Join(img.ModulesDir(), "kernel", "*", "*", "*", name+".ko*"))
		if len(found)+len(more) == 0 {
			t.Errorf("boot module %s is not in %s", m, img.ModulesDir())
		}
	}

	debs, err := img.DebPaths()
	if err != nil || len(debs) != len(spec.Packages) {
		t.Errorf("debs %v, %v", debs, err)
	}

	// A second fetch finds it in the cache.
	start = time.Now()
	if _, err := Fetch(ctx, spec, FetchOptions{CacheDir: cache, Log: testLog(t)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cached fetch took %v", d)
	}

	t.Run("module builds", func(t *testing.T) {
		for _, tool := range []string{"make", spec.Compiler} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("no %s on this host", tool)
			}
		}
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "Kbuild"), "obj-m := hello.o\n")
		mustWrite(t, filepath.Join(dir, "hello.c"), `#include <linux/module.h>
#include <linux/init.h>
static int __init hello_init(void) { pr_info("hello\n"); return 0; }
static void __exit hello_exit(void) { }
module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
`)
		cmd := exec.CommandContext(ctx, "make", "-C", img.HeadersDir(), "M="+dir, "CC="+spec.Compiler, "modules")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		ko, err := os.ReadFile(filepath.Join(dir, "hello.ko"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(ko, []byte("vermagic="+spec.Release+" ")) {
			t.Errorf("hello.ko lacks vermagic=%s", spec.Release)
		}
	})
}

// TestFetchRealMirrorEmptyCache is what a fresh machine does: the default
// image from the host's mirror into an empty cache, the lock or (when the
// mirror dropped it) the newest build of its series, never an error.
func TestFetchRealMirrorEmptyCache(t *testing.T) {
	realCache(t)
	spec, err := LoadSpec("../../images/debian-6.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	img, err := Fetch(context.Background(), spec, FetchOptions{CacheDir: t.TempDir(), Progress: &progress, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(img.KernelPath()); err != nil {
		t.Error(err)
	}
	follow := strings.Contains(progress.String(), "debian-6.1: locked "+spec.PackageVersion()+" is gone")
	if follow != img.Resolution.Followed {
		t.Errorf("followed %v, but the follow line printed: %v", img.Resolution.Followed, follow)
	}
	t.Logf("locked %s, ran %s (followed %v)", spec.PackageVersion(), img.Spec.PackageVersion(), img.Resolution.Followed)
}

// TestFetchNotServed asks the real mirror for a version it never had:
// with --locked that is a refusal naming the package; without, lab
// follows the series to what the mirror serves.
func TestFetchNotServed(t *testing.T) {
	cache := realCache(t)
	spec, err := LoadSpec("../../images/debian-6.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := *spec
	bad.Name = "not-served"
	bad.Packages = []Package{{Name: "linux-kbuild-6.1", Version: "6.1.1-1", SHA256: strings.Repeat("0", 64)}}
	_, err = Fetch(context.Background(), &bad, FetchOptions{CacheDir: cache, Log: testLog(t), Locked: true})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LockedError", err)
	}
	if !strings.Contains(err.Error(), "image not-served: --locked, and these locked packages are neither cached nor served:\n  linux-kbuild-6.1 6.1.1-1 (bookworm-security)") {
		t.Errorf("err = %v", err)
	}

	// The index knows the real hash: a wrong one in a spec fails before
	// any download.
	bad.Packages = []Package{spec.Packages[3]}
	bad.Packages[0].SHA256 = strings.Repeat("1", 64)
	_, err = Fetch(context.Background(), &bad, FetchOptions{CacheDir: cache, Log: testLog(t)})
	if err == nil || !strings.Contains(err.Error(), "the mirror's index says sha256 "+spec.Packages[3].SHA256+", the lock says 1111") {
		t.Errorf("err = %v", err)
	}
	os.Remove(New(&bad, cache).lockPath())
	// The good cached file survived the bad spec.
	if img := New(spec, cache); img.Cached() {
		if _, err := img.DebPaths(); err != nil {
			t.Error(err)
		}
	}
}
