package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/image/archivetest"
)

// driftSetup is an archive serving build A of a test series, a spec for it
// and a lock resolved from the archive, the way lab images update makes
// one.
type driftSetup struct {
	key     *archivetest.Key
	archive *archivetest.Archive
	spec    *Spec
	opts    FetchOptions
}

var (
	buildA = archivetest.Kernel("6.1", "6.1.0-1", "6.1.1-1")
	buildB = archivetest.Kernel("6.1", "6.1.0-2", "6.1.2-1")
)

func newDrift(t *testing.T) *driftSetup {
	t.Helper()
	key := archivetest.NewKey(t)
	ar := archivetest.Serve(t, key)
	ar.Publish(t, "", "testing", buildA)
	dir := t.TempDir()
	specFile := filepath.Join(dir, "t-6.1.yaml")
	if err := os.WriteFile(specFile, []byte("name: t-6.1\nsuite: testing\nseries: \"6.1\"\ncompiler: gcc-12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadSpec(specFile)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Locked() {
		t.Fatal("a spec without a lock file is locked")
	}
	d := &driftSetup{key: key, archive: ar, spec: spec, opts: FetchOptions{
		CacheDir: filepath.Join(dir, "cache"), Mirror: ar.URL, SecurityMirror: ar.URL, Keyring: key.Keyring, Log: testLog(t),
	}}
	ctx := context.Background()
	l, err := Resolve(ctx, spec, d.opts, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteLock(spec.LockFile, l); err != nil {
		t.Fatal(err)
	}
	if d.spec, err = LoadSpec(specFile); err != nil {
		t.Fatal(err)
	}
	return d
}

func kernelText(t *testing.T, img *Image) string {
	t.Helper()
	b, err := os.ReadFile(img.KernelPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResolveLocksTheBuild(t *testing.T) {
	d := newDrift(t)
	s := d.spec
	if s.Release != "6.1.0-1-amd64" || s.PackageVersion() != "6.1.1-1" {
		t.Fatalf("lock: release %q version %q; want 6.1.0-1-amd64 6.1.1-1", s.Release, s.PackageVersion())
	}
	var names []string
	for _, p := range s.Packages {
		names = append(names, p.Name+"="+p.Version)
		if p.Suite != "testing" || p.Date == "" || len(p.SHA256) != 64 {
			t.Errorf("package %+v lacks suite, date or sha256", p)
		}
	}
	want := "linux-image-6.1.0-1-amd64=6.1.1-1 linux-headers-6.1.0-1-amd64=6.1.1-1 linux-headers-6.1.0-1-common=6.1.1-1 linux-kbuild-6.1=6.1.1-1"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("locked packages\n got %s\nwant %s", got, want)
	}
}

func TestFetchFollowsTheSeries(t *testing.T) {
	d := newDrift(t)
	ctx := context.Background()
	img, err := Fetch(ctx, d.spec, d.opts)
	if err != nil {
		t.Fatal(err)
	}
	if img.Resolution.Followed || kernelText(t, img) != "kernel 6.1.1-1\n" {
		t.Fatalf("fetch of a served lock: followed %v, kernel %q", img.Resolution.Followed, kernelText(t, img))
	}

	// The mirror moves on: A is gone, B is served. The cache still has A,
	// and the cache comes first.
	d.archive.Publish(t, "", "testing", buildB)
	img, err = Fetch(ctx, d.spec, d.opts)
	if err != nil || img.Resolution.Followed {
		t.Fatalf("cached lock: err %v, followed %v", err, img.Resolution.Followed)
	}

	// A fresh cache: lab runs B and says so in one line.
	var progress bytes.Buffer
	opts := d.opts
	opts.CacheDir = t.TempDir()
	opts.Progress = &progress
	img, err = Fetch(ctx, d.spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !img.Resolution.Followed || img.Spec.Release != "6.1.0-2-amd64" || img.Spec.PackageVersion() != "6.1.2-1" {
		t.Fatalf("followed %v release %q version %q; want a followed 6.1.0-2-amd64 6.1.2-1", img.Resolution.Followed, img.Spec.Release, img.Spec.PackageVersion())
	}
	if got := kernelText(t, img); got != "kernel 6.1.2-1\n" {
		t.Errorf("kernel %q; want build B's", got)
	}
	if !strings.Contains(progress.String(), "lab: t-6.1: locked 6.1.1-1 is gone; running 6.1.2-1\n") {
		t.Errorf("progress lacks the follow line:\n%s", progress.String())
	}
	if img.Resolution.LockedRelease != "6.1.0-1-amd64" || len(img.Resolution.Locked) != 4 || img.Resolution.Locked[0].Version != "6.1.1-1" {
		t.Errorf("resolution does not keep the lock: %+v", img.Resolution)
	}
	// The followed build is in the cache: no network needed again.
	d.archive.Publish(t, "", "testing", nil)
	again, err := Fetch(ctx, img.Spec, opts)
	if err != nil || kernelText(t, again) != "kernel 6.1.2-1\n" {
		t.Errorf("cached followed build: err %v", err)
	}
}

func TestFetchLockedRefuses(t *testing.T) {
	d := newDrift(t)
	d.archive.Publish(t, "", "testing", buildB)
	opts := d.opts
	opts.Locked = true
	_, err := Fetch(context.Background(), d.spec, opts)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Fetch(--locked) = %v; want a LockedError", err)
	}
	if len(le.Missing) != 4 {
		t.Errorf("missing %d packages, want all 4 of build A: %+v", len(le.Missing), le.Missing)
	}
	for _, want := range []string{
		"image t-6.1: --locked, and these locked packages are neither cached nor served:",
		"\n  linux-kbuild-6.1 6.1.1-1 (testing, locked 20",
		"--snapshot-mirror URI or $LAB_SNAPSHOT_MIRROR",
		"lab images update t-6.1 (review and commit the t-6.1.lock diff)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestFetchFromSnapshot(t *testing.T) {
	d := newDrift(t)
	d.archive.Publish(t, "", "testing", buildB)
	// A second archive keeps A, at the path a snapshot service would.
	snap := archivetest.Serve(t, d.key)
	date, err := time.Parse(time.RFC3339, d.spec.Packages[0].Date)
	if err != nil {
		t.Fatal(err)
	}
	snap.Publish(t, "archive/debian/"+date.Format("20060102T150405Z"), "testing", buildA)
	opts := d.opts
	opts.Locked = true
	opts.SnapshotMirror = snap.URL + "/archive/{archive}/{timestamp}"
	img, err := Fetch(context.Background(), d.spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if img.Resolution.Followed || img.Resolution.Snapshot != opts.SnapshotMirror || kernelText(t, img) != "kernel 6.1.1-1\n" {
		t.Errorf("snapshot fetch: %+v, kernel %q; want the locked build from the snapshot", img.Resolution, kernelText(t, img))
	}
}

func TestResolveSeriesGone(t *testing.T) {
	d := newDrift(t)
	d.archive.Publish(t, "", "testing", archivetest.Kernel("6.2", "6.2.0-1", "6.2.1-1"))
	_, err := Resolve(context.Background(), d.spec, d.opts, true)
	var gone *SeriesGoneError
	if !errors.As(err, &gone) {
		t.Fatalf("Resolve = %v; want a SeriesGoneError", err)
	}
	if want := "image t-6.1: testing serves no amd64 kernel of series 6.1 any more; it serves 6.2 (linux-image-6.2.0-1-amd64 6.2.1-1)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}

// TestSuiteGoneFromMirror: a suite the mirror stopped serving (bullseye
// moves to Debian's archive mirror one day) is named with the way out.
func TestSuiteGoneFromMirror(t *testing.T) {
	d := newDrift(t)
	spec := *d.spec
	spec.Suite = "oldstable-gone"
	_, err := Resolve(context.Background(), &spec, d.opts, true)
	if err == nil {
		t.Fatal("Resolve of a suite the mirror lacks: no error")
	}
	for _, want := range []string{"the mirror does not serve oldstable-gone at " + d.archive.URL, "pass --mirror URI (or set LAB_DEBIAN_MIRROR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestDownloadPackage: a package by name from a suite, verified, into the
// deb cache, with no Progress writer given (a nil one once crashed apt's
// output copy).
func TestDownloadPackage(t *testing.T) {
	d := newDrift(t)
	opts := d.opts
	opts.Progress = nil
	path, err := DownloadPackage(context.Background(), "testing", "linux-kbuild-6.1", opts)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "linux-kbuild-6.1_6.1.1-1_amd64.deb" {
		t.Errorf("DownloadPackage = %s", path)
	}
	if _, err := DownloadPackage(context.Background(), "testing", "linux-source-9.9", opts); err == nil || !strings.Contains(err.Error(), "testing does not serve linux-source-9.9") {
		t.Errorf("a package the suite lacks: %v", err)
	}
}
