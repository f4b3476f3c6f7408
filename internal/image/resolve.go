package image

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kernel-lab/lab/internal/safefile"

	"pault.ag/go/debian/dependency"
)

// kernelPackageRe matches the signed kernel package of a release string:
// linux-image-<series><.digits…><-abi | +debN>-<flavour>, and nothing
// else (-dbg, -unsigned and other flavours have other suffixes).
func kernelPackageRe(series, flavour string) *regexp.Regexp {
	return regexp.MustCompile(`^linux-image-(` + regexp.QuoteMeta(series) + `(\.[0-9]+)+(-[0-9]+|\+deb[0-9]+)?-` + regexp.QuoteMeta(flavour) + `)$`)
}

// anySeriesRe finds the series of any kernel package of a flavour, to say
// what a suite serves when the wanted series is gone.
func anySeriesRe(flavour string) *regexp.Regexp {
	return regexp.MustCompile(`^linux-image-([0-9]+\.[0-9]+)(\.[0-9]+)+(-[0-9]+|\+deb[0-9]+)?-` + regexp.QuoteMeta(flavour) + `$`)
}

// partRe: the dependencies that are part of a kernel build. Others
// (kmod, initramfs-tools, the generic linux-base, compilers) are the
// host's business, not the image's.
var partRe = regexp.MustCompile(`^linux-(image|binary|modules|base|headers|kbuild)-[0-9]`)

// SeriesGoneError says that a suite serves no kernel of the image's series.
type SeriesGoneError struct {
	Image, Suite, Series, Flavour string
	// Serves lists the series the suite serves for the flavour, newest
	// last, each with its newest kernel package.
	Serves []string
}

func (e *SeriesGoneError) Error() string {
	msg := fmt.Sprintf("image %s: %s serves no %s kernel of series %s any more", e.Image, e.Suite, e.Flavour, e.Series)
	if len(e.Serves) == 0 {
		return msg + " (it serves no " + e.Flavour + " kernel at all)"
	}
	return msg + "; it serves " + strings.Join(e.Serves, ", ") + ": make an image of one of those, or point --mirror at a snapshot archive that still has " + e.Series
}

// resolve picks the newest kernel of spec's series that ix serves (or pin,
// the kernel package at a version, when given), and the packages lab needs
// with it: the kernel package, its headers, and their dependencies that
// are part of the same build, at the versions the dependencies ask for
// (the newest served that satisfies them).
func resolve(spec *Spec, ix suiteIndex, now time.Time, pin *Package) (*Lock, error) {
	kernel, release, err := pickKernel(spec, ix, pin)
	if err != nil {
		return nil, err
	}
	headers, ok := ix.exact("linux-headers-"+release, kernel.Version)
	if !ok {
		return nil, fmt.Errorf("image %s: %s serves %s %s but not linux-headers-%s at that version", spec.Name, spec.Suite, kernel.Name, kernel.Version, release)
	}
	return lockBuild(spec, ix, now, release, kernel, headers)
}

// pickKernel is the kernel package: pin when given (its version "" means
// the newest served), else the newest of the spec's series.
func pickKernel(spec *Spec, ix suiteIndex, pin *Package) (indexPackage, string, error) {
	flavour := spec.FlavourOrDefault()
	if pin != nil {
		m := anySeriesRe(flavour).FindStringSubmatch(pin.Name)
		if m == nil {
			return indexPackage{}, "", fmt.Errorf("image %s: %s is not a signed %s kernel package (want linux-image-RELEASE-%s)", spec.Name, pin.Name, flavour, flavour)
		}
		p, ok := ix.newest(pin.Name)
		if pin.Version != "" {
			p, ok = ix.exact(pin.Name, pin.Version)
		}
		if !ok {
			var have []string
			for _, q := range ix[pin.Name] {
				have = append(have, q.Version)
			}
			msg := fmt.Sprintf("image %s: %s does not serve %s %s", spec.Name, spec.Suite, pin.Name, pin.Version)
			if len(have) > 0 {
				msg += " (it serves " + strings.Join(have, ", ") + ")"
			}
			return indexPackage{}, "", errors.New(msg)
		}
		return p, strings.TrimPrefix(pin.Name, "linux-image-"), nil
	}
	re := kernelPackageRe(spec.Series, flavour)
	var kernel indexPackage
	release := ""
	for name := range ix {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		p, _ := ix.newest(name)
		if release == "" || compareVersions(p.Version, kernel.Version) > 0 ||
			(compareVersions(p.Version, kernel.Version) == 0 && name > kernel.Name) {
			kernel, release = p, m[1]
		}
	}
	if release == "" {
		return indexPackage{}, "", &SeriesGoneError{Image: spec.Name, Suite: spec.Suite, Series: spec.Series, Flavour: flavour, Serves: servedSeries(ix, flavour)}
	}
	return kernel, release, nil
}

// lockBuild locks kernel and headers with their build dependencies.
func lockBuild(spec *Spec, ix suiteIndex, now time.Time, release string, kernel, headers indexPackage) (*Lock, error) {
	date := now.UTC().Format(time.RFC3339)
	l := &Lock{Image: spec.Name, Release: release}
	seen := map[string]bool{}
	queue := []indexPackage{kernel, headers}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if p.SHA256 == "" {
			return nil, fmt.Errorf("image %s: the %s index gives no SHA256 for %s %s", spec.Name, spec.Suite, p.Name, p.Version)
		}
		l.Packages = append(l.Packages, Package{Name: p.Name, Version: p.Version, SHA256: p.SHA256, Suite: spec.Suite, Arch: lockArch(p.Arch), Date: date})
		deps, err := buildDeps(p, ix)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		queue = append(queue, deps...)
	}
	return l, nil
}

// lockArch is how a lock spells an index's Architecture: amd64, the
// default, not at all (amd64 locks read as they always did).
func lockArch(a string) string {
	if a == ArchAMD64 {
		return ""
	}
	return a
}

// buildDeps are the packages of p's Depends that belong to the kernel
// build, each at the newest served version that satisfies the relation.
// Of alternatives ("a | b") the first that is part of the build wins.
func buildDeps(p indexPackage, ix suiteIndex) ([]indexPackage, error) {
	if p.Depends == "" {
		return nil, nil
	}
	dep, err := dependency.Parse(p.Depends)
	if err != nil {
		return nil, fmt.Errorf("%s %s: cannot parse Depends %q: %w", p.Name, p.Version, p.Depends, err)
	}
	var out []indexPackage
	for _, rel := range dep.Relations {
		for _, poss := range rel.Possibilities {
			if !partRe.MatchString(poss.Name) {
				continue
			}
			var best indexPackage
			found := false
			for _, c := range ix[poss.Name] {
				if poss.Version != nil && !satisfies(c.Version, *poss.Version) {
					continue
				}
				if !found || compareVersions(c.Version, best.Version) > 0 {
					best, found = c, true
				}
			}
			if !found {
				want := poss.Name
				if poss.Version != nil {
					want += " (" + poss.Version.Operator + " " + poss.Version.Number + ")"
				}
				return nil, fmt.Errorf("%s %s depends on %s, which the suite does not serve", p.Name, p.Version, want)
			}
			out = append(out, best)
			break
		}
	}
	return out, nil
}

func satisfies(v string, rel dependency.VersionRelation) bool {
	c := compareVersions(v, rel.Number)
	switch rel.Operator {
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	case ">>":
		return c > 0
	case "<<":
		return c < 0
	}
	return false
}

// servedSeries lists each series of flavour that ix serves, with its
// newest kernel package, in version order.
func servedSeries(ix suiteIndex, flavour string) []string {
	re := anySeriesRe(flavour)
	newest := map[string]indexPackage{}
	for name := range ix {
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		p, _ := ix.newest(name)
		if b, ok := newest[m[1]]; !ok || compareVersions(p.Version, b.Version) > 0 {
			newest[m[1]] = p
		}
	}
	var series []string
	for s := range newest {
		series = append(series, s)
	}
	sort.Slice(series, func(i, j int) bool { return compareVersions(series[i], series[j]) < 0 })
	var out []string
	for _, s := range series {
		out = append(out, fmt.Sprintf("%s (%s %s)", s, newest[s].Name, newest[s].Version))
	}
	return out
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
	ix, err := indexOf(ctx, spec, opts, refresh)
	if err != nil {
		return nil, err
	}
	return resolve(spec, ix, time.Now(), nil)
}

// indexOf reads the kernel packages spec's suite serves, updating the
// lists when asked to (or when there are none yet).
func indexOf(ctx context.Context, spec *Spec, opts FetchOptions, refresh bool) (suiteIndex, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
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
	if ix := idx[spec.Suite]; ix != nil {
		return ix.forArch(spec.ArchOrDefault()), nil
	}
	return suiteIndex{}, nil
}

// Served says whether the mirror serves every locked package of spec now
// (updating lists that may predate the lock).
func Served(ctx context.Context, spec *Spec, opts FetchOptions) (bool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return false, err
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
