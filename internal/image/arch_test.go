package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/image/archivetest"
)

// mixedIndex is the real bookworm-security index of 6.1.192-3 for amd64
// and arm64, as one private apt state with both architectures reads it.
func mixedIndex(t *testing.T) suiteIndex {
	t.Helper()
	ix := suiteIndex{}
	for _, a := range []string{"amd64", "arm64"} {
		f, err := os.Open(filepath.Join("testdata", "mixed-arch", a+".Packages"))
		if err != nil {
			t.Fatal(err)
		}
		err = parsePackagesIndex(f, "bookworm-security", "linux-", ix)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

// The two architectures' kbuild packages, by their sha256 in the index.
const (
	kbuildAMD64 = "98a1baa42a21088e25bcc91c4d8e8134cf1e9d6e978b8c4584f6c7d05e6cc9d6"
	headersARM  = "c35a734c09d05cb1bcce0bb7f98c4177c030d2da4f23fa076d352f627116854c"
)

// TestResolveArchitectures: from one index holding both architectures, an
// arm64 image locks the signed arm64 kernel, its arm64 headers, the
// common headers (all) and amd64's kbuild tools, and says each package's
// architecture; an amd64 image locks what it always did, no arm64 package
// and no arch field.
func TestResolveArchitectures(t *testing.T) {
	ix := mixedIndex(t)
	if n := len(ix["linux-kbuild-6.1"]); n != 2 {
		t.Fatalf("the index has %d linux-kbuild-6.1; want amd64's and arm64's", n)
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	arm := &Spec{Name: "debian-6.1-arm64", Suite: "bookworm-security", Series: "6.1", Arch: "arm64"}
	l, err := resolve(arm, ix.forArch(arm.ArchOrDefault()), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Package{}
	for _, p := range l.Packages {
		got[p.Name] = p
	}
	if l.Release != "6.1.0-57-arm64" || len(l.Packages) != 4 {
		t.Fatalf("arm64 lock %s with %+v; want 6.1.0-57-arm64 with four packages", l.Release, l.Packages)
	}
	for name, want := range map[string]string{
		"linux-image-6.1.0-57-arm64":    "arm64",
		"linux-headers-6.1.0-57-arm64":  "arm64",
		"linux-headers-6.1.0-57-common": "all",
		"linux-kbuild-6.1":              "",
	} {
		if p, ok := got[name]; !ok || p.Arch != want {
			t.Errorf("arm64 lock: %s = %+v; want arch %q", name, p, want)
		}
	}
	if got["linux-kbuild-6.1"].SHA256 != kbuildAMD64 || got["linux-headers-6.1.0-57-arm64"].SHA256 != headersARM {
		t.Errorf("arm64 lock took kbuild %s, headers %s; want amd64's kbuild and arm64's headers", got["linux-kbuild-6.1"].SHA256, got["linux-headers-6.1.0-57-arm64"].SHA256)
	}

	amd := &Spec{Name: "debian-6.1", Suite: "bookworm-security", Series: "6.1"}
	l, err = resolve(amd, ix.forArch(amd.ArchOrDefault()), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Release != "6.1.0-57-amd64" || len(l.Packages) != 4 {
		t.Fatalf("amd64 lock %s with %+v", l.Release, l.Packages)
	}
	for _, p := range l.Packages {
		if strings.Contains(p.Name, "arm64") || p.Arch != "" && p.Arch != "all" {
			t.Errorf("amd64 lock has %+v", p)
		}
		if p.Name == "linux-kbuild-6.1" && p.SHA256 != kbuildAMD64 {
			t.Errorf("amd64 lock's kbuild is %s", p.SHA256)
		}
	}
}

// TestArchInLocks: a lock written with architectures reads back the same,
// and apt is asked for a foreign package by name:arch.
func TestArchInLocks(t *testing.T) {
	l := &Lock{Image: "debian-6.1-arm64", Release: "6.1.0-57-arm64", Packages: []Package{
		{Name: "linux-image-6.1.0-57-arm64", Version: "6.1.192-3", SHA256: strings.Repeat("a", 64), Suite: "bookworm-security", Arch: "arm64"},
		{Name: "linux-headers-6.1.0-57-common", Version: "6.1.192-3", SHA256: strings.Repeat("b", 64), Arch: "all"},
		{Name: "linux-kbuild-6.1", Version: "6.1.192-3", SHA256: kbuildAMD64},
	}}
	back, err := parseLock("x.lock", l.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range back.Packages {
		if p != l.Packages[i] {
			t.Errorf("package %d read back as %+v; wrote %+v", i, p, l.Packages[i])
		}
	}
	for i, want := range []string{"linux-image-6.1.0-57-arm64:arm64", "linux-headers-6.1.0-57-common", "linux-kbuild-6.1"} {
		if got := aptName(l.Packages[i]); got != want {
			t.Errorf("aptName(%s) = %q; want %q", l.Packages[i].Name, got, want)
		}
	}
	if a, b := queryKey("linux-kbuild-6.1", "", "1"), queryKey("linux-kbuild-6.1", "arm64", "1"); a == b || a != queryKey("linux-kbuild-6.1", "amd64", "1") {
		t.Errorf("query keys: amd64 %q (empty arch the same), arm64 %q", a, b)
	}
	if got := debPattern("/d", l.Packages[1]); got != "/d/linux-headers-6.1.0-57-common_6.1.192-3_all.deb" {
		t.Errorf("debPattern(all) = %q", got)
	}
	if got := debPattern("/d", l.Packages[2]); got != "/d/linux-kbuild-6.1_6.1.192-3_*.deb" {
		t.Errorf("debPattern(amd64) = %q", got)
	}
}

// TestAptStateArchitectures: an arm64 image's private apt state reads
// both architectures' indexes, with amd64 native, in a directory of its
// own; an amd64 image's keeps the directory it always had.
func TestAptStateArchitectures(t *testing.T) {
	opts := FetchOptions{CacheDir: t.TempDir(), Keyring: "/k"}
	src := []aptSource{{suite: "bookworm-security", uri: "http://mirror.invalid/debian-security"}}
	amd, err := newAptStateFor(opts, src, aptArchs("amd64"))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := newAptStateFor(opts, src, aptArchs("arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if amd.dir == arm.dir {
		t.Errorf("one apt state for amd64 and arm64: %s", amd.dir)
	}
	// amd64's name is the hash of its sources alone, as before arm64.
	h := sha256.Sum256([]byte(strings.Join(amd.lines, "\n")))
	if filepath.Base(amd.dir) != hex.EncodeToString(h[:])[:16] {
		t.Errorf("the amd64 state moved to %s", amd.dir)
	}
	opt := func(a *aptState, key string) string {
		o := a.options()
		for i := 1; i < len(o); i += 2 {
			if k, v, _ := strings.Cut(o[i], "="); k == key {
				return v
			}
		}
		return ""
	}
	if opt(arm, "APT::Architecture") != "amd64" || opt(arm, "APT::Architectures") != "amd64,arm64" || opt(amd, "APT::Architectures") != "amd64" {
		t.Errorf("arm64 state: native %q, all %q; amd64 state: all %q", opt(arm, "APT::Architecture"), opt(arm, "APT::Architectures"), opt(amd, "APT::Architectures"))
	}
}

// TestFetchARM64 drives the real apt on a loopback archive that serves one
// build for amd64 and arm64, kbuild in both: an arm64 image locks and
// unpacks the arm64 kernel and headers with amd64's kbuild tools; when the
// mirror moves on it follows the series the same way; --locked refuses
// the same way; the amd64 image beside it is untouched.
func TestFetchARM64(t *testing.T) {
	key := archivetest.NewKey(t)
	ar := archivetest.Serve(t, key)
	pkgsA := append(archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1"), archivetest.KernelARM64("6.1", "6.1.0-1", "6.1.1-1")...)
	sums := ar.Publish(t, "", "testing", pkgsA)
	dir := t.TempDir()
	specFile := filepath.Join(dir, "t-arm64.yaml")
	if err := os.WriteFile(specFile, []byte("name: t-arm64\nsuite: testing\nseries: \"6.1\"\narch: arm64\ncompiler: gcc-12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadSpec(specFile)
	if err != nil {
		t.Fatal(err)
	}
	opts := FetchOptions{CacheDir: filepath.Join(dir, "cache"), Mirror: ar.URL, SecurityMirror: ar.URL, Keyring: key.Keyring, Log: testLog(t)}
	ctx := context.Background()
	l, err := Resolve(ctx, spec, opts, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range l.Packages {
		got = append(got, p.Name+":"+p.Arch)
	}
	if want := "linux-image-6.1.0-1-arm64:arm64 linux-headers-6.1.0-1-arm64:arm64 linux-headers-6.1.0-1-common:all linux-kbuild-6.1:"; l.Release != "6.1.0-1-arm64" || strings.Join(got, " ") != want {
		t.Fatalf("lock %s: %s; want 6.1.0-1-arm64: %s", l.Release, strings.Join(got, " "), want)
	}
	if kb := l.Packages[3]; kb.SHA256 != sums["linux-kbuild-6.1"] || kb.SHA256 == sums["linux-kbuild-6.1:arm64"] {
		t.Errorf("kbuild %s; want amd64's %s", kb.SHA256, sums["linux-kbuild-6.1"])
	}
	if err := WriteLock(spec.LockFile, l); err != nil {
		t.Fatal(err)
	}
	if spec, err = LoadSpec(specFile); err != nil {
		t.Fatal(err)
	}
	img, err := Fetch(ctx, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := kernelText(t, img); got != "arm64 kernel 6.1.1-1\n" {
		t.Errorf("kernel %q; want the arm64 one", got)
	}
	fixdep, err := os.ReadFile(filepath.Join(img.Root, "usr/lib/linux-kbuild-6.1/scripts/basic/fixdep"))
	if err != nil || string(fixdep) != "fixdep 6.1.1-1\n" {
		t.Errorf("kbuild's fixdep = %q, %v; want amd64's, which runs on the host", fixdep, err)
	}

	// The mirror moves on to build B for both: a fresh cache follows the
	// series to B's arm64 kernel; --locked refuses.
	ar.Publish(t, "", "testing", append(archivetest.Kernel("6.1", "6.1.0-2", "6.1.2-1"), archivetest.KernelARM64("6.1", "6.1.0-2", "6.1.2-1")...))
	fresh := opts
	fresh.CacheDir = t.TempDir()
	img, err = Fetch(ctx, spec, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if !img.Resolution.Followed || img.Spec.Release != "6.1.0-2-arm64" || kernelText(t, img) != "arm64 kernel 6.1.2-1\n" {
		t.Errorf("followed %v to %s, kernel %q; want the arm64 build B", img.Resolution.Followed, img.Spec.Release, kernelText(t, img))
	}
	fresh.CacheDir, fresh.Locked = t.TempDir(), true
	var le *LockedError
	if _, err := Fetch(ctx, spec, fresh); !errors.As(err, &le) {
		t.Errorf("--locked with the arm64 lock gone: %v; want a LockedError", err)
	}
}

// TestArchAllWithoutArch: locks written before lab read architectures
// say nothing of an arch-all package (the common headers, linux-source);
// the mirror still serves it, and a package fetched by name alone is
// fetched.
func TestArchAllWithoutArch(t *testing.T) {
	d := newDrift(t)
	var common int
	for i, p := range d.spec.Packages {
		if strings.HasSuffix(p.Name, "-common") {
			common = i
		}
	}
	if d.spec.Packages[common].Arch != "all" {
		t.Fatalf("the common headers are locked as %+v; want arch all", d.spec.Packages[common])
	}
	old := *d.spec
	old.Packages = slices.Clone(d.spec.Packages)
	old.Packages[common].Arch = ""
	ctx := context.Background()
	if ok, err := Served(ctx, &old, d.opts); err != nil || !ok {
		t.Errorf("a lock without the arch of its arch-all package: served %v, %v; want served", ok, err)
	}
	deb, err := DownloadPackage(ctx, "testing", "linux-headers-6.1.0-1-common", d.opts)
	if err != nil || !strings.HasSuffix(deb, "_all.deb") {
		t.Errorf("DownloadPackage of an arch-all package = %q, %v", deb, err)
	}
}
