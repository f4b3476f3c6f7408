package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"pault.ag/go/debian/version"
)

// indexPackage is what a suite's Packages index says of one package.
type indexPackage struct {
	Name, Version, SHA256, Filename, Depends, Suite string
	// Arch is the stanza's Architecture (amd64, arm64, all).
	Arch string
}

// forArch is the part of ix an image of arch builds from: packages of
// arch or all, except the kbuild tools (linux-kbuild-*), which are
// programs that run on the build host, amd64 whatever the kernel's
// architecture (an arm64 kernel's own kbuild holds arm64 binaries). A
// stanza without an Architecture counts as amd64.
func (ix suiteIndex) forArch(arch string) suiteIndex {
	out := suiteIndex{}
	for name, ps := range ix {
		want := arch
		if strings.HasPrefix(name, "linux-kbuild-") {
			want = "amd64"
		}
		for _, p := range ps {
			a := p.Arch
			if a == "" {
				a = "amd64"
			}
			if a == want || a == "all" {
				out[name] = append(out[name], p)
			}
		}
	}
	return out
}

// suiteIndex is the kernel packages (linux-*) one suite serves, by name.
// Debian suites carry one version of a package name, but an index built
// from several sources may hold more: all are kept.
type suiteIndex map[string][]indexPackage

// newest is the highest version of name, or false.
func (ix suiteIndex) newest(name string) (indexPackage, bool) {
	var best indexPackage
	found := false
	for _, p := range ix[name] {
		if !found || compareVersions(p.Version, best.Version) > 0 {
			best, found = p, true
		}
	}
	return best, found
}

// exact is name at version v, or false.
func (ix suiteIndex) exact(name, v string) (indexPackage, bool) {
	for _, p := range ix[name] {
		if p.Version == v {
			return p, true
		}
	}
	return indexPackage{}, false
}

// compareVersions orders Debian versions (epoch, upstream, revision, with
// ~ before anything). An unparsable version sorts first.
func compareVersions(a, b string) int {
	va, erra := version.Parse(a)
	vb, errb := version.Parse(b)
	switch {
	case erra != nil && errb != nil:
		return strings.Compare(a, b)
	case erra != nil:
		return -1
	case errb != nil:
		return 1
	}
	return version.Compare(va, vb)
}

// parsePackagesIndex reads a Packages file, keeping the stanzas whose
// package name starts with prefix. It reads line by line: bookworm's index
// is about 90 MB, of which lab wants a few hundred stanzas.
func parsePackagesIndex(r io.Reader, suite, prefix string, into suiteIndex) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur *indexPackage
	keep := false
	last := ""
	flush := func() {
		if cur != nil && keep && cur.Name != "" {
			into[cur.Name] = append(into[cur.Name], *cur)
		}
		cur, keep, last = nil, false, ""
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if cur == nil {
			cur = &indexPackage{Suite: suite}
		}
		if line[0] == ' ' || line[0] == '\t' {
			if keep && last == "Depends" {
				cur.Depends += " " + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		last = k
		switch k {
		case "Package":
			cur.Name = v
			keep = strings.HasPrefix(v, prefix)
		case "Version":
			cur.Version = v
		case "SHA256":
			cur.SHA256 = v
		case "Filename":
			cur.Filename = v
		case "Depends":
			cur.Depends = v
		case "Architecture":
			cur.Arch = v
		}
	}
	flush()
	return sc.Err()
}

// index reads the kernel packages of the private state's lists (after
// update): apt names its index files (`apt-get indextargets`) and
// decompresses them whatever compression the host's apt configuration
// chose (`apt-helper cat-file`).
func (a *aptState) index(ctx context.Context) (map[string]suiteIndex, error) {
	var out bytes.Buffer
	if err := a.run(ctx, "", &out, "apt-get", "indextargets", "--format", "$(FILENAME)\t$(RELEASE)", "Created-By: Packages"); err != nil {
		return nil, err
	}
	res := map[string]suiteIndex{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		file, suite, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if res[suite] == nil {
			res[suite] = suiteIndex{}
		}
		cmd := exec.CommandContext(ctx, "/usr/lib/apt/apt-helper", "cat-file", file)
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("reading apt index %s: %w", file, err)
		}
		perr := parsePackagesIndex(pipe, suite, "linux-", res[suite])
		io.Copy(io.Discard, pipe)
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("reading apt index %s: %w: %s", file, err, strings.TrimSpace(stderr.String()))
		}
		if perr != nil {
			return nil, fmt.Errorf("reading apt index %s: %w", file, perr)
		}
	}
	return res, nil
}
