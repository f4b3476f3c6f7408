package image

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFixTree(t *testing.T) {
	root := t.TempDir()
	final := "/cache/images/x/root"
	hdr := filepath.Join(root, "usr/src/linux-headers-1-amd64")
	mustWrite(t, filepath.Join(hdr, "Makefile"), "include /usr/src/linux-headers-1-common/Makefile\n")
	mustWrite(t, filepath.Join(hdr, ".kernelvariables"), "export KBUILD_OUTPUT=/usr/src/linux-headers-1-amd64\nX = /opt/usr/src/keep\n")
	mustWrite(t, filepath.Join(root, "usr/src/linux-headers-1-common/include/md.h"), "/* see /usr/src/linux */\n")
	mods := filepath.Join(root, "lib/modules/1-amd64")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/src/linux-headers-1-amd64", filepath.Join(mods, "build")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../lib/linux-kbuild-1/scripts", filepath.Join(hdr, "scripts")); err != nil {
		t.Fatal(err)
	}
	if err := fixTree(root, final, "usr/src/linux-headers-1-amd64", discardLog()); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read(filepath.Join(hdr, "Makefile")), "include "+final+"/usr/src/linux-headers-1-common/Makefile\n"; got != want {
		t.Errorf("Makefile = %q, want %q", got, want)
	}
	if got := read(filepath.Join(hdr, ".kernelvariables")); !strings.Contains(got, "KBUILD_OUTPUT="+final+"/usr/src/") || !strings.Contains(got, "X = /opt/usr/src/keep") {
		t.Errorf(".kernelvariables = %q", got)
	}
	if got := read(filepath.Join(root, "usr/src/linux-headers-1-common/include/md.h")); got != "/* see /usr/src/linux */\n" {
		t.Errorf("a deep file was rewritten: %q", got)
	}
	if got, _ := os.Readlink(filepath.Join(mods, "build")); got != "../../../usr/src/linux-headers-1-amd64" {
		t.Errorf("build -> %q", got)
	}
	if got, _ := os.Readlink(filepath.Join(hdr, "scripts")); got != "../../lib/linux-kbuild-1/scripts" {
		t.Errorf("relative symlink changed: scripts -> %q", got)
	}
}

func TestCachedDebMismatchIsKept(t *testing.T) {
	dir := t.TempDir()
	p := Package{Name: "linux-kbuild-6.1", Version: "1:6.1.192-2", SHA256: strings.Repeat("0", 64)}
	bad := filepath.Join(dir, "linux-kbuild-6.1_1%3a6.1.192-2_amd64.deb")
	mustWrite(t, bad, "")
	got, stale, err := cachedDeb(dir, p, discardLog())
	if err != nil || got != "" || len(stale) != 1 || stale[0] != bad {
		t.Fatalf("got %q, %q, %v", got, stale, err)
	}
	// Kept until a download matches: the spec may be the one that is wrong.
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("mismatched file removed before any download: %v", err)
	}
	// A file with the right hash is used as it is.
	p.SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got, stale, err := cachedDeb(dir, p, discardLog()); err != nil || got != bad || stale != nil {
		t.Errorf("got %q, %q, %v", got, stale, err)
	}
}

func TestCacheDirEnv(t *testing.T) {
	t.Setenv(EnvCache, "/tmp/lab-cache-test")
	if d, err := CacheDir(); err != nil || d != "/tmp/lab-cache-test" {
		t.Errorf("got %q, %v", d, err)
	}
	t.Setenv(EnvCache, "")
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg")
	if d, err := CacheDir(); err != nil || d != "/tmp/xdg/lab" {
		t.Errorf("got %q, %v", d, err)
	}
}
