package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/safefile"
)

// Keyring is the keyring the private apt sources trust.
const Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// FetchOptions says where to cache and where to download from.
type FetchOptions struct {
	// CacheDir is lab's cache; "" means CacheDir().
	CacheDir string
	// Mirror is the archive for the non-security suites; "" means
	// $LAB_DEBIAN_MIRROR, else the host's apt sources.
	Mirror string
	// SecurityMirror is the archive for *-security suites; "" means
	// $LAB_DEBIAN_SECURITY_MIRROR, else the host's apt sources.
	SecurityMirror string
	// SourcesList and SourcesParts are the host's apt sources; "" means
	// HostSourcesList and HostSourcesParts.
	SourcesList  string
	SourcesParts string
	// SnapshotMirror is an archive tried for locked packages the mirror no
	// longer serves; "" means $LAB_SNAPSHOT_MIRROR. See ExpandSnapshot.
	SnapshotMirror string
	// Locked refuses to run anything but the lock: a package neither
	// cached nor served (by the mirror or the snapshot archive) is a
	// LockedError instead of following the series.
	Locked bool
	// Keyring is the keyring the archives are signed with; "" means
	// $LAB_DEBIAN_KEYRING, else Keyring (an internal mirror may sign with
	// its own key; tests serve an archive signed with a throwaway one).
	Keyring string
	// Progress receives apt's output (download progress) and the line
	// that says lab followed the series; nil discards them.
	Progress io.Writer
	// Log receives what lab does; nil discards it.
	Log *slog.Logger
}

// EnvKeyring names the keyring the archives are signed with.
const EnvKeyring = "LAB_DEBIAN_KEYRING"

// EnvSnapshotMirror names the snapshot archive, like --snapshot-mirror.
const EnvSnapshotMirror = "LAB_SNAPSHOT_MIRROR"

// NotServedError says that the mirror no longer serves locked packages:
// security suites drop superseded versions within days, sid daily.
type NotServedError struct {
	Image    string
	Packages []Package
	// Mirrors are the archives asked, by suite.
	Mirrors map[string]string
}

func (e *NotServedError) Error() string {
	var parts []string
	for _, p := range e.Packages {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", p.Name, p.Version, p.Suite))
	}
	return fmt.Sprintf("image %s: the mirror no longer serves %s", e.Image, strings.Join(parts, ", "))
}

// LockedError refuses a run with --locked: the lock cannot be reproduced
// from the cache, the mirror or the snapshot archive.
type LockedError struct {
	Image, LockFile string
	Missing         []Package
	Snapshot        string // the snapshot archive asked, if any
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %s: --locked, and these locked packages are neither cached nor served", e.Image)
	if e.Snapshot != "" {
		fmt.Fprintf(&b, " (mirror and snapshot archive %s asked)", e.Snapshot)
	}
	b.WriteString(":")
	for _, p := range e.Missing {
		fmt.Fprintf(&b, "\n  %s %s (%s", p.Name, p.Version, p.Suite)
		if p.Date != "" {
			fmt.Fprintf(&b, ", locked %s", p.Date)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "\nways out: pass a snapshot archive that still serves them (--snapshot-mirror URI or $%s; "+
		"{archive} and {timestamp} in the URI take each package's archive and lock date), "+
		"or move the lock to what the mirror serves now: lab images update %s (review and commit the %s diff)",
		EnvSnapshotMirror, e.Image, filepath.Base(e.LockFile))
	return b.String()
}

// Resolution says where an image's packages came from and how they relate
// to its lock, for provenance and reports.
type Resolution struct {
	// Followed is true when the locked packages were gone and lab ran the
	// newest build of the same series instead.
	Followed bool
	// Snapshot is the snapshot archive locked packages came from, if any.
	Snapshot string
	// LockedRelease and Locked are the lock's release and packages (empty
	// for an image without a lock).
	LockedRelease string
	Locked        []Package
}

// FollowLine is the line lab prints when it follows the series.
func FollowLine(name string, locked, resolved *Spec) string {
	lv, rv := locked.PackageVersion(), resolved.PackageVersion()
	if !locked.Locked() {
		return fmt.Sprintf("%s: no lock (%s); running %s (%s): lab images update %s writes the lock", name, filepath.Base(locked.LockFile), rv, resolved.Release, name)
	}
	if lv == rv && locked.Release == resolved.Release {
		return fmt.Sprintf("%s: locked %s is gone (some of its packages); running %s with %s", name, lv, rv, strings.Join(changed(locked.Packages, resolved.Packages), ", "))
	}
	return fmt.Sprintf("%s: locked %s is gone; running %s", name, lv, rv)
}

// changed lists the packages of b that a does not have at that version.
func changed(a, b []Package) []string {
	have := map[string]string{}
	for _, p := range a {
		have[p.Name] = p.Version
	}
	var out []string
	for _, p := range b {
		if have[p.Name] != p.Version {
			out = append(out, p.Name+" "+p.Version)
		}
	}
	return out
}

// withDefaults fills in what the caller left empty: the cache (absolute),
// a discarding logger and progress writer, the snapshot archive from the
// environment. Every entry point of the package starts with it.
func (o FetchOptions) withDefaults() (FetchOptions, error) {
	if o.CacheDir == "" {
		d, err := CacheDir()
		if err != nil {
			return o, err
		}
		o.CacheDir = d
	}
	abs, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return o, err
	}
	o.CacheDir = abs
	o.Log = logx.Or(o.Log)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.SnapshotMirror == "" {
		o.SnapshotMirror = os.Getenv(EnvSnapshotMirror)
	}
	return o, nil
}

// Fetch makes sure the image's packages are downloaded, verified and
// unpacked into the cache, and returns the image. Its packages come, in
// this order, from: the cache (by sha256); the mirror at the locked
// versions; the snapshot archive, when one is configured; then, unless
// opts.Locked, the newest build of the spec's series that the mirror
// serves (the returned image's Spec and Resolution say so). It downloads
// only what the cache lacks and unpacks only when the packages changed.
func Fetch(ctx context.Context, spec *Spec, opts FetchOptions) (*Image, error) {
	if spec.Tree != "" {
		return localImage(spec)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cache := opts.CacheDir
	log := opts.Log.With("image", spec.Name)
	res := Resolution{LockedRelease: spec.Release, Locked: spec.Packages}
	if spec.Locked() {
		if img := New(spec, cache); img.Cached() && img.debsPresent() {
			img.Resolution = res
			return img, nil
		}
	}
	if err := os.MkdirAll(imagesDir(cache), 0o755); err != nil {
		return nil, err
	}
	unlock, err := safefile.Lock(ctx, New(spec, cache).lockPath(), log)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Name, err)
	}
	defer unlock()

	run := spec
	var debs map[string]string
	if spec.Locked() {
		var missing []Package
		debs, missing, err = lockedDebs(ctx, spec, opts, log)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 && opts.SnapshotMirror != "" {
			// What the snapshot archive has lands in the deb cache; the
			// second look takes it from there and the rest from the mirror.
			if _, err := snapshotDebs(ctx, spec, missing, opts, log); err != nil {
				log.Warn("snapshot archive", "err", err)
			}
			before := len(missing)
			if debs, missing, err = lockedDebs(ctx, spec, opts, log); err != nil {
				return nil, err
			}
			if len(missing) < before {
				res.Snapshot = opts.SnapshotMirror
			}
		}
		if len(missing) > 0 {
			if opts.Locked {
				return nil, &LockedError{Image: spec.Name, LockFile: spec.LockFile, Missing: missing, Snapshot: opts.SnapshotMirror}
			}
			debs = nil
		}
	} else if opts.Locked {
		return nil, fmt.Errorf("image %s: --locked, and the image has no lock (%s): run lab images update %s and commit the lock", spec.Name, spec.LockFile, spec.Name)
	}
	if debs == nil {
		lock, err := Resolve(ctx, spec, opts, false)
		if err != nil {
			return nil, err
		}
		run = spec.WithLock(lock)
		res.Followed = true
		line := FollowLine(spec.Name, spec, run)
		fmt.Fprintln(opts.Progress, "lab: "+line)
		log.Info("followed the series", "locked", spec.PackageVersion(), "running", run.PackageVersion())
		var missing []Package
		if debs, missing, err = lockedDebs(ctx, run, opts, log); err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			return nil, &NotServedError{Image: spec.Name, Packages: missing}
		}
	}
	img := New(run, cache)
	img.Resolution = res
	if img.Cached() {
		return img, nil
	}
	start := time.Now()
	if err := unpack(ctx, img, debs, log); err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Name, err)
	}
	log.Info("unpacked", "root", img.Root, "elapsed", time.Since(start).Round(time.Millisecond))
	if cc, err := img.HeadersCompiler(); err != nil {
		log.Warn("cannot tell the kernel's compiler", "err", err)
	} else if cc != spec.BuiltWith() {
		key := "compiler"
		if spec.KernelCompiler != "" {
			key = "kernel_compiler"
		}
		log.Warn("spec names another compiler than the headers", key, spec.BuiltWith(), "headers", cc)
	}
	return img, nil
}

// lockedDebs returns the verified .deb of every package of spec, from the
// cache or downloaded from the mirror; when the mirror no longer serves
// some, it downloads nothing and returns those.
func lockedDebs(ctx context.Context, spec *Spec, opts FetchOptions, log *slog.Logger) (map[string]string, []Package, error) {
	debs, err := fetchDebs(ctx, spec, opts, log)
	var ns *NotServedError
	if errors.As(err, &ns) {
		return nil, ns.Packages, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return debs, nil, nil
}

func debsDir(cache string) string { return filepath.Join(cache, "debs") }

// debPattern matches the file apt-get download writes for p
// (NAME_VERSION_ARCH.deb, with the epoch's colon escaped).
func debPattern(dir string, p Package) string {
	v := strings.ReplaceAll(p.Version, ":", "%3a")
	if p.Arch != "" {
		// amd64's and arm64's linux-kbuild share a name and version.
		return filepath.Join(dir, globEscape(p.Name+"_"+v+"_"+p.Arch)+".deb")
	}
	return filepath.Join(dir, globEscape(p.Name+"_"+v)+"_*.deb")
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// fetchDebs returns the verified .deb of every package, by name, keeping
// them in <cache>/debs so that a version the mirror drops stays usable.
func fetchDebs(ctx context.Context, spec *Spec, opts FetchOptions, log *slog.Logger) (map[string]string, error) {
	dir := debsDir(opts.CacheDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	debs := map[string]string{}
	var missing []Package
	var stale []string
	for _, p := range spec.Packages {
		path, bad, err := cachedDeb(dir, p, log)
		if err != nil {
			return nil, err
		}
		stale = append(stale, bad...)
		if path == "" {
			missing = append(missing, p)
			continue
		}
		debs[p.Name] = path
	}
	if len(missing) == 0 {
		return debs, nil
	}
	got, err := download(ctx, spec, missing, opts, log)
	if err != nil {
		return nil, err
	}
	for n, p := range got {
		debs[n] = p
	}
	for _, f := range stale {
		// Usually the download has overwritten it already.
		if _, err := os.Stat(f); err == nil && !contains(mapValues(got), f) {
			os.Remove(f)
		}
	}
	return debs, nil
}

// cachedDeb returns the cached .deb of p when its hash is right, and the
// cached files with a wrong hash. Those are only replaced once a download
// matches the spec: the wrong hash may be the spec's, and a file the mirror
// dropped cannot be had again.
func cachedDeb(dir string, p Package, log *slog.Logger) (path string, stale []string, err error) {
	matches, err := filepath.Glob(debPattern(dir, p))
	if err != nil {
		return "", nil, err
	}
	for _, m := range matches {
		sum, err := safefile.SHA256(m)
		if err != nil {
			return "", nil, err
		}
		if sum == p.SHA256 {
			return m, nil, nil
		}
		log.Warn("cached package has another sha256 than the spec, downloading it again", "file", m, "want", p.SHA256, "got", sum)
		stale = append(stale, m)
	}
	return "", stale, nil
}

func mapValues(m map[string]string) []string {
	var v []string
	for _, x := range m {
		v = append(v, x)
	}
	return v
}
