package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
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
	// Progress receives apt's output (download progress); nil discards it.
	Progress io.Writer
	// Log receives what lab does; nil discards it.
	Log *slog.Logger
}

// NotServedError says that the mirror no longer has a pinned package:
// security suites drop superseded versions.
type NotServedError struct {
	Image, Package, Version, Suite, Mirror string
}

func (e *NotServedError) Error() string {
	flag, env := "--mirror", EnvMirror
	if IsSecuritySuite(e.Suite) {
		flag, env = "--security-mirror", EnvSecurityMirror
	}
	return fmt.Sprintf("image %s: package %s %s is not served by the mirror any more (%s %s); pass %s (or set %s) with a snapshot archive",
		e.Image, e.Package, e.Version, e.Mirror, e.Suite, flag, env)
}

// Fetch makes sure the image's packages are downloaded, verified and
// unpacked into the cache, and returns the image. It downloads only what
// the cache lacks and unpacks only when the spec changed.
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
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	log := opts.Log.With("image", spec.Name)
	img := New(spec, cache)
	if img.Cached() && img.debsPresent() {
		return img, nil
	}
	if err := os.MkdirAll(imagesDir(cache), 0o755); err != nil {
		return nil, err
	}
	unlock, err := safefile.Lock(ctx, img.lockPath(), log)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", spec.Name, err)
	}
	defer unlock()
	// Another process may have finished while this one waited.
	if img.Cached() {
		// The tree is fine but a .deb went missing from the cache: get it
		// back while the mirror still serves it, without failing a usable
		// image when it does not.
		if !img.debsPresent() {
			if _, err := fetchDebs(ctx, spec, opts, log); err != nil {
				log.Warn("cannot restore the cached packages", "err", err)
			}
		}
		return img, nil
	}
	start := time.Now()
	debs, err := fetchDebs(ctx, spec, opts, log)
	if err != nil {
		return nil, err
	}
	log.Info("packages ready", "elapsed", time.Since(start).Round(time.Millisecond))
	start = time.Now()
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

// newAptState lays out the private apt state for the suites of pkgs. The
// directory is named by the hash of its sources, so that images from other
// suites or mirrors keep their own lists instead of clobbering these.
func newAptState(spec *Spec, pkgs []Package, opts FetchOptions) (*aptState, error) {
	explicit := explicitMirrors(opts)
	var host []AptSource
	hostRead := false
	a := &aptState{mirror: map[string]string{}}
	var suites []string
	for _, p := range pkgs {
		s := spec.PackageSuite(p)
		if _, ok := a.mirror[s]; ok {
			continue
		}
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
		a.mirror[s] = uri
		suites = append(suites, s)
		opt := "signed-by=" + Keyring
		if ex != "" {
			// Snapshot archives serve Release files long past their
			// Valid-Until; the packages are pinned by sha256 anyway.
			opt += " check-valid-until=no"
		}
		a.lines = append(a.lines, fmt.Sprintf("deb [%s] %s %s main", opt, uri, s))
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
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, lastLines(tail.String(), 6))
	}
	return nil
}

func (a *aptState) update(ctx context.Context, out io.Writer, log *slog.Logger) error {
	log.Info("updating private apt lists", "sources", a.lines)
	os.Remove(a.updatedStamp())
	if err := a.run(ctx, "", out, "apt-get", "update"); err != nil {
		return err
	}
	return os.WriteFile(a.updatedStamp(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
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
	// The apt state may be shared by images of the same suites.
	unlock, err := safefile.Lock(ctx, a.dir+".lock", log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	updated := false
	if _, err := os.Stat(a.updatedStamp()); err != nil {
		if err := a.update(ctx, opts.Progress, log); err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		updated = true
	}
	// Ask the index first: a version the mirror dropped or a hash that
	// differs from the spec is clear before 70 MB are downloaded.
	for {
		idx, err := a.query(ctx, pkgs)
		if err != nil {
			return nil, err
		}
		var absent []Package
		for _, p := range pkgs {
			e, ok := idx[p.Name+"="+p.Version]
			if !ok {
				absent = append(absent, p)
				continue
			}
			if e.sha256 != "" && e.sha256 != p.SHA256 {
				return nil, fmt.Errorf("image %s: package %s %s: the mirror's index says sha256 %s, the spec says %s",
					spec.Name, p.Name, p.Version, e.sha256, p.SHA256)
			}
		}
		if len(absent) == 0 {
			break
		}
		if updated {
			p := absent[0]
			s := spec.PackageSuite(p)
			return nil, &NotServedError{Image: spec.Name, Package: p.Name, Version: p.Version, Suite: s, Mirror: a.mirror[s]}
		}
		// Stale lists may predate the pinned version.
		if err := a.update(ctx, opts.Progress, log); err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		updated = true
	}

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
		if ctx.Err() != nil || updated {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		// Lists older than the pool (a file moved or removed): refresh
		// them and try once more.
		log.Warn("download failed, updating lists and retrying", "err", err)
		if err := a.update(ctx, opts.Progress, log); err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		if err := a.run(ctx, tmp, opts.Progress, "apt-get", args...); err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
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
			return nil, fmt.Errorf("image %s: package %s %s from the mirror has sha256 %s, the spec says %s",
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

func mapValues(m map[string]string) []string {
	var v []string
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
