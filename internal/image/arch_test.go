package image

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
