package image

import (
	"slices"
	"strings"
	"testing"
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
