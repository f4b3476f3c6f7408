package image

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func hostSources(t *testing.T, dir string) []AptSource {
	t.Helper()
	d := filepath.Join("testdata", "apt", dir)
	srcs, err := ReadAptSources(filepath.Join(d, "sources.list"), filepath.Join(d, "sources.list.d"))
	if err != nil {
		t.Fatal(err)
	}
	return srcs
}

func TestReadAptSources(t *testing.T) {
	got := hostSources(t, "bookworm")
	want := []AptSource{
		{File: "testdata/apt/bookworm/sources.list.d/debian.sources", Line: 1,
			URIs: []string{"http://mirror.example.org/debian"}, Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		{File: "testdata/apt/bookworm/sources.list.d/debian.sources", Line: 8,
			URIs: []string{"http://mirror.example.org/debian-security/"}, Suites: []string{"bookworm-security"}, Components: []string{"main"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	got = hostSources(t, "oneline")
	want = []AptSource{
		{File: "testdata/apt/oneline/sources.list", Line: 2,
			URIs: []string{"http://ftp.example.org/debian"}, Suites: []string{"bullseye"}, Components: []string{"main", "contrib"}},
		{File: "testdata/apt/oneline/sources.list", Line: 4,
			URIs: []string{"http://security.example.org/debian-security"}, Suites: []string{"bullseye-security"}, Components: []string{"main"}},
		{File: "testdata/apt/oneline/sources.list.d/extra.list", Line: 1,
			URIs: []string{"http://extra.example.org/ubuntu"}, Suites: []string{"jammy"}, Components: []string{"main"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseSourcesErrors(t *testing.T) {
	if _, err := ParseSourcesList("x.list", strings.NewReader("deb [arch=amd64 http://a/debian sid main\n")); err == nil || !strings.Contains(err.Error(), "x.list:1: unterminated") {
		t.Errorf("err = %v", err)
	}
	if _, err := ParseSourcesList("x.list", strings.NewReader("\nrpm http://a/ x\n")); err == nil || !strings.Contains(err.Error(), "x.list:2: unknown source type") {
		t.Errorf("err = %v", err)
	}
	if _, err := ParseDeb822Sources("x.sources", strings.NewReader("Types: deb\nSuites: sid\n")); err == nil || !strings.Contains(err.Error(), "x.sources:1: stanza lacks") {
		t.Errorf("err = %v", err)
	}
	// Continuation lines and case-insensitive field names.
	got, err := ParseDeb822Sources("x.sources", strings.NewReader("types: deb\nURIs: http://a.example.org/debian\n  http://b.example.org/debian\nSuites: sid\n"))
	if err != nil || len(got) != 1 || len(got[0].URIs) != 2 {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestResolveMirror(t *testing.T) {
	tests := []struct {
		name, host, suite, explicit string
		want                        string // "" means an error is expected
		wantErr                     string
	}{
		{name: "suite listed", host: "bookworm", suite: "bookworm", want: "http://mirror.example.org/debian"},
		{name: "security suite listed", host: "bookworm", suite: "bookworm-security", want: "http://mirror.example.org/debian-security"},
		{name: "other suite from the debian archive, not from disabled entries that list it", host: "bookworm", suite: "sid", want: "http://mirror.example.org/debian"},
		{name: "other security suite from the security archive", host: "bookworm", suite: "bullseye-security", want: "http://mirror.example.org/debian-security"},
		{name: "explicit wins", host: "bookworm", suite: "bookworm", explicit: "http://snapshot.example.org/archive/debian/20250101T000000Z/", want: "http://snapshot.example.org/archive/debian/20250101T000000Z"},
		{name: "one-line listed", host: "oneline", suite: "bullseye-security", want: "http://security.example.org/debian-security"},
		{name: "one-line archive", host: "oneline", suite: "bookworm", want: "http://ftp.example.org/debian"},
		{name: "entry without main is skipped", host: "archiveonly", suite: "bookworm", want: "http://archive.example.org/debian"},
		{name: "security archive by path", host: "archiveonly", suite: "bookworm-security", want: "http://archive.example.org/debian-security"},
		{name: "disabled files and stanzas are ignored", host: "noneatall", suite: "sid",
			wantErr: "no debian mirror for suite sid: the host's apt sources list neither that suite nor a debian archive; pass --mirror URI or set LAB_DEBIAN_MIRROR"},
		{name: "nothing for security", host: "noneatall", suite: "bookworm-security",
			wantErr: "pass --security-mirror URI or set LAB_DEBIAN_SECURITY_MIRROR"},
		{name: "no host sources at all", host: "missing", suite: "bookworm", wantErr: "pass --mirror URI or set LAB_DEBIAN_MIRROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveMirror(tc.suite, tc.explicit, hostSources(t, tc.host))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestNewAptStateMirrors(t *testing.T) {
	spec := &Spec{Name: "x", Suite: "bookworm-security", Packages: []Package{
		{Name: "a", Version: "1"}, {Name: "b", Version: "1", Suite: "sid"},
	}}
	d := filepath.Join("testdata", "apt", "bookworm")
	opts := FetchOptions{CacheDir: t.TempDir(), SourcesList: filepath.Join(d, "sources.list"), SourcesParts: filepath.Join(d, "sources.list.d")}

	t.Setenv(EnvMirror, "")
	t.Setenv(EnvSecurityMirror, "")
	a, err := newAptState(spec, spec.Packages, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"deb [signed-by=" + Keyring + "] http://mirror.example.org/debian sid main",
		"deb [signed-by=" + Keyring + "] http://mirror.example.org/debian-security bookworm-security main",
	}
	if !reflect.DeepEqual(a.lines, want) {
		t.Errorf("lines %q\nwant  %q", a.lines, want)
	}

	// The environment names a snapshot for security suites only.
	t.Setenv(EnvSecurityMirror, "http://snapshot.example.org/archive/debian-security/20251120T000000Z")
	b, err := newAptState(spec, spec.Packages, opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.mirror["bookworm-security"] != "http://snapshot.example.org/archive/debian-security/20251120T000000Z" || b.mirror["sid"] != "http://mirror.example.org/debian" {
		t.Errorf("mirrors %v", b.mirror)
	}
	if !strings.Contains(strings.Join(b.lines, "\n"), "check-valid-until=no] http://snapshot.example.org") {
		t.Errorf("snapshot line lacks check-valid-until=no: %q", b.lines)
	}
	if a.dir == b.dir {
		t.Error("other sources share an apt state dir")
	}
	// The flag value beats the environment.
	opts.SecurityMirror = "http://flag.example.org/debian-security"
	c, err := newAptState(spec, spec.Packages, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.mirror["bookworm-security"] != "http://flag.example.org/debian-security" {
		t.Errorf("mirrors %v", c.mirror)
	}
}

func TestSuiteMirror(t *testing.T) {
	t.Setenv(EnvMirror, "")
	t.Setenv(EnvSecurityMirror, "")
	d := filepath.Join("testdata", "apt", "bookworm")
	host := FetchOptions{SourcesList: filepath.Join(d, "sources.list"), SourcesParts: filepath.Join(d, "sources.list.d")}
	withMirror := host
	withMirror.Mirror = "http://flag.example.org/debian/"
	withSecurity := host
	withSecurity.SecurityMirror = "http://flag.example.org/debian-security"
	tests := []struct {
		name, suite string
		opts        FetchOptions
		env         string // $LAB_DEBIAN_MIRROR
		want, err   string
	}{
		// sid is not in the host's sources: the /debian archive serves it.
		{name: "host archive", suite: "sid", opts: host, want: "http://mirror.example.org/debian"},
		{name: "host suite", suite: "bookworm", opts: host, want: "http://mirror.example.org/debian"},
		{name: "host security", suite: "bookworm-security", opts: host, want: "http://mirror.example.org/debian-security"},
		{name: "flag", suite: "sid", opts: withMirror, want: "http://flag.example.org/debian"},
		{name: "flag is not for security suites", suite: "bookworm-security", opts: withMirror, want: "http://mirror.example.org/debian-security"},
		{name: "security flag", suite: "bookworm-security", opts: withSecurity, want: "http://flag.example.org/debian-security"},
		{name: "environment", suite: "sid", opts: host, env: "http://env.example.org/debian", want: "http://env.example.org/debian"},
		{name: "flag beats environment", suite: "sid", opts: withMirror, env: "http://env.example.org/debian", want: "http://flag.example.org/debian"},
		{name: "no sources", suite: "sid", opts: FetchOptions{SourcesList: filepath.Join(t.TempDir(), "none")},
			err: "no debian mirror for suite sid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvMirror, tc.env)
			got, err := SuiteMirror(tc.suite, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
