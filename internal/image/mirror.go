package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Host apt configuration that names the mirrors lab uses when none is given.
const (
	HostSourcesList  = "/etc/apt/sources.list"
	HostSourcesParts = "/etc/apt/sources.list.d"
)

// Environment variables that name a mirror explicitly, like the flags.
const (
	EnvMirror         = "LAB_DEBIAN_MIRROR"
	EnvSecurityMirror = "LAB_DEBIAN_SECURITY_MIRROR"
)

// AptSource is one enabled binary ("deb") entry of the host's apt sources.
type AptSource struct {
	File       string
	Line       int
	URIs       []string
	Suites     []string
	Components []string
}

// ReadAptSources reads the one-line sources file (missing is fine) and the
// *.list and *.sources files of partsDir, the way apt does: files with
// other names (e.g. *.disabled) are ignored, and so are deb822 stanzas with
// "Enabled: no".
func ReadAptSources(sourcesList, partsDir string) ([]AptSource, error) {
	var out []AptSource
	add := func(file string, parse func(string, io.Reader) ([]AptSource, error)) error {
		f, err := os.Open(file)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		defer f.Close()
		srcs, err := parse(file, f)
		if err != nil {
			return err
		}
		out = append(out, srcs...)
		return nil
	}
	if sourcesList != "" {
		if err := add(sourcesList, ParseSourcesList); err != nil {
			return nil, err
		}
	}
	if partsDir != "" {
		entries, err := os.ReadDir(partsDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			var err error
			switch {
			case strings.HasSuffix(n, ".list"):
				err = add(filepath.Join(partsDir, n), ParseSourcesList)
			case strings.HasSuffix(n, ".sources"):
				err = add(filepath.Join(partsDir, n), ParseDeb822Sources)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ParseSourcesList parses apt's one-line format:
// deb [opt=val ...] URI SUITE [COMPONENT...].
func ParseSourcesList(name string, r io.Reader) ([]AptSource, error) {
	var out []AptSource
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		typ, rest := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			typ, rest = text[:i], text[i:]
		}
		if typ != "deb" && typ != "deb-src" {
			return nil, fmt.Errorf("%s:%d: unknown source type %q", name, line, typ)
		}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]")
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated [options]", name, line)
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: want URI and suite", name, line)
		}
		if typ != "deb" {
			continue
		}
		out = append(out, AptSource{File: name, Line: line, URIs: f[:1], Suites: f[1:2], Components: f[2:]})
	}
	return out, sc.Err()
}

// ParseDeb822Sources parses apt's deb822 format (*.sources).
func ParseDeb822Sources(name string, r io.Reader) ([]AptSource, error) {
	var out []AptSource
	fields := map[string]string{}
	start, line := 0, 0
	var last string
	flush := func() error {
		defer func() { fields = map[string]string{}; last = "" }()
		if len(fields) == 0 {
			return nil
		}
		if strings.EqualFold(fields["enabled"], "no") {
			return nil
		}
		types := strings.Fields(fields["types"])
		isDeb := false
		for _, t := range types {
			isDeb = isDeb || t == "deb"
		}
		if len(types) == 0 || len(strings.Fields(fields["uris"])) == 0 || len(strings.Fields(fields["suites"])) == 0 {
			return fmt.Errorf("%s:%d: stanza lacks Types, URIs or Suites", name, start)
		}
		if !isDeb {
			return nil
		}
		out = append(out, AptSource{
			File: name, Line: start,
			URIs:       strings.Fields(fields["uris"]),
			Suites:     strings.Fields(fields["suites"]),
			Components: strings.Fields(fields["components"]),
		})
		return nil
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case strings.HasPrefix(text, "#"):
			// Comments neither end a stanza nor belong to it.
		case strings.TrimSpace(text) == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case text[0] == ' ' || text[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("%s:%d: continuation line outside a field", name, line)
			}
			fields[last] += " " + strings.TrimSpace(text)
		default:
			k, v, ok := strings.Cut(text, ":")
			if !ok {
				return nil, fmt.Errorf("%s:%d: want \"Field: value\"", name, line)
			}
			if len(fields) == 0 {
				start = line
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// IsSecuritySuite says whether suite is served by the separate security
// archive (bookworm-security and the like).
func IsSecuritySuite(suite string) bool {
	return strings.HasSuffix(suite, "-security") || strings.HasSuffix(suite, "/updates")
}

// ResolveMirror picks the archive URI for suite: explicit when given (the
// flag or environment value the caller chose for that kind of suite), else
// a host entry that lists the suite, else a host entry for the right
// archive (a URI path ending in debian-security for security suites, in
// /debian for the others).
func ResolveMirror(suite, explicit string, host []AptSource) (string, error) {
	if explicit != "" {
		return strings.TrimRight(explicit, "/"), nil
	}
	var byArchive string
	for _, s := range host {
		if len(s.Components) > 0 && !contains(s.Components, "main") {
			continue
		}
		for _, u := range s.URIs {
			u = strings.TrimRight(u, "/")
			if contains(s.Suites, suite) {
				return u, nil
			}
			if byArchive != "" {
				continue
			}
			p := uriPath(u)
			if IsSecuritySuite(suite) {
				if strings.HasSuffix(p, "debian-security") {
					byArchive = u
				}
			} else if strings.HasSuffix(p, "/debian") {
				byArchive = u
			}
		}
	}
	if byArchive != "" {
		return byArchive, nil
	}
	flag, env, archive := "--mirror", EnvMirror, "debian"
	if IsSecuritySuite(suite) {
		flag, env, archive = "--security-mirror", EnvSecurityMirror, "debian-security"
	}
	return "", fmt.Errorf("no debian mirror for suite %s: the host's apt sources list neither that suite nor a %s archive; pass %s URI or set %s", suite, archive, flag, env)
}

func uriPath(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Path != "" {
		return strings.TrimRight(pu.Path, "/")
	}
	return u
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
