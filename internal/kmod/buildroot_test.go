package kmod

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/image"
)

func TestBuildRootKey(t *testing.T) {
	base := &BuildRoot{Suite: "sid", Packages: []string{"gcc-16", "make", "libc6-dev"}}
	k := base.Key()
	if len(k) != 16 {
		t.Fatalf("key %q", k)
	}
	same := []*BuildRoot{
		{Suite: "sid", Packages: []string{"make", "libc6-dev", "gcc-16"}},                     // order
		{Suite: "sid", Packages: []string{"gcc-16", "make", "libc6-dev"}, Mirror: "http://x"}, // mirror
		{Suite: "sid", Packages: []string{"gcc-16", "make", "libc6-dev"}, Dir: "/elsewhere"},
	}
	for _, b := range same {
		if b.Key() != k {
			t.Errorf("%+v: key %s, want %s", b, b.Key(), k)
		}
	}
	other := []*BuildRoot{
		{Suite: "trixie", Packages: []string{"gcc-16", "make", "libc6-dev"}},
		{Suite: "sid", Packages: []string{"gcc-16", "make", "libc6-dev", "dwarves"}},
		{Suite: "sid", Packages: []string{"gcc-16", "make"}},
	}
	for _, b := range other {
		if b.Key() == k {
			t.Errorf("%+v: same key as %+v", b, base)
		}
	}
	// Key does not sort the caller's slice.
	p := []string{"make", "gcc-16"}
	(&BuildRoot{Suite: "sid", Packages: p}).Key()
	if p[0] != "make" {
		t.Error("Key reordered Packages")
	}
}

func TestImageBuildRoot(t *testing.T) {
	specs, err := image.LoadDir(filepath.Join("..", "..", "images"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	for _, s := range specs {
		img := image.New(s, cache)
		br := ImageBuildRoot(img, "http://mirror.example.org/debian", s.Compiler)
		if s.BuildRoot == nil {
			if br != nil {
				t.Errorf("%s: build root %+v for a spec without build_root", s.Name, br)
			}
			continue
		}
		if br == nil || br.Suite != s.BuildRoot.Suite || !reflect.DeepEqual(br.Packages, s.BuildRoot.Packages) ||
			br.Image != img || br.Mirror != "http://mirror.example.org/debian" || br.Dir != "" {
			t.Errorf("%s: build root %+v", s.Name, br)
		}
		// Without the packages in the cache, it says to fetch them.
		if _, err := br.debs(); err == nil || !strings.Contains(err.Error(), "fetch the image first") {
			t.Errorf("%s: debs without a cache: %v", s.Name, err)
		}
		// With them, only the headers and kbuild packages go into the root.
		for _, p := range s.Packages {
			v := strings.ReplaceAll(p.Version, ":", "%3a")
			writeBytes(t, filepath.Join(cache, "debs", p.Name+"_"+v+"_amd64.deb"), nil)
		}
		debs, err := br.debs()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range debs {
			names = append(names, strings.SplitN(filepath.Base(d), "_", 2)[0])
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "linux-headers-") && !strings.HasPrefix(n, "linux-kbuild-") {
				t.Errorf("%s: %s would go into the build root", s.Name, n)
			}
		}
		if len(names) != 3 {
			t.Errorf("%s: debs for the root %v, want the two headers packages and kbuild", s.Name, names)
		}
	}
}

func TestNeedRoot(t *testing.T) {
	br := &BuildRoot{Suite: "sid", Packages: []string{"gcc-16"}}
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 0 }
	if err := needRoot(br, "7.2.13+deb14-amd64"); err != nil {
		t.Errorf("as root: %v", err)
	}
	geteuid = func() int { return 1000 }
	err := needRoot(br, "7.2.13+deb14-amd64")
	if err == nil || !strings.Contains(err.Error(), "kernel 7.2.13+deb14-amd64 builds its modules in a Debian sid build root") ||
		!strings.Contains(err.Error(), "needs root") {
		t.Errorf("not root: %v", err)
	}
	// Build says so before it takes a lock or looks for anything else.
	src := t.TempDir()
	write(t, filepath.Join(src, "Kbuild"), "obj-m += m.o\n")
	headers := t.TempDir()
	write(t, filepath.Join(headers, "Makefile"), "")
	_, err2 := Build(context.Background(), BuildOptions{
		Src: src, HeadersDir: headers, Release: "7.2.13+deb14-amd64", Compiler: "gcc-16", CacheDir: t.TempDir(), BuildRoot: br,
	})
	if err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Build as non-root: %v, want %v", err2, err)
	}
}

func TestMountsUnder(t *testing.T) {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip("no /proc/self/mountinfo")
	}
	m, err := mountsUnder("/")
	if err != nil {
		t.Fatal(err)
	}
	has := func(m []string, p string) bool {
		for _, x := range m {
			if x == p {
				return true
			}
		}
		return false
	}
	if !has(m, "/") || !has(m, "/proc") {
		t.Errorf("mounts under / = %v, want / and /proc among them", m)
	}
	if m, err := mountsUnder("/proc"); err != nil || !has(m, "/proc") || has(m, "/") {
		t.Errorf("mounts under /proc = %v, %v", m, err)
	}
	dir := t.TempDir()
	if m, err := mountsUnder(dir); err != nil || len(m) != 0 {
		t.Errorf("mounts under a fresh temp dir = %v, %v", m, err)
	}
	// /procfoo is not under /proc.
	if m, err := mountsUnder("/pro"); err != nil || len(m) != 0 {
		t.Errorf("mounts under /pro = %v, %v", m, err)
	}
	// removeTree removes what has nothing mounted in it.
	write(t, filepath.Join(dir, "a", "b"), "x")
	if err := removeTree(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:                "/a/b",
		`/with\040space`:      "/with space",
		`/tab\011and\134bs`:   "/tab\tand\\bs",
		`/trailing\04`:        `/trailing\04`,
		`/not\09octal`:        `/not\09octal`,
		`/cache/lab/root\040`: "/cache/lab/root ",
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHint(t *testing.T) {
	for out, want := range map[string]string{
		"/bin/sh: 1: pahole: not found\nmake[2]: *** Error 127":                                 "apt-get install dwarves",
		"scripts/basic/fixdep: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found": "build_root",
		"error: unknown type name 'foo'":                                                        "",
	} {
		got := hint([]byte(out))
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("hint(%q) = %q, want it to say %q", out, got, want)
		}
	}
}

// TestBuildInRoot builds kmods/chardev for Debian's 7.2 kernel in its sid
// build root: gcc-16, and kbuild tools that need glibc 2.38. The root is
// made in lab's cache (once: debootstrap takes a minute or two) and shared
// with lab; the modules are built afresh each time. As non-root it checks
// the refusal instead.
func TestBuildInRoot(t *testing.T) {
	img := fetchedImage(t, "debian-7.2")
	cache, err := image.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	br := ImageBuildRoot(img, "", img.Spec.Compiler)
	if br == nil {
		t.Fatal("debian-7.2 has no build_root")
	}
	br.Dir = filepath.Join(cache, "buildroots")
	opts := BuildOptions{
		Src: filepath.Join(repoKmods(t), "chardev"), HeadersDir: img.HeadersDir(), Release: img.Spec.Release,
		Compiler: img.Spec.Compiler, CacheDir: t.TempDir(), KeyExtra: "test", BuildRoot: br,
		Log: testLog(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if os.Geteuid() != 0 {
		_, err := Build(ctx, opts)
		if err == nil || !strings.Contains(err.Error(), "needs root") {
			t.Fatalf("as non-root: got %v, want the build root to need root", err)
		}
		return
	}
	start := time.Now()
	mods, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build in the root: %v", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"chardev_getput", "chardev_safe", "chardev_unsafe"} {
		info, err := ModInfo(mods[name])
		if err != nil {
			t.Fatal(err)
		}
		if info["name"] != name || !strings.HasPrefix(info["vermagic"], img.Spec.Release+" ") {
			t.Errorf("%s: name %q, vermagic %q", name, info["name"], info["vermagic"])
		}
	}
	log, err := os.ReadFile(filepath.Join(filepath.Dir(mods["chardev_safe"]), "build.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The build ran inside the root (headers at their own path) and made
	// BTF with the root's pahole.
	for _, want := range []string{"Entering directory '/usr/src/linux-headers-" + img.Spec.Release + "'", "BTF [M]"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}
	root := rootDir(br.Dir, br.Key())
	if m, err := mountsUnder(root); err != nil || len(m) != 0 {
		t.Errorf("left mounted under the root: %v, %v", m, err)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "tmp", "lab-kmod-*")); len(left) != 0 {
		t.Errorf("build dirs left in the root: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(br.Dir, br.Key()+".tmp-*")); len(left) != 0 {
		t.Errorf("temporary roots left: %v", left)
	}

	// A compiler the root lacks is named.
	opts.Compiler, opts.KeyExtra = "gcc-99", "test gcc-99"
	if _, err := Build(ctx, opts); err == nil || !strings.Contains(err.Error(), "the sid build root has no gcc-99: add it to build_root's packages") {
		t.Errorf("missing compiler: %v", err)
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestImageBuildRootFollowsTheCompiler: a followed build whose headers name
// a newer compiler gets a root with that compiler instead of the spec's,
// which is another root (another key), made afresh.
func TestImageBuildRootFollowsTheCompiler(t *testing.T) {
	spec, err := image.LoadSpec(filepath.Join("..", "..", "images", "debian-7.2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	img := image.New(spec, t.TempDir())
	same := ImageBuildRoot(img, "", spec.Compiler)
	next := ImageBuildRoot(img, "", "gcc-17")
	want := []string{"gcc-17", "make", "libc6-dev", "libelf-dev", "dwarves"}
	if !reflect.DeepEqual(next.Packages, want) {
		t.Errorf("ImageBuildRoot(gcc-17).Packages = %v; want %v", next.Packages, want)
	}
	if same.Key() == next.Key() {
		t.Error("a root with another compiler has the same key")
	}
	if !reflect.DeepEqual(spec.BuildRoot.Packages[0], "gcc-16") {
		t.Errorf("ImageBuildRoot changed the spec's packages: %v", spec.BuildRoot.Packages)
	}
}
