package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Builds lists every build of spec's series the mirror serves, in spec's
// suite and the release it updates (bookworm-security and bookworm), in
// Debian version order, each as a copy of spec locked to that build: its
// name stays the image's, so per-kernel expectations apply, and nothing is
// written to images/. A build whose packages the suite does not serve
// whole is left out and named in skipped. refresh updates the lists.
func Builds(ctx context.Context, spec *Spec, opts FetchOptions, refresh bool) (builds []*Spec, skipped []string, err error) {
	if spec.Tree != "" {
		return nil, nil, fmt.Errorf("image %s is a local kernel tree: it has no Debian builds", spec.Name)
	}
	suites := []string{spec.Suite}
	if b := baseSuite(spec.Suite); b != spec.Suite {
		suites = []string{b, spec.Suite}
	}
	re := kernelPackageRe(spec.Series, spec.FlavourOrDefault())
	seen := map[string]bool{}
	now := time.Now()
	for _, suite := range suites {
		s := *spec
		s.Suite, s.Packages = suite, nil
		ix, err := indexOf(ctx, &s, opts, refresh)
		if err != nil {
			return nil, nil, err
		}
		for name, pkgs := range ix {
			if re.FindStringSubmatch(name) == nil {
				continue
			}
			for _, p := range pkgs {
				if seen[p.Version] {
					continue
				}
				lock, err := resolve(&s, ix, now, &Package{Name: name, Version: p.Version})
				if err != nil {
					skipped = append(skipped, fmt.Sprintf("%s %s (%s): %v", name, p.Version, suite, err))
					continue
				}
				seen[p.Version] = true
				b := s.WithLock(lock)
				b.Suite = spec.Suite
				builds = append(builds, b)
			}
		}
	}
	sort.Slice(builds, func(i, j int) bool {
		return compareVersions(builds[i].PackageVersion(), builds[j].PackageVersion()) < 0
	})
	return builds, skipped, nil
}

// CompareVersions orders two Debian versions.
func CompareVersions(a, b string) int { return compareVersions(a, b) }

// ChangelogEntry is one entry of a Debian changelog.
type ChangelogEntry struct {
	Version string
	Lines   []string // the entry's text, its header line first
}

var reChangelogHead = regexp.MustCompile(`^linux \(([^)]+)\) `)

// Changelog reads the source package's changelog (linux) that a build's
// headers carry (usr/share/doc/linux-headers-*-common/changelog.Debian.gz):
// the upstream versions and fixes, newest first.
func (img *Image) Changelog() ([]ChangelogEntry, error) {
	paths, _ := filepath.Glob(filepath.Join(img.Root, "usr", "share", "doc", "linux-headers-*", "changelog.Debian.gz"))
	if len(paths) == 0 {
		return nil, fmt.Errorf("image %s: no changelog.Debian.gz under usr/share/doc", img.Spec.Name)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", paths[0], err)
	}
	var out []ChangelogEntry
	sc := bufio.NewScanner(z)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := reChangelogHead.FindStringSubmatch(line); m != nil {
			out = append(out, ChangelogEntry{Version: m[1]})
		}
		if len(out) > 0 && strings.TrimSpace(line) != "" {
			e := &out[len(out)-1]
			e.Lines = append(e.Lines, line)
		}
	}
	return out, sc.Err()
}

// Between is the entries after version from up to and including to.
func Between(entries []ChangelogEntry, from, to string) []ChangelogEntry {
	var out []ChangelogEntry
	for _, e := range entries {
		if compareVersions(e.Version, from) > 0 && compareVersions(e.Version, to) <= 0 {
			out = append(out, e)
		}
	}
	return out
}
