package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/image/archivetest"
	"github.com/kernel-lab/lab/internal/runner"
	"github.com/kernel-lab/lab/internal/source"
)

// testRepo is a lab tree with one image, t-6.1, whose series a loopback
// archive serves; experiments and kmods are lab's own.
func testRepo(t *testing.T) (root string, ar *archivetest.Archive) {
	t.Helper()
	key := archivetest.NewKey(t)
	ar = archivetest.Serve(t, key)
	root = t.TempDir()
	for _, d := range []string{"experiments", "kmods"} {
		abs, err := filepath.Abs(filepath.Join("../..", d))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(root, d)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+source.ModulePath+"\n"), 0o644)
	os.Mkdir(filepath.Join(root, "images"), 0o755)
	spec := "name: t-6.1\nsuite: testing\nseries: \"6.1\"\ncompiler: gcc-12\n"
	if err := os.WriteFile(filepath.Join(root, "images", "t-6.1.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(image.EnvMirror, ar.URL)
	t.Setenv(image.EnvSecurityMirror, ar.URL)
	t.Setenv(image.EnvKeyring, key.Keyring)
	t.Setenv(image.EnvSnapshotMirror, "")
	return root, ar
}

func lab(t *testing.T, root, cache string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(append([]string{"--root", root, "--cache", cache}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestImagesLockLifecycle: update writes a lock, images tells current from
// stale, --locked refuses a lock the mirror dropped before anything boots,
// and update moves the lock on.
func TestImagesLockLifecycle(t *testing.T) {
	root, ar := testRepo(t)
	cache := t.TempDir()
	ar.Publish(t, "", "testing", archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1"))

	code, out, errs := lab(t, root, cache, "images", "update")
	if code != 0 || !strings.Contains(out, "t-6.1: (no lock) -> 6.1.1-1 (6.1.0-1-amd64); wrote images/t-6.1.lock") {
		t.Fatalf("lab images update = %d\n%s%s", code, out, errs)
	}
	lockFile := filepath.Join(root, "images", "t-6.1.lock")
	l, err := image.LoadLock(lockFile)
	if err != nil || l.Release != "6.1.0-1-amd64" || len(l.Packages) != 4 {
		t.Fatalf("lock after update: %+v, %v", l, err)
	}
	code, out, _ = lab(t, root, cache, "images")
	if code != 0 || !regexpLine(out, `t-6.1 +testing +6.1.1-1 +6.1.1-1 +not cached +none +current`) {
		t.Errorf("lab images (current) = %d:\n%s", code, out)
	}
	code, out, _ = lab(t, root, cache, "images", "update", "t-6.1")
	if code != 0 || !strings.Contains(out, "t-6.1: unchanged (6.1.1-1, 6.1.0-1-amd64)") {
		t.Errorf("lab images update with nothing new = %d:\n%s", code, out)
	}

	// The mirror moves on.
	ar.Publish(t, "", "testing", archivetest.Kernel("6.1", "6.1.0-2", "6.1.2-1"))
	code, out, _ = lab(t, root, cache, "images")
	if code != 0 || !regexpLine(out, `t-6.1 +testing +6.1.1-1 +6.1.2-1 +not cached +none +stale: locked build gone .*`) {
		t.Errorf("lab images (stale) = %d:\n%s", code, out)
	}
	code, _, errs = lab(t, root, cache, "run", "--locked", "--results", t.TempDir(), "--kernel", "t-6.1", "chardev-unsafe")
	for _, want := range []string{
		"image t-6.1: --locked, and these locked packages are neither cached nor served:",
		"linux-image-6.1.0-1-amd64 6.1.1-1 (testing, locked ",
		"--snapshot-mirror URI",
		"lab images update t-6.1",
	} {
		if code != ExitError || !strings.Contains(errs, want) {
			t.Errorf("lab run --locked = exit %d; want 2 and %q in:\n%s", code, want, errs)
		}
	}
	if strings.Contains(errs, "booted") {
		t.Errorf("lab run --locked booted something:\n%s", errs)
	}

	code, out, errs = lab(t, root, cache, "images", "update", "t-6.1")
	if code != 0 || !strings.Contains(out, "t-6.1: 6.1.1-1 (6.1.0-1-amd64) -> 6.1.2-1 (6.1.0-2-amd64); wrote images/t-6.1.lock") {
		t.Errorf("lab images update after the move = %d\n%s%s", code, out, errs)
	}
	if l, err := image.LoadLock(lockFile); err != nil || l.Release != "6.1.0-2-amd64" {
		t.Errorf("lock after the move: %+v, %v", l, err)
	}
}

// TestImagesUpdateIntoProject: with a project of its own (as an installed
// lab always has, its own images being read-only in Go's module cache),
// lab images update leaves lab's image alone and writes a copy of it and
// the new lock into the project, which lab reads from then on.
func TestImagesUpdateIntoProject(t *testing.T) {
	root, ar := testRepo(t)
	cache := t.TempDir()
	project := t.TempDir()
	ar.Publish(t, "", "testing", archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1"))
	builtin := filepath.Join(root, "images", "t-6.1.yaml")
	if err := os.Chmod(builtin, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "images"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "images"), 0o755) })

	code, out, errs := lab(t, root, cache, "--project", project, "images", "update", "t-6.1")
	want := "t-6.1: (no lock) -> 6.1.1-1 (6.1.0-1-amd64); wrote images/t-6.1.yaml (lab's own, copied) and images/t-6.1.lock"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("lab images update = %d\n%s%s\nwant %q", code, out, errs, want)
	}
	if _, err := os.Stat(filepath.Join(root, "images", "t-6.1.lock")); err == nil {
		t.Error("lab's own images/ got a lock")
	}
	copied, err := os.ReadFile(filepath.Join(project, "images", "t-6.1.yaml"))
	orig, _ := os.ReadFile(builtin)
	if err != nil || !bytes.Equal(copied, orig) {
		t.Errorf("project's copy of the spec = %q, %v; want lab's own %q", copied, err, orig)
	}
	if l, err := image.LoadLock(filepath.Join(project, "images", "t-6.1.lock")); err != nil || l.Release != "6.1.0-1-amd64" {
		t.Errorf("project's lock: %+v, %v", l, err)
	}
	// The project's copy, now locked, is the image lab lists.
	code, out, _ = lab(t, root, cache, "--project", project, "images", "--offline")
	if code != 0 || !regexpLine(out, `t-6.1 +testing +6.1.1-1 +\? +not cached +none +offline`) {
		t.Errorf("lab images after the update = %d:\n%s", code, out)
	}
	// A second update finds the project's own copy and rewrites it in place.
	code, out, errs = lab(t, root, cache, "--project", project, "images", "update", "t-6.1")
	if code != 0 || !strings.Contains(out, "t-6.1: unchanged (6.1.1-1, 6.1.0-1-amd64)") {
		t.Errorf("second lab images update = %d\n%s%s", code, out, errs)
	}
}

func regexpLine(out, pattern string) bool {
	for _, line := range strings.Split(out, "\n") {
		if ok, _ := filepathMatchRegexp(pattern, line); ok {
			return true
		}
	}
	return false
}

func filepathMatchRegexp(pattern, s string) (bool, error) {
	return regexp.MatchString("^"+pattern+"$", strings.TrimRight(s, " "))
}

// TestDoctorMirrors: lab doctor names the mirror of each suite and tells a
// served lock from a stale one (warn) and a series the mirror lacks (fail).
func TestDoctorMirrors(t *testing.T) {
	root, ar := testRepo(t)
	cache := t.TempDir()
	ar.Publish(t, "", "testing", archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1"))
	if code, out, errs := lab(t, root, cache, "images", "update"); code != 0 {
		t.Fatalf("lab images update = %d\n%s%s", code, out, errs)
	}
	mirrors := func() string {
		t.Helper()
		_, out, errs := lab(t, root, cache, "doctor")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, " mirrors ") {
				return line
			}
		}
		t.Fatalf("lab doctor printed no mirrors check:\n%s%s", out, errs)
		return ""
	}
	if got, want := mirrors(), "pass  mirrors     testing from "+ar.URL+"; t-6.1: locked 6.1.1-1 served"; got != want {
		t.Errorf("served lock:\n got %q\nwant %q", got, want)
	}
	ar.Publish(t, "", "testing", archivetest.Kernel("6.1", "6.1.0-2", "6.1.2-1"))
	if got, want := mirrors(), "warn  mirrors     testing from "+ar.URL+"; t-6.1: locked 6.1.1-1 is gone, the mirror serves 6.1.2-1 (runs follow the series; --locked refuses; lab images update t-6.1)"; got != want {
		t.Errorf("stale lock:\n got %q\nwant %q", got, want)
	}
	ar.Publish(t, "", "testing", archivetest.Kernel("6.2", "6.2.0-1", "6.2.1-1"))
	if got := mirrors(); !strings.HasPrefix(got, "fail  mirrors") || !strings.Contains(got, "t-6.1: testing serves no 6.1 kernel; it serves 6.2 (linux-image-6.2.0-1-amd64 6.2.1-1)") {
		t.Errorf("series gone: %q", got)
	}
}

// TestImagesAdd: any kernel the suite serves becomes an image, pinned to
// the exact build asked for (not the newest), with the compiler its headers
// name; then it is an image like the others.
func TestImagesAdd(t *testing.T) {
	root, ar := testRepo(t)
	cache := t.TempDir()
	// As bookworm-security serves them: the older ABI lingers, kbuild is
	// the newest only.
	ar.Publish(t, "", "testing", append(archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1")[:3], archivetest.Kernel("6.1", "6.1.0-2", "6.1.2-1")...))
	code, out, errs := lab(t, root, cache, "images", "add", "t-old", "--suite", "testing", "--package", "linux-image-6.1.0-1-amd64=6.1.1-1")
	if code != 0 || !strings.Contains(out, "t-old: linux-image-6.1.0-1-amd64 6.1.1-1 (6.1.0-1-amd64) from testing; modules build on the host with gcc-12; wrote images/t-old.yaml and images/t-old.lock") {
		t.Fatalf("lab images add = %d\n%s%s", code, out, errs)
	}
	s, err := image.LoadSpec(filepath.Join(root, "images", "t-old.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Series != "6.1" || s.Compiler != "gcc-12" || s.Release != "6.1.0-1-amd64" || s.BuildRoot != nil || len(s.Packages) != 4 {
		t.Errorf("added spec: %+v", s)
	}
	// kbuild is the newest that satisfies the headers' >= dependency.
	if p := s.Packages[3]; p.Name != "linux-kbuild-6.1" || p.Version != "6.1.2-1" {
		t.Errorf("kbuild %+v; want linux-kbuild-6.1 6.1.2-1", p)
	}
	code, out, _ = lab(t, root, cache, "images")
	if code != 0 || !regexpLine(out, `t-old +testing +6.1.1-1 +6.1.2-1 +not cached +none +newer build served .*`) {
		t.Errorf("lab images after add = %d:\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"t-old", "--suite", "testing", "--series", "6.1"}, "image t-old exists"},
		{[]string{"t-x", "--suite", "testing", "--package", "linux-image-6.1.0-1-amd64=9.9-9"}, "testing does not serve linux-image-6.1.0-1-amd64 9.9-9 (it serves 6.1.1-1)"},
		{[]string{"t-x", "--suite", "testing", "--package", "linux-headers-6.1.0-1-amd64"}, "is not a signed amd64 kernel package"},
		{[]string{"t-x", "--package", "linux-image-6.1.0-1-amd64"}, "name the suite"},
		{[]string{"T X", "--suite", "testing", "--series", "6.1"}, `bad image name "T X"`},
	} {
		code, _, errs := lab(t, root, cache, append([]string{"images", "add"}, tc.args...)...)
		if code != ExitError || !strings.Contains(errs, tc.want) {
			t.Errorf("lab images add %v = %d, %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// lab images counts an image's sealed snapshots per accelerator, for its
// locked release only, and says when some no longer match their seal.
func TestSnapshotState(t *testing.T) {
	s := &image.Spec{Name: "debian-6.1", Release: "6.1.0-57-amd64"}
	snaps := []runner.SnapshotEntry{
		{Image: "debian-6.1", Release: "6.1.0-57-amd64", Accel: "tcg", Sealed: true},
		{Image: "debian-6.1", Release: "6.1.0-57-amd64", Accel: "tcg", Sealed: true},
		{Image: "debian-6.1", Release: "6.1.0-57-amd64", Accel: "kvm", Sealed: true},
		{Image: "debian-6.1", Release: "6.1.0-57-amd64", Accel: "kvm", Sealed: false},
		{Image: "debian-6.1", Release: "6.1.0-50-amd64", Accel: "tcg", Sealed: true}, // an older lock's
		{Image: "debian-6.12", Release: "6.12.57+deb12-amd64", Accel: "tcg", Sealed: true},
		{Sealed: true}, // no description
	}
	if got, want := snapshotState(snaps, s), "kvm, tcg×2, 1 damaged"; got != want {
		t.Errorf("snapshotState = %q; want %q", got, want)
	}
	if got := snapshotState(snaps, &image.Spec{Name: "debian-5.10", Release: "5.10.0-32-amd64"}); got != "none" {
		t.Errorf("snapshotState of an image without snapshots = %q; want none", got)
	}
}
