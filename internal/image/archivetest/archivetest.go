// Package archivetest serves small Debian archives on 127.0.0.1 for tests:
// real Release, InRelease and Packages files signed with a throwaway gpg
// key, and packages built with dpkg-deb. apt reads them exactly as it
// reads Debian's mirror, so tests of pins going stale drive the real apt.
package archivetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Package is one package to build: its files (path in the root → content)
// and control fields.
type Package struct {
	Name, Version, Depends string
	// Arch is the package's Debian architecture: amd64 (empty), arm64
	// or all.
	Arch  string
	Files map[string]string
}

func (p Package) arch() string {
	if p.Arch == "" {
		return "amd64"
	}
	return p.Arch
}

// SumKey is the key of p's sha256 in what Publish returns: its name, and
// its architecture when that is not amd64 or all (amd64's and arm64's
// kbuild share a name).
func SumKey(p Package) string {
	if a := p.arch(); a != "amd64" && a != "all" {
		return p.Name + ":" + a
	}
	return p.Name
}

// Key is a throwaway signing key and the keyring apt verifies with.
type Key struct {
	home    string
	Keyring string
	// debs holds the packages built for archives signed by this key:
	// dpkg-deb stamps build times into a .deb, and a package two archives
	// serve (a mirror and its snapshot) must be the same file.
	debs string
}

// NewKey makes a signing key (skips the test when gpg is missing).
func NewKey(t *testing.T) *Key {
	t.Helper()
	for _, tool := range []string{"gpg", "dpkg-deb", "apt-get"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host", tool)
		}
	}
	// gpg-agent's socket path must be short: not under t.TempDir().
	home, err := os.MkdirTemp("", "labgpg")
	if err != nil {
		t.Fatal(err)
	}
	k := &Key{home: home, Keyring: filepath.Join(t.TempDir(), "keyring.gpg"), debs: t.TempDir()}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	k.gpg(t, nil, "--quick-generate-key", "lab test archive <archive@lab.invalid>", "ed25519", "sign", "never")
	out := k.gpg(t, nil, "--export")
	if err := os.WriteFile(k.Keyring, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *Key) gpg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", k.home, "--batch", "--yes", "--passphrase", "", "--pinentry-mode", "loopback"}, args...)...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// Archive is one archive (e.g. debian or debian-security) served over
// HTTP on 127.0.0.1.
type Archive struct {
	Root string
	URL  string
	key  *Key
}

// Serve starts an archive signed by k.
func Serve(t *testing.T, k *Key) *Archive {
	t.Helper()
	a := &Archive{Root: t.TempDir(), key: k}
	files := http.FileServer(http.Dir(a.Root))
	// A test publishes twice within a second, and If-Modified-Since has
	// second granularity: always send the file, as a mirror whose files
	// changed would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("If-Modified-Since")
		r.Header.Del("If-None-Match")
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// Publish makes suite serve exactly pkgs under prefix (a path inside the
// archive, e.g. "" or "archive/debian/20261202T000000Z"), replacing what it
// served before: the pool keeps only what some suite lists, like a mirror.
// It returns each package's sha256 by SumKey. Each architecture of pkgs
// gets its index (arch all packages are in every one; amd64 always has
// one).
func (a *Archive) Publish(t *testing.T, prefix, suite string, pkgs []Package) map[string]string {
	t.Helper()
	root := filepath.Join(a.Root, filepath.FromSlash(prefix))
	pool := filepath.Join(root, "pool", "main")
	os.RemoveAll(pool)
	if err := os.MkdirAll(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	index := map[string]*strings.Builder{"amd64": {}}
	for _, p := range pkgs {
		if p.arch() != "all" && index[p.arch()] == nil {
			index[p.arch()] = &strings.Builder{}
		}
	}
	sums := map[string]string{}
	for _, p := range pkgs {
		deb := a.build(t, p)
		name := filepath.Base(deb)
		data, err := os.ReadFile(deb)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pool, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		sums[SumKey(p)] = hex.EncodeToString(sum[:])
		for arch, ix := range index {
			if p.arch() != arch && p.arch() != "all" {
				continue
			}
			fmt.Fprintf(ix, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: lab tests <tests@lab.invalid>\n", p.Name, p.Version, p.arch())
			if p.Depends != "" {
				fmt.Fprintf(ix, "Depends: %s\n", p.Depends)
			}
			fmt.Fprintf(ix, "Filename: pool/main/%s\nSize: %d\nSHA256: %s\nDescription: %s\n\n", name, len(data), sums[SumKey(p)], p.Name)
		}
	}
	dist := filepath.Join(root, "dists", suite)
	os.RemoveAll(dist)
	arches := make([]string, 0, len(index))
	for arch := range index {
		arches = append(arches, arch)
	}
	sort.Strings(arches)
	var indexSums strings.Builder
	for _, arch := range arches {
		bin := filepath.Join(dist, "main", "binary-"+arch)
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		packages := []byte(index[arch].String())
		if err := os.WriteFile(filepath.Join(bin, "Packages"), packages, 0o644); err != nil {
			t.Fatal(err)
		}
		ps := sha256.Sum256(packages)
		fmt.Fprintf(&indexSums, " %s %d main/binary-%s/Packages\n", hex.EncodeToString(ps[:]), len(packages), arch)
	}
	release := fmt.Sprintf("Origin: lab tests\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: %s\nComponents: main\nSHA256:\n%s",
		suite, suite, time.Now().UTC().Format(time.RFC1123), strings.Join(arches, " "), indexSums.String())
	if err := os.WriteFile(filepath.Join(dist, "Release"), []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}
	in := a.key.gpg(t, []byte(release), "--clearsign", "--digest-algo", "SHA256")
	if err := os.WriteFile(filepath.Join(dist, "InRelease"), in, 0o644); err != nil {
		t.Fatal(err)
	}
	return sums
}

// build makes (once) the .deb of p.
func (a *Archive) build(t *testing.T, p Package) string {
	t.Helper()
	out := filepath.Join(a.key.debs, p.Name+"_"+p.Version+"_"+p.arch()+".deb")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	dir := filepath.Join(t.TempDir(), "pkg")
	if err := os.MkdirAll(filepath.Join(dir, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: lab tests <tests@lab.invalid>\nDescription: %s\n", p.Name, p.Version, p.arch(), p.Name)
	if p.Depends != "" {
		control += "Depends: " + p.Depends + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := make([]string, 0, len(p.Files))
	for f := range p.Files {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	for _, f := range paths {
		full := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p.Files[f]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", dir, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v: %s", err, b)
	}
	return out
}

// Kernel is the packages of one build of a classic Debian kernel (image,
// headers, common headers, kbuild) of series at abi and version, e.g.
// Kernel("6.1", "6.1.0-1", "6.1.1-1"). The kernel file says which build it
// is.
func Kernel(series, abi, version string) []Package {
	rel := abi + "-amd64"
	return []Package{
		{Name: "linux-image-" + rel, Version: version, Depends: "kmod, linux-base (>= 4.3~)", Files: map[string]string{
			"boot/vmlinuz-" + rel:                       "kernel " + version + "\n",
			"boot/System.map-" + rel:                    "ffffffff81000000 T _text\n",
			"lib/modules/" + rel + "/kernel/dummy/x.ko": "module\n",
		}},
		{Name: "linux-headers-" + rel, Version: version,
			Depends: fmt.Sprintf("linux-headers-%s-common (= %s), linux-kbuild-%s (>= %s), linux-compiler-gcc-12-x86", abi, version, series, version),
			Files: map[string]string{
				"usr/src/linux-headers-" + rel + "/Makefile":         "include /usr/src/linux-headers-" + abi + "-common/Makefile\n",
				"usr/src/linux-headers-" + rel + "/.kernelvariables": "override CC = $(CROSS_COMPILE)gcc-12\n",
			}},
		{Name: "linux-headers-" + abi + "-common", Version: version, Arch: "all", Files: map[string]string{
			"usr/src/linux-headers-" + abi + "-common/Makefile": "# common\n",
		}},
		{Name: "linux-kbuild-" + series, Version: version, Files: map[string]string{
			"usr/lib/linux-kbuild-" + series + "/scripts/basic/fixdep": "fixdep " + version + "\n",
		}},
	}
}

// KernelARM64 is the arm64 packages of the build Kernel(series, abi,
// version) makes for amd64, as Debian's archive serves them beside it:
// the image and headers for arm64, and an arm64 kbuild of the same name
// and version as amd64's (whose programs an amd64 host cannot run). The
// common headers are Kernel's, arch all.
func KernelARM64(series, abi, version string) []Package {
	rel := abi + "-arm64"
	return []Package{
		{Name: "linux-image-" + rel, Version: version, Arch: "arm64", Depends: "kmod, linux-base (>= 4.3~)", Files: map[string]string{
			"boot/vmlinuz-" + rel:                       "arm64 kernel " + version + "\n",
			"boot/System.map-" + rel:                    "ffff800008000000 T _text\n",
			"lib/modules/" + rel + "/kernel/dummy/x.ko": "module\n",
		}},
		{Name: "linux-headers-" + rel, Version: version, Arch: "arm64",
			Depends: fmt.Sprintf("linux-headers-%s-common (= %s), linux-kbuild-%s (>= %s), linux-compiler-gcc-12-arm", abi, version, series, version),
			Files: map[string]string{
				"usr/src/linux-headers-" + rel + "/Makefile":         "include /usr/src/linux-headers-" + abi + "-common/Makefile\n",
				"usr/src/linux-headers-" + rel + "/.kernelvariables": "override CC = $(CROSS_COMPILE)gcc-12\n",
			}},
		{Name: "linux-kbuild-" + series, Version: version, Arch: "arm64", Files: map[string]string{
			"usr/lib/linux-kbuild-" + series + "/scripts/basic/fixdep": "arm64 fixdep " + version + "\n",
		}},
	}
}
