package runner

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/safefile"
)

// TestSealedSnapshot: a snapshot is trusted only with a seal that matches
// its content; a damaged or unsealed file is not restored.
func TestSealedSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.snap")
	if safefile.Sealed(path) {
		t.Fatal("a missing snapshot counts as sealed")
	}
	if err := os.WriteFile(path, []byte("guest state"), 0o600); err != nil {
		t.Fatal(err)
	}
	if safefile.Sealed(path) {
		t.Fatal("a snapshot without a seal counts as sealed")
	}
	sum, _ := safefile.SHA256(path)
	if err := os.WriteFile(path+".sha256", []byte(sum+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !safefile.Sealed(path) {
		t.Fatal("a sealed snapshot is not trusted")
	}
	// Damage it (another size and time, as any rewrite has).
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(path, []byte("guest state, damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, later, later)
	if safefile.Sealed(path) {
		t.Fatal("a damaged snapshot counts as sealed")
	}
}

// TestSnapshotsListing: lab images lists without hashing (a seal that is
// there counts), lab doctor verifies (a damaged file does not count), and
// both count a snapshot whose seal is missing as damaged.
func TestSnapshotsListing(t *testing.T) {
	cache := t.TempDir()
	dir := SnapshotDir(cache)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, content, seal string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if seal != "" {
			if err := os.WriteFile(safefile.SealOf(p), []byte(seal+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("good.snap", "guest state", "")
	sum, _ := safefile.SHA256(filepath.Join(dir, "good.snap"))
	write("good.snap", "guest state", sum)
	write("damaged.snap", "guest state, damaged", sum)
	write("unsealed.snap", "guest state", "")
	for _, verify := range []bool{false, true} {
		snaps, err := Snapshots(cache, verify)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, s := range snaps {
			got[filepath.Base(s.Path)] = s.Sealed
		}
		want := map[string]bool{"good.snap": true, "damaged.snap": !verify, "unsealed.snap": false}
		if len(got) != len(want) {
			t.Errorf("verify=%v: listed %v; want %v", verify, got, want)
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("verify=%v: %s sealed = %v; want %v", verify, name, got[name], w)
			}
		}
	}
}

// TestPruneSnapshots: a snapshot last used more than SnapshotUnusedFor ago
// goes with its seal and description; one used recently stays, and so does
// an old snapshot whose description says it was used recently.
func TestPruneSnapshots(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old := now.Add(-SnapshotUnusedFor - time.Hour)
	recent := now.Add(-time.Hour)
	files := map[string]time.Time{
		"stale.snap": old, "stale.snap.sha256": old, "stale.json": old,
		"fresh.snap": recent, "fresh.snap.sha256": recent, "fresh.json": recent,
		"oldbutused.snap": old, "oldbutused.snap.sha256": old, "oldbutused.json": recent,
		"nodesc.snap": old, "nodesc.snap.sha256": old,
	}
	for name, at := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	removed := pruneSnapshots(dir, now)
	var names []string
	for _, p := range removed {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	if want := []string{"nodesc.snap", "stale.snap"}; !slices.Equal(names, want) {
		t.Errorf("removed %v; want %v", names, want)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	var leftNames []string
	for _, p := range left {
		leftNames = append(leftNames, filepath.Base(p))
	}
	want := []string{"fresh.json", "fresh.snap", "fresh.snap.sha256", "oldbutused.json", "oldbutused.snap", "oldbutused.snap.sha256"}
	if !slices.Equal(leftNames, want) {
		t.Errorf("left %v; want %v", leftNames, want)
	}
}

// A failed restore's console log is evidence: it is kept beside the cold
// boot's, not overwritten by it.
func TestKeepFailedRestore(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "console.log"), []byte("traps: PANIC: double fault\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "qemu.stderr"), nil, 0o600)
	s := &session{dir: dir}
	if note := s.keepFailedRestore(); note != "; its console log is restore-console.log" {
		t.Errorf("note = %q", note)
	}
	b, err := os.ReadFile(filepath.Join(dir, "restore-console.log"))
	if err != nil || string(b) != "traps: PANIC: double fault\n" {
		t.Errorf("restore-console.log = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "console.log")); err == nil {
		t.Errorf("console.log still there for the cold boot to overwrite")
	}
	if note := (&session{dir: t.TempDir()}).keepFailedRestore(); note != "" {
		t.Errorf("nothing to keep: note %q", note)
	}
}
