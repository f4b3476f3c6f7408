package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"lab/internal/logx"
	"lab/internal/textutil"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"lab/internal/safefile"
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

// Fetch makes sure the image's packages are downloaded, verified and
// unpacked into the cache, and returns the image. Its packages come, in
// this order, from: the cache (by sha256); the mirror at the locked
// versions; the snapshot archive, when one is configured; then, unless
// opts.Locked, the newest build of the spec's series that the mirror
// serves (the returned image's Spec and Resolution say so). It downloads
// only what the cache lacks and unpacks only when the packages changed.
func Fetch(ctx context.Context, spec *Spec, opts FetchOptions) (*Image, error) {
	if opts.CacheDir == "" {
		d, err := CacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = d
	}
	cache, err := filepath.Abs(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	opts.CacheDir = cache
	if opts.Log == nil {
		opts.Log = logx.Or(nil)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.SnapshotMirror == "" {
		opts.SnapshotMirror = os.Getenv(EnvSnapshotMirror)
	}
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

// aptState is a private apt configuration and state under the cache: the
// host's apt configuration and lists are never touched.
type aptState struct {
	dir    string
	lines  []string
	mirror map[string]string // suite → URI
}

func (a *aptState) path(p ...string) string { return filepath.Join(append([]string{a.dir}, p...)...) }

func (a *aptState) options() []string {
	o := []string{
		"Dir::Etc::SourceList=" + a.path("sources.list"),
		// Empty directories rather than "-": apt takes "-" as a directory
		// name under /etc/apt and warns that it is missing.
		"Dir::Etc::SourceParts=" + a.path("sources.list.d"),
		"Dir::Etc::Preferences=/dev/null",
		"Dir::Etc::PreferencesParts=" + a.path("preferences.d"),
		"Dir::State=" + a.path("state"),
		"Dir::State::status=" + a.path("state", "status"),
		"Dir::Cache=" + a.path("cache"),
		"Debug::NoLocking=1",
		// Kernel images are amd64 whatever the host's architectures are.
		"APT::Architecture=amd64",
		"APT::Architectures=amd64",
		"Acquire::Languages=none",
	}
	if os.Geteuid() == 0 {
		// As root apt downloads as _apt, who cannot write into root's cache.
		o = append(o, "APT::Sandbox::User=root")
	}
	var args []string
	for _, x := range o {
		args = append(args, "-o", x)
	}
	return args
}

// aptSource is one line of a private apt state.
type aptSource struct {
	suite, uri string
	// snapshot archives serve Release files long past their Valid-Until;
	// the packages are pinned by sha256 anyway.
	snapshot bool
}

// newAptState lays out the private apt state for the suites of pkgs, each
// from its mirror.
func newAptState(spec *Spec, pkgs []Package, opts FetchOptions) (*aptState, error) {
	explicit := explicitMirrors(opts)
	var host []AptSource
	hostRead := false
	seen := map[string]bool{}
	var srcs []aptSource
	for _, p := range pkgs {
		s := spec.PackageSuite(p)
		if seen[s] {
			continue
		}
		seen[s] = true
		ex := explicit[IsSecuritySuite(s)]
		if ex == "" && !hostRead {
			list, parts := opts.SourcesList, opts.SourcesParts
			if list == "" && parts == "" {
				list, parts = HostSourcesList, HostSourcesParts
			}
			var err error
			if host, err = ReadAptSources(list, parts); err != nil {
				return nil, fmt.Errorf("image %s: reading the host's apt sources: %w", spec.Name, err)
			}
			hostRead = true
		}
		uri, err := ResolveMirror(s, ex, host)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		srcs = append(srcs, aptSource{suite: s, uri: uri, snapshot: ex != ""})
	}
	return newAptStateFor(opts, srcs)
}

// newAptStateFor lays out a private apt state serving srcs. The directory
// is named by the hash of its sources, so that images from other suites
// or mirrors keep their own lists instead of clobbering these.
func newAptStateFor(opts FetchOptions, srcs []aptSource) (*aptState, error) {
	keyring := opts.Keyring
	if keyring == "" {
		keyring = os.Getenv(EnvKeyring)
	}
	if keyring == "" {
		keyring = Keyring
	}
	a := &aptState{mirror: map[string]string{}}
	for _, src := range srcs {
		a.mirror[src.suite] = src.uri
		opt := "signed-by=" + keyring
		if src.snapshot {
			opt += " check-valid-until=no"
		}
		a.lines = append(a.lines, fmt.Sprintf("deb [%s] %s %s main", opt, src.uri, src.suite))
	}
	sort.Strings(a.lines)
	h := sha256.Sum256([]byte(strings.Join(a.lines, "\n")))
	a.dir = filepath.Join(opts.CacheDir, "apt", hex.EncodeToString(h[:])[:16])
	for _, d := range []string{"sources.list.d", "preferences.d", "state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(a.path(d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(a.path("sources.list"), []byte(strings.Join(a.lines, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	// An empty dpkg status: nothing is installed in this private world, so
	// the host's packages play no part in what apt picks.
	if err := os.WriteFile(a.path("state", "status"), nil, 0o644); err != nil {
		return nil, err
	}
	return a, nil
}

// explicitMirrors are the mirrors given by option, else by environment,
// keyed by whether they serve security suites.
func explicitMirrors(opts FetchOptions) map[bool]string {
	explicit := map[bool]string{false: opts.Mirror, true: opts.SecurityMirror}
	if explicit[false] == "" {
		explicit[false] = os.Getenv(EnvMirror)
	}
	if explicit[true] == "" {
		explicit[true] = os.Getenv(EnvSecurityMirror)
	}
	return explicit
}

// SuiteMirror is the archive URI lab downloads suite from, chosen the way
// Fetch chooses it: opts.Mirror (opts.SecurityMirror for a security
// suite), else $LAB_DEBIAN_MIRROR ($LAB_DEBIAN_SECURITY_MIRROR), else the
// host's apt sources (opts.SourcesList and SourcesParts, by default the
// host's own). For callers that install a suite from elsewhere, such as
// kmod's build roots.
func SuiteMirror(suite string, opts FetchOptions) (string, error) {
	ex := explicitMirrors(opts)[IsSecuritySuite(suite)]
	var host []AptSource
	if ex == "" {
		list, parts := opts.SourcesList, opts.SourcesParts
		if list == "" && parts == "" {
			list, parts = HostSourcesList, HostSourcesParts
		}
		var err error
		if host, err = ReadAptSources(list, parts); err != nil {
			return "", fmt.Errorf("reading the host's apt sources: %w", err)
		}
	}
	return ResolveMirror(suite, ex, host)
}

func (a *aptState) updatedStamp() string { return a.path("updated") }

func (a *aptState) run(ctx context.Context, dir string, out io.Writer, name string, args ...string) error {
	var tail bytes.Buffer
	cmd := exec.CommandContext(ctx, name, append(a.options(), args...)...)
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(out, &tail)
	cmd.Stderr = io.MultiWriter(out, &tail)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, lastLinesOf(tail.String(), 6))
	}
	return nil
}

func (a *aptState) update(ctx context.Context, out io.Writer, log *slog.Logger) error {
	log.Info("updating private apt lists", "sources", a.lines)
	os.Remove(a.updatedStamp())
	if err := a.run(ctx, "", out, "apt-get", "update"); err != nil {
		return a.explainUpdate(err)
	}
	// apt-get update exits 0 when a source has no Release file for a suite
	// (it warns); such a suite is simply empty, which resolve reports.
	return os.WriteFile(a.updatedStamp(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// explainUpdate turns apt's words for a suite the mirror dropped (bullseye
// leaves the regular mirror for the archive one day) into what to do.
func (a *aptState) explainUpdate(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "does not have a Release file") && !strings.Contains(msg, "404") {
		return err
	}
	var suites []string
	for s, uri := range a.mirror {
		if strings.Contains(msg, s) {
			suites = append(suites, s+" at "+uri)
		}
	}
	sort.Strings(suites)
	return fmt.Errorf("%w\nthe mirror does not serve %s (any more): a suite that left Debian's regular mirror is on its archive mirror or a snapshot archive; pass --mirror URI (or set %s; --security-mirror / %s for security suites) with one that serves it",
		err, strings.Join(suites, ", "), EnvMirror, EnvSecurityMirror)
}

// updatedAt is when the lists were last updated (zero: never).
func (a *aptState) updatedAt() time.Time {
	b, err := os.ReadFile(a.updatedStamp())
	if err != nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
	return t
}

// listsPredate says whether the lists may predate pkgs: they were updated
// before the newest lock date (or a date is unknown). Lists newer than the
// lock that lack a package mean the mirror dropped it: no update needed to
// say so, which keeps a followed image from costing an apt-get update on
// every run.
func (a *aptState) listsPredate(pkgs []Package) bool {
	at := a.updatedAt()
	if at.IsZero() {
		return true
	}
	for _, p := range pkgs {
		d, err := time.Parse(time.RFC3339, p.Date)
		if err != nil || !at.After(d) {
			return true
		}
	}
	return false
}

// indexEntry is what the Packages index says of one package version.
type indexEntry struct{ sha256, filename string }

// query asks the private index for pkgs; the ones it does not have are
// absent from the result.
func (a *aptState) query(ctx context.Context, pkgs []Package) (map[string]indexEntry, error) {
	args := []string{"show"}
	for _, p := range pkgs {
		args = append(args, p.Name+"="+p.Version)
	}
	var out bytes.Buffer
	// apt-cache show fails when any one is missing, yet still prints the
	// others: the output, not the status, says what is there.
	_ = a.run(ctx, "", &out, "apt-cache", args...)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := map[string]indexEntry{}
	for _, st := range strings.Split(out.String(), "\n\n") {
		f := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(st))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok && !strings.HasPrefix(k, " ") {
				f[k] = v
			}
		}
		if f["Package"] == "" {
			continue
		}
		res[f["Package"]+"="+f["Version"]] = indexEntry{sha256: f["SHA256"], filename: f["Filename"]}
	}
	return res, nil
}

// download gets pkgs from the mirror into the deb cache, verified.
func download(ctx context.Context, spec *Spec, pkgs []Package, opts FetchOptions, log *slog.Logger) (map[string]string, error) {
	a, err := newAptState(spec, pkgs, opts)
	if err != nil {
		return nil, err
	}
	return downloadFrom(ctx, a, spec, pkgs, opts, log)
}

// downloadFrom gets pkgs from the archives of a into the deb cache,
// verified. Packages the index does not list (after an update) are a
// NotServedError naming all of them.
func downloadFrom(ctx context.Context, a *aptState, spec *Spec, pkgs []Package, opts FetchOptions, log *slog.Logger) (map[string]string, error) {
	// The apt state may be shared by images of the same suites.
	unlock, err := safefile.Lock(ctx, a.dir+".lock", log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	fresh := false
	refresh := func() error {
		if err := a.update(ctx, opts.Progress, log); err != nil {
			return fmt.Errorf("image %s: %w", spec.Name, err)
		}
		fresh = true
		return nil
	}
	if a.updatedAt().IsZero() {
		if err := refresh(); err != nil {
			return nil, err
		}
	}
	for {
		// Ask the index first: a version the mirror dropped or a hash that
		// differs from the lock is clear before 70 MB are downloaded.
		absent, err := a.absent(ctx, spec, pkgs)
		if err != nil {
			return nil, err
		}
		if len(absent) > 0 {
			if !fresh && a.listsPredate(absent) {
				if err := refresh(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, &NotServedError{Image: spec.Name, Packages: absent, Mirrors: a.mirror}
		}
		got, err := a.download(ctx, spec, pkgs, opts, log)
		if err == nil {
			return got, nil
		}
		if ctx.Err() != nil || fresh {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		// Lists older than the pool (a file moved or removed): refresh
		// them and ask again.
		log.Warn("download failed, updating lists and retrying", "err", err)
		if err := refresh(); err != nil {
			return nil, err
		}
	}
}

// absent is the packages of pkgs the index does not list; a listed one
// whose hash differs from the lock is an error.
func (a *aptState) absent(ctx context.Context, spec *Spec, pkgs []Package) ([]Package, error) {
	idx, err := a.query(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	var absent []Package
	for _, p := range pkgs {
		e, ok := idx[p.Name+"="+p.Version]
		if !ok {
			q := p
			q.Suite = spec.PackageSuite(p)
			absent = append(absent, q)
			continue
		}
		if e.sha256 != "" && e.sha256 != p.SHA256 {
			return nil, fmt.Errorf("image %s: package %s %s: the mirror's index says sha256 %s, the lock says %s",
				spec.Name, p.Name, p.Version, e.sha256, p.SHA256)
		}
	}
	return absent, nil
}

// download runs apt-get download for pkgs and moves the verified files
// into the deb cache.
func (a *aptState) download(ctx context.Context, spec *Spec, pkgs []Package, opts FetchOptions, log *slog.Logger) (map[string]string, error) {
	dir := debsDir(opts.CacheDir)
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"download"}
	for _, p := range pkgs {
		args = append(args, p.Name+"="+p.Version)
	}
	log.Info("downloading packages", "packages", len(pkgs), "dir", dir)
	if err := a.run(ctx, tmp, opts.Progress, "apt-get", args...); err != nil {
		return nil, err
	}
	got := map[string]string{}
	for _, p := range pkgs {
		matches, err := filepath.Glob(debPattern(tmp, p))
		if err != nil {
			return nil, err
		}
		if len(matches) != 1 {
			return nil, fmt.Errorf("image %s: apt-get download left %d files for package %s %s", spec.Name, len(matches), p.Name, p.Version)
		}
		sum, err := safefile.SHA256(matches[0])
		if err != nil {
			return nil, err
		}
		if sum != p.SHA256 {
			return nil, fmt.Errorf("image %s: package %s %s from the mirror has sha256 %s, the lock says %s",
				spec.Name, p.Name, p.Version, sum, p.SHA256)
		}
		dst := filepath.Join(dir, filepath.Base(matches[0]))
		if err := os.Rename(matches[0], dst); err != nil {
			return nil, err
		}
		got[p.Name] = dst
	}
	return got, nil
}

// ExpandSnapshot is the snapshot archive URI for p: {archive} becomes
// debian-security for a security suite and debian otherwise, {timestamp}
// the lock date of p as YYYYMMDDTHHMMSSZ (the form Debian's snapshot
// service takes). A URI without them is used as it is.
func ExpandSnapshot(uri string, p Package) (string, error) {
	archive := "debian"
	if IsSecuritySuite(p.Suite) {
		archive = "debian-security"
	}
	uri = strings.ReplaceAll(uri, "{archive}", archive)
	if strings.Contains(uri, "{timestamp}") {
		t, err := time.Parse(time.RFC3339, p.Date)
		if err != nil {
			return "", fmt.Errorf("snapshot archive %s needs a {timestamp}, and the lock gives %s %s no date", uri, p.Name, p.Version)
		}
		uri = strings.ReplaceAll(uri, "{timestamp}", t.UTC().Format("20060102T150405Z"))
	}
	return strings.TrimRight(uri, "/"), nil
}

// snapshotDebs downloads pkgs (locked packages the mirror dropped) from
// the snapshot archive; those it cannot get are absent from the result.
func snapshotDebs(ctx context.Context, spec *Spec, pkgs []Package, opts FetchOptions, log *slog.Logger) (map[string]string, error) {
	groups := map[aptSource][]Package{}
	var order []aptSource
	var errs []error
	for _, p := range pkgs {
		p.Suite = spec.PackageSuite(p)
		uri, err := ExpandSnapshot(opts.SnapshotMirror, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		src := aptSource{suite: p.Suite, uri: uri, snapshot: true}
		if _, ok := groups[src]; !ok {
			order = append(order, src)
		}
		groups[src] = append(groups[src], p)
	}
	got := map[string]string{}
	for _, src := range order {
		a, err := newAptStateFor(opts, []aptSource{src})
		if err != nil {
			return got, err
		}
		log.Info("asking the snapshot archive", "uri", src.uri, "suite", src.suite, "packages", len(groups[src]))
		files, err := downloadFrom(ctx, a, spec, groups[src], opts, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		maps.Copy(got, files)
	}
	return got, errors.Join(errs...)
}

type listsMemoKey struct{}

type listsMemo struct {
	sync.Mutex
	dirs map[string]bool
}

// WithListsMemo returns a context in which Resolve refreshes the lists of
// each private apt state once: one lab command over images that share a
// suite (debian-6.1 and debian-6.12) costs one apt-get update, not two.
func WithListsMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, listsMemoKey{}, &listsMemo{dirs: map[string]bool{}})
}

// refreshedIn says whether ctx's command refreshed the lists in dir
// already, and marks them so.
func refreshedIn(ctx context.Context, dir string) bool {
	m, ok := ctx.Value(listsMemoKey{}).(*listsMemo)
	if !ok {
		return false
	}
	m.Lock()
	defer m.Unlock()
	was := m.dirs[dir]
	m.dirs[dir] = true
	return was
}

// Resolve finds what spec's series resolves to on the mirror today: the
// newest kernel of the series and its packages. refresh updates the lists
// first (once per suite in a context from WithListsMemo);
// otherwise lists already fetched are used.
func Resolve(ctx context.Context, spec *Spec, opts FetchOptions, refresh bool) (*Lock, error) {
	if opts.Log == nil {
		opts.Log = logx.Or(nil)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.CacheDir == "" {
		d, err := CacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = d
	}
	log := opts.Log.With("image", spec.Name)
	a, err := newAptState(spec, []Package{{Suite: spec.Suite}}, opts)
	if err != nil {
		return nil, err
	}
	unlock, err := safefile.Lock(ctx, a.dir+".lock", log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if (refresh && !refreshedIn(ctx, a.dir)) || a.updatedAt().IsZero() {
		if err := a.update(ctx, opts.Progress, log); err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
	}
	idx, err := a.index(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Name, err)
	}
	ix := idx[spec.Suite]
	if ix == nil {
		ix = suiteIndex{}
	}
	return resolve(spec, ix, time.Now())
}

func mapValues(m map[string]string) []string {
	var v []string
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

// Served says whether the mirror serves every locked package of spec now
// (updating lists that may predate the lock).
func Served(ctx context.Context, spec *Spec, opts FetchOptions) (bool, error) {
	if opts.Log == nil {
		opts.Log = logx.Or(nil)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	a, err := newAptState(spec, spec.Packages, opts)
	if err != nil {
		return false, err
	}
	unlock, err := safefile.Lock(ctx, a.dir+".lock", opts.Log)
	if err != nil {
		return false, err
	}
	defer unlock()
	if a.listsPredate(spec.Packages) {
		if err := a.update(ctx, opts.Progress, opts.Log); err != nil {
			return false, err
		}
	}
	absent, err := a.absent(ctx, spec, spec.Packages)
	return len(absent) == 0, err
}

// lastLinesOf is the tail of apt's output, on one line for an error.
func lastLinesOf(s string, n int) string {
	return strings.Join(textutil.LastLines(s, n), "; ")
}
