package kmod

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The kernel the real-build tests use: debian-6.1 as its lock (or the build it followed) says.
const (
	testCompiler = "gcc-12"
)

// testHeaders finds the Debian 6.1 headers: $LAB_TEST_HEADERS, else the tree
// internal/image unpacks into the lab cache, fetching the image when it is
// not there yet (tests of other packages may or may not have run first).
// testRelease is the release of the headers testHeaders found: the one
// debian-6.1 resolved to today (its lock, or the build it followed).
var testRelease string

func testHeaders(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds kernel modules against real headers; skipped with -short")
	}
	if dir := os.Getenv("LAB_TEST_HEADERS"); dir != "" {
		if !isHeaders(dir) {
			t.Fatalf("LAB_TEST_HEADERS=%s holds no kernel headers tree (no Makefile)", dir)
		}
		b, _ := os.ReadFile(filepath.Join(dir, ".kernelvariables"))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "override KERNELRELEASE = "); ok {
				testRelease = v
			}
		}
		if testRelease == "" {
			t.Fatalf("LAB_TEST_HEADERS=%s: no KERNELRELEASE in its .kernelvariables", dir)
		}
		return dir
	}
	img := fetchedImage(t, "debian-6.1")
	testRelease = img.Spec.Release
	dir := img.HeadersDir()
	if !isHeaders(dir) {
		t.Fatalf("the fetched debian-6.1 image has no headers tree at %s", dir)
	}
	return dir
}

func isHeaders(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "Makefile"))
	return err == nil
}

func repoKmods(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "kmods"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// chardevBuild builds kmods/chardev once for the tests that need a real .ko.
var chardevBuild struct {
	once sync.Once
	mods map[string]string
	err  error
}

func builtChardev(t *testing.T) map[string]string {
	t.Helper()
	headers := testHeaders(t)
	chardevBuild.once.Do(func() {
		cache, err := os.MkdirTemp("", "lab-kmod-test-")
		if err != nil {
			chardevBuild.err = err
			return
		}
		// Outlives the test that happens to build first; removed by TestMain.
		sharedCache = cache
		chardevBuild.mods, chardevBuild.err = Build(context.Background(), BuildOptions{
			Src: filepath.Join(repoKmods(t), "chardev"), HeadersDir: headers, Release: testRelease,
			Compiler: testCompiler, CacheDir: cache, KeyExtra: "test",
		})
	})
	if chardevBuild.err != nil {
		t.Fatal(chardevBuild.err)
	}
	return chardevBuild.mods
}

var sharedCache string

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCache != "" {
		os.RemoveAll(sharedCache)
	}
	os.Exit(code)
}

func TestBuildChardev(t *testing.T) {
	headers := testHeaders(t)
	opts := BuildOptions{
		Src: filepath.Join(repoKmods(t), "chardev"), HeadersDir: headers, Release: testRelease,
		Compiler: testCompiler, CacheDir: t.TempDir(), KeyExtra: "debian-6.1 6.1.192-2",
	}
	ctx := context.Background()

	// Two concurrent builds of the same inputs: one builds, the other waits
	// for the lock and finds the result in the cache.
	start := time.Now()
	var wg sync.WaitGroup
	results := make([]map[string]string, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = Build(ctx, opts) })
	}
	wg.Wait()
	t.Logf("first build (two concurrent calls): %v", time.Since(start))
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(results[0], results[1]) {
		t.Fatalf("concurrent builds disagree: %v vs %v", results[0], results[1])
	}
	mods := results[0]

	want := []string{"chardev_getput", "chardev_safe", "chardev_unsafe"}
	if len(mods) != len(want) {
		t.Errorf("got modules %v, want %v", mods, want)
	}
	for _, name := range want {
		ko, ok := mods[name]
		if !ok {
			t.Errorf("module %s not built", name)
			continue
		}
		if !filepath.IsAbs(ko) || !strings.HasPrefix(ko, filepath.Join(opts.CacheDir, "kmods")+"/") {
			t.Errorf("%s: path %s is not absolute under the cache dir", name, ko)
		}
		info, err := ModInfo(ko)
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.HasPrefix(info["vermagic"], testRelease+" ") {
			t.Errorf("%s: vermagic %q does not start with %q", name, info["vermagic"], testRelease)
		}
		if info["name"] != name {
			t.Errorf("%s: modinfo name %q", name, info["name"])
		}
	}
	entries, _ := os.ReadDir(filepath.Join(opts.CacheDir, "kmods"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("staging dir %s left behind", e.Name())
		}
	}

	// A cache hit runs no make: with an empty PATH, neither make nor the
	// compiler could be found.
	path := os.Getenv("PATH")
	t.Setenv("PATH", "")
	start = time.Now()
	again, err := Build(ctx, opts)
	hit := time.Since(start)
	t.Logf("cache hit: %v", hit)
	if err != nil {
		t.Fatalf("second build was not a cache hit: %v", err)
	}
	if !reflect.DeepEqual(again, mods) {
		t.Errorf("cache hit returned %v, want %v", again, mods)
	}

	// A truncated module does not match the entry's seal: not a hit (the
	// rebuild fails here for want of make), and with the tools back it is
	// built again, whole.
	safeKO := mods["chardev_safe"]
	whole, err := os.ReadFile(safeKO)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(safeKO, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(ctx, opts); err == nil {
		t.Fatal("a truncated module was taken from the cache")
	}
	t.Setenv("PATH", path)
	rebuilt, err := Build(ctx, opts)
	if err != nil {
		t.Fatalf("rebuild after damage: %v", err)
	}
	if info, err := ModInfo(rebuilt["chardev_safe"]); err != nil || info["name"] != "chardev_safe" {
		t.Errorf("rebuilt chardev_safe.ko: modinfo %v, %v", info, err)
	}
	if _, err := cached(filepath.Dir(rebuilt["chardev_safe"])); err != nil {
		t.Errorf("rebuilt entry: %v", err)
	}
	t.Setenv("PATH", "")

	// Any change of input is a miss.
	opts.KeyExtra = "something else"
	if _, err := Build(ctx, opts); err == nil {
		t.Error("build with other KeyExtra did not miss the cache (it ran with PATH empty)")
	}
}

func TestBuildErrors(t *testing.T) {
	headers := testHeaders(t)
	src := t.TempDir()
	write(t, filepath.Join(src, "Kbuild"), "obj-m += broken.o\n")
	write(t, filepath.Join(src, "broken.c"), "#include <linux/module.h>\nthis is not C;\nMODULE_LICENSE(\"GPL\");\n")
	opts := BuildOptions{Src: src, HeadersDir: headers, Release: testRelease, Compiler: testCompiler, CacheDir: t.TempDir()}

	_, err := Build(context.Background(), opts)
	if err == nil {
		t.Fatal("broken module built")
	}
	msg := err.Error()
	for _, want := range []string{"build " + filepath.Base(src) + " against kernel " + testRelease, "broken.c", "error"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n"); n > makeTailLines+1 {
		t.Errorf("error carries %d lines of output, want at most %d", n, makeTailLines)
	}
	if entries, _ := os.ReadDir(filepath.Join(opts.CacheDir, "kmods")); len(entries) != 1 { // the lock file only
		t.Errorf("failed build left %d entries in the cache", len(entries))
	}
}

func TestBuildMissingCompiler(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "Kbuild"), "obj-m += m.o\n")
	headers := t.TempDir()
	write(t, filepath.Join(headers, "Makefile"), "")
	_, err := Build(context.Background(), BuildOptions{
		Src: src, HeadersDir: headers, Release: "6.1.0-56-amd64", Compiler: "gcc-lab-missing", CacheDir: t.TempDir(),
	})
	want := "kernel 6.1.0-56-amd64 was built with gcc-lab-missing; install it (apt-get install gcc-lab-missing)"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

func TestBuildBadInputs(t *testing.T) {
	src := t.TempDir()
	cache := t.TempDir()
	if _, err := Build(context.Background(), BuildOptions{Src: src, HeadersDir: t.TempDir(), CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "no Kbuild file") {
		t.Errorf("source without Kbuild: got %v", err)
	}
	write(t, filepath.Join(src, "Kbuild"), "obj-m += m.o\n")
	if _, err := Build(context.Background(), BuildOptions{Src: src, HeadersDir: t.TempDir(), CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "no Makefile") {
		t.Errorf("headers without Makefile: got %v", err)
	}
}

func TestCacheKey(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "Kbuild"), "obj-m += m.o\n")
	write(t, filepath.Join(src, "m.c"), "int x;\n")
	key := func() string {
		t.Helper()
		k, err := cacheKey(src, "/h", "r", "gcc-12", "extra")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key()
	if key() != base {
		t.Fatal("key is not stable")
	}
	// Leftovers of an in-place make do not change the key.
	for _, f := range []string{"m.o", "m.ko", "m.mod", "m.mod.c", ".m.o.cmd", "modules.order", "Module.symvers"} {
		write(t, filepath.Join(src, f), "junk")
	}
	if key() != base {
		t.Error("build outputs changed the key")
	}
	write(t, filepath.Join(src, "m.c"), "int y;\n")
	if key() == base {
		t.Error("source change kept the key")
	}
	changed := key()
	for _, k := range [][4]string{{"/h2", "r", "gcc-12", "extra"}, {"/h", "r", "gcc-13", "extra"}, {"/h", "r", "gcc-12", "other"}, {"/h", "r2", "gcc-12", "extra"}} {
		other, err := cacheKey(src, k[0], k[1], k[2], k[3])
		if err != nil {
			t.Fatal(err)
		}
		if other == changed {
			t.Errorf("inputs %v kept the key", k)
		}
	}
}

// TestFamilyDirs: a folder of families (lab's kmods/) gives its
// subdirectories whose Kbuild or Makefile names obj-m, sorted; a directory
// that is a family itself (a user's --kmods DIR) is taken whole.
func TestFamilyDirs(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b", "Kbuild"), "obj-m += b.o\n")
	write(t, filepath.Join(dir, "a", "Kbuild"), "obj-m := a1.o a2.o\n")
	write(t, filepath.Join(dir, "mk", "Makefile"), "obj-m := mk.o\nall:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n")
	write(t, filepath.Join(dir, "nokbuild", "x.c"), "")
	write(t, filepath.Join(dir, "empty", "Kbuild"), "# nothing built\n")
	if err := os.MkdirAll(filepath.Join(dir, "dirkbuild", "Kbuild"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FamilyDirs([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "mk")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FamilyDirs = %v, want %v", got, want)
	}
	if got, err := FamilyDirs([]string{filepath.Join(dir, "mk")}); err != nil || !reflect.DeepEqual(got, want[2:]) {
		t.Errorf("FamilyDirs(a family) = %v, %v; want it alone", got, err)
	}
	if _, err := FamilyDirs([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing dir: no error")
	}
	if _, err := FamilyDirs([]string{filepath.Join(dir, "nokbuild")}); err == nil || !strings.Contains(err.Error(), "no Kbuild (or Makefile with obj-m)") {
		t.Errorf("a dir without families: %v", err)
	}
	decl, err := DeclaredIn([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for name, fam := range map[string]string{"a1": "a", "a2": "a", "b": "b", "mk": "mk"} {
		if decl[name] != filepath.Join(dir, fam) {
			t.Errorf("DeclaredIn[%s] = %q; want family %s", name, decl[name], fam)
		}
	}
	write(t, filepath.Join(dir, "twice", "Kbuild"), "obj-m := b.o\n")
	if _, err := DeclaredIn([]string{dir}); err == nil || !strings.Contains(err.Error(), "module b is built by two families") {
		t.Errorf("a module two families build: %v", err)
	}

	got, err = FamilyDirs([]string{repoKmods(t)})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range got {
		found = found || filepath.Base(f) == "chardev"
	}
	if !found {
		t.Errorf("kmods/ families %v lack chardev", got)
	}
}

func TestModInfo(t *testing.T) {
	self, err := os.Executable() // an ELF file without .modinfo
	if err != nil {
		t.Fatal(err)
	}
	notELF := filepath.Join(t.TempDir(), "x.ko")
	write(t, notELF, "not an ELF file at all\n")

	tests := []struct {
		name    string
		path    func(t *testing.T) string
		want    map[string]string
		depends []string
		err     string
	}{
		{
			name: "chardev_safe",
			path: func(t *testing.T) string { return builtChardev(t)["chardev_safe"] },
			want: map[string]string{
				"name":        "chardev_safe",
				"license":     "GPL",
				"depends":     "",
				"description": "lab chardev, safe: fops.owner = THIS_MODULE",
			},
		},
		{
			name: "chardev_unsafe",
			path: func(t *testing.T) string { return builtChardev(t)["chardev_unsafe"] },
			want: map[string]string{"name": "chardev_unsafe", "license": "GPL"},
		},
		{name: "not ELF", path: func(*testing.T) string { return notELF }, err: "bad magic"},
		{name: "no modinfo", path: func(*testing.T) string { return self }, err: "no .modinfo section"},
		{name: "missing", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.ko") }, err: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := ModInfo(tt.path(t))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got, ok := info[k]; !ok || got != v {
					t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			if !strings.HasPrefix(info["vermagic"], testRelease+" ") {
				t.Errorf("vermagic = %q", info["vermagic"])
			}
			if deps := Depends(info); deps != nil {
				t.Errorf("Depends = %v, want none", deps)
			}
		})
	}
}

func TestDepends(t *testing.T) {
	for in, want := range map[string][]string{
		"":                        nil,
		"virtio":                  {"virtio"},
		"virtio,virtio_ring":      {"virtio", "virtio_ring"},
		"virtio,,virtio_ring,":    {"virtio", "virtio_ring"},
		"failover, net_failover ": {"failover", "net_failover"},
	} {
		if got := Depends(map[string]string{"depends": in}); !reflect.DeepEqual(got, want) {
			t.Errorf("Depends(%q) = %v, want %v", in, got, want)
		}
	}
	if got := Depends(map[string]string{}); got != nil {
		t.Errorf("Depends without field = %v", got)
	}
}

func TestLastLines(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		b.WriteString(strings.Repeat("x", i%3) + "\n")
	}
	if n := strings.Count(lastLinesOf([]byte(b.String()), 30), "\n"); n != 29 {
		t.Errorf("lastLines kept %d newlines, want 29", n)
	}
	if got := lastLinesOf([]byte("a\nb\n"), 30); got != "a\nb" {
		t.Errorf("lastLines short = %q", got)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
