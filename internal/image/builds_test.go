package image

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/image/archivetest"
)

// TestChangelogBetween reads an excerpt of the real changelog that
// linux-headers-6.1.0-57-common (6.1.192-3) carries, each entry cut to its
// first lines: the entries after 6.1.187-1 up to 6.1.192-2, newest first.
func TestChangelogBetween(t *testing.T) {
	img := &Image{Spec: &Spec{Name: "debian-6.1"}, Root: "testdata/changelog"}
	entries, err := img.Changelog()
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, e := range entries {
		versions = append(versions, e.Version)
	}
	if want := []string{"6.1.192-3", "6.1.192-2", "6.1.192-1", "6.1.190-1", "6.1.187-1"}; !slices.Equal(versions, want) {
		t.Fatalf("versions %q; want %q", versions, want)
	}
	got := Between(entries, "6.1.187-1", "6.1.192-2")
	versions = nil
	for _, e := range got {
		versions = append(versions, e.Version)
	}
	if want := []string{"6.1.192-2", "6.1.192-1", "6.1.190-1"}; !slices.Equal(versions, want) {
		t.Errorf("between 6.1.187-1 and 6.1.192-2: %q; want %q", versions, want)
	}
	if e := got[0]; len(e.Lines) != 3 || !strings.Contains(e.Lines[1], "ext4: fix NULL folio dereference in mballoc") {
		t.Errorf("6.1.192-2's lines %q; want its header, its one fix and its trailer", e.Lines)
	}
}

// TestBuilds: a loopback archive (apt reads it as it reads Debian's)
// serves a 6.1 series the way the mirror did on 2026-12-04: an old build
// left in the release suite (bookworm), two in its security suite, and one
// image whose headers the security suite already dropped. Builds lists the
// three whole builds across both suites in Debian version order, each
// locked to its own packages under the image's name, and names the one
// left out.
func TestBuilds(t *testing.T) {
	key := archivetest.NewKey(t)
	ar := archivetest.Serve(t, key)
	ar.Publish(t, "", "bookworm", archivetest.Kernel("6.1", "6.1.0-47", "6.1.170-3"))
	security := append(archivetest.Kernel("6.1", "6.1.0-50", "6.1.176-1"), archivetest.Kernel("6.1", "6.1.0-57", "6.1.192-3")...)
	security = append(security, archivetest.Kernel("6.1", "6.1.0-51", "6.1.177-1")[0]) // the image alone
	ar.Publish(t, "", "bookworm-security", security)
	dir := t.TempDir()
	spec := &Spec{Name: "t-6.1", Suite: "bookworm-security", Series: "6.1", Compiler: "gcc-12"}
	opts := FetchOptions{CacheDir: filepath.Join(dir, "cache"), Mirror: ar.URL, SecurityMirror: ar.URL, Keyring: key.Keyring, Log: testLog(t)}
	builds, skipped, err := Builds(context.Background(), spec, opts, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range builds {
		got = append(got, b.PackageVersion()+" "+b.Release)
		if b.Name != "t-6.1" || !b.Locked() {
			t.Errorf("build %s: name %q, locked %v; want the image's name, locked", b.PackageVersion(), b.Name, b.Locked())
		}
		for _, p := range b.Packages {
			if p.Version != b.PackageVersion() && p.Name != "linux-kbuild-6.1" {
				t.Errorf("build %s locks %s %s", b.PackageVersion(), p.Name, p.Version)
			}
		}
	}
	want := []string{"6.1.170-3 6.1.0-47-amd64", "6.1.176-1 6.1.0-50-amd64", "6.1.192-3 6.1.0-57-amd64"}
	if !slices.Equal(got, want) {
		t.Errorf("Builds = %q; want %q", got, want)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "linux-image-6.1.0-51-amd64 6.1.177-1") || !strings.Contains(skipped[0], "not linux-headers-6.1.0-51-amd64") {
		t.Errorf("skipped = %q; want the image without headers named", skipped)
	}
}

// TestResolvePicksTheNewest: a suite serving two builds of the series (and
// two versions of linux-kbuild-6.1) resolves to the newer build, with the
// newer kbuild, as lab images update and a followed series must.
func TestResolvePicksTheNewest(t *testing.T) {
	key := archivetest.NewKey(t)
	ar := archivetest.Serve(t, key)
	ar.Publish(t, "", "testing", append(archivetest.Kernel("6.1", "6.1.0-2", "6.1.2-1"), archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1")...))
	spec := &Spec{Name: "t-6.1", Suite: "testing", Series: "6.1", Compiler: "gcc-12"}
	opts := FetchOptions{CacheDir: filepath.Join(t.TempDir(), "cache"), Mirror: ar.URL, SecurityMirror: ar.URL, Keyring: key.Keyring, Log: testLog(t)}
	l, err := Resolve(context.Background(), spec, opts, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range l.Packages {
		got[p.Name] = p.Version
	}
	if l.Release != "6.1.0-2-amd64" || got["linux-image-6.1.0-2-amd64"] != "6.1.2-1" || got["linux-kbuild-6.1"] != "6.1.2-1" {
		t.Errorf("Resolve = %s %v; want the newer build 6.1.0-2-amd64 (6.1.2-1) with kbuild 6.1.2-1", l.Release, got)
	}
	// One ABI, two revisions of its packages (6.1.192-1 and -2 were both
	// linux-image-6.1.0-56-amd64): the newer revision.
	ar.Publish(t, "", "testing", append(archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-2"), archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1")...))
	if l, err = Resolve(context.Background(), spec, opts, true); err != nil {
		t.Fatal(err)
	}
	if l.Release != "6.1.0-1-amd64" || l.Packages[0].Version != "6.1.1-2" {
		t.Errorf("Resolve over two revisions = %s %s; want 6.1.0-1-amd64 at 6.1.1-2", l.Release, l.Packages[0].Version)
	}
}
