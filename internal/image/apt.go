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

	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/textutil"
)

// aptState is a private apt configuration and state under the cache: the
// host's apt configuration and lists are never touched.
type aptState struct {
	dir    string
	lines  []string
	mirror map[string]string // suite → URI
	// archs are the Debian architectures whose indexes apt reads: amd64,
	// and the image's own when it is another (an arm64 image's kernel and
	// headers are arm64, its kbuild tools amd64).
	archs []string
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
		// The native architecture stays amd64 (the kbuild tools run on
		// the host) whatever the host's dpkg says; the image's own joins
		// it here, never in the host's dpkg architectures.
		"APT::Architecture=amd64",
		"APT::Architectures=" + strings.Join(a.archs, ","),
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
	seen := map[string]bool{}
	var srcs []aptSource
	for _, p := range pkgs {
		s := spec.PackageSuite(p)
		if seen[s] {
			continue
		}
		seen[s] = true
		uri, err := SuiteMirror(s, opts)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		srcs = append(srcs, aptSource{suite: s, uri: uri, snapshot: explicit[IsSecuritySuite(s)] != ""})
	}
	return newAptStateFor(opts, srcs, aptArchs(spec.ArchOrDefault()))
}

// aptArchs are the architectures a private apt state of an arch image
// reads: amd64 always (the build host's kbuild tools), and arch.
func aptArchs(arch string) []string {
	if arch == ArchAMD64 {
		return []string{ArchAMD64}
	}
	return []string{ArchAMD64, arch}
}

// newAptStateFor lays out a private apt state serving srcs. The directory
// is named by the hash of its sources, so that images from other suites
// or mirrors keep their own lists instead of clobbering these.
func newAptStateFor(opts FetchOptions, srcs []aptSource, archs []string) (*aptState, error) {
	keyring := opts.Keyring
	if keyring == "" {
		keyring = os.Getenv(EnvKeyring)
	}
	if keyring == "" {
		keyring = Keyring
	}
	a := &aptState{mirror: map[string]string{}, archs: archs}
	for _, src := range srcs {
		a.mirror[src.suite] = src.uri
		opt := "signed-by=" + keyring
		if src.snapshot {
			opt += " check-valid-until=no"
		}
		a.lines = append(a.lines, fmt.Sprintf("deb [%s] %s %s main", opt, src.uri, src.suite))
	}
	sort.Strings(a.lines)
	id := strings.Join(a.lines, "\n")
	if len(archs) > 1 {
		// Lists of other architectures are another state: an amd64-only
		// one updated earlier would lack them. amd64 alone keeps the
		// name it always had.
		id += "\narchitectures " + strings.Join(archs, ",")
	}
	h := sha256.Sum256([]byte(id))
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
	if out == nil {
		out = io.Discard
	}
	// One writer for both: os/exec then copies them in one goroutine
	// (two MultiWriters around tail raced on it).
	w := io.MultiWriter(out, &tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.Join(textutil.LastLines(tail.String(), 6), "; "))
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
		args = append(args, aptName(p)+"="+p.Version)
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
		res[queryKey(f["Package"], f["Architecture"], f["Version"])] = indexEntry{sha256: f["SHA256"], filename: f["Filename"]}
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
		e, ok := idx[queryKey(p.Name, p.Arch, p.Version)]
		if !ok && p.Arch == "" {
			// Locks say no arch for amd64 and, written before lab read
			// architectures, for arch-all packages (the common headers,
			// linux-source) too.
			e, ok = idx[queryKey(p.Name, "all", p.Version)]
		}
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

// queryKey names a package of query's answer: amd64's and arm64's
// linux-kbuild share a name and version. An empty arch is amd64.
func queryKey(name, arch, version string) string {
	if arch == "" {
		arch = ArchAMD64
	}
	return name + ":" + arch + "=" + version
}

// aptName is p's name as apt selects it: a package of an architecture
// other than the native amd64 (and all) needs it spelled out.
func aptName(p Package) string {
	if p.Arch != "" && p.Arch != "all" && p.Arch != ArchAMD64 {
		return p.Name + ":" + p.Arch
	}
	return p.Name
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
		args = append(args, aptName(p)+"="+p.Version)
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
