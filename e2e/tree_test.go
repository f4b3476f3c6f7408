package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/textutil"
)

// TestKernelTree runs chardev-unsafe on a kernel built from source: Debian's
// linux-source-6.1 with the smallest configuration lab's guest needs
// (testdata/guest.config on top of tinyconfig). lab boots its bzImage,
// builds the module with the tree's own Makefile and compiler, and names
// addresses with its System.map.
//
// The cost is bounded by building the tree once per source and
// configuration into lab's cache (a few minutes on two cores; the
// configuration leaves out all but what the guest needs); every later run
// reuses it. LAB_TEST_KERNEL_TREE names a tree built elsewhere instead.
func TestKernelTree(t *testing.T) {
	needVM(t)
	tree := os.Getenv("LAB_TEST_KERNEL_TREE")
	if tree == "" {
		tree = builtTree(t)
	}
	spec, err := image.LocalSpec(tree)
	if err != nil {
		t.Fatal(err)
	}
	code, _, dir := runLab(t, "run", "--kernel-tree", tree, "chardev-unsafe")
	r := readResult(t, dir, spec.Name, "chardev-unsafe")
	if code != 0 || r.Verdict != results.Pass {
		t.Fatalf("lab run --kernel-tree %s chardev-unsafe = exit %d, verdict %s (%s%s)", tree, code, r.Verdict, r.Reason, r.Error)
	}
	release, _ := os.ReadFile(filepath.Join(tree, "include", "config", "kernel.release"))
	if r.Kernel.Release != strings.TrimSpace(string(release)) {
		t.Errorf("release %q; want the tree's %q", r.Kernel.Release, release)
	}
	if s := step(t, r, 5, "read", "A"); !s.NoAnswer {
		t.Errorf("step 5: the read after rmmod answered: %+v", s)
	}
	// The freed module's addresses are named from its recorded layout and
	// the .ko built against the tree; the first report's RIP is in the
	// tree's own System.map (Debian ships a placeholder).
	named := false
	for _, o := range r.Oopses {
		for _, x := range o.Resolved {
			named = named || (x.Module == "chardev_unsafe" && x.Unloaded && strings.HasPrefix(x.Symbol, "fops"))
		}
	}
	if !named {
		t.Errorf("no oops address named chardev_unsafe:fops (unloaded): %+v", r.Oopses)
	}
	if len(r.Oopses) == 0 {
		t.Fatal("no kernel report: the read after rmmod should have faulted")
	}
	sysmap, err := os.ReadFile(filepath.Join(tree, "System.map"))
	if err != nil {
		t.Fatal(err)
	}
	if fn := r.Oopses[0].RIPFunction; fn == "" || !strings.Contains(string(sysmap), " T "+fn+"\n") {
		t.Errorf("first report's RIP function %q is not a text symbol of the tree's System.map", fn)
	}
}

// builtTree builds (once) linux-source-6.1 with testdata/guest.config in
// lab's cache and returns the tree.
func builtTree(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"make", "gcc", "flex", "bison", "bc", "tar", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("building a kernel tree needs %s (scripts/setup.sh installs it)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	cache, err := image.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	deb, err := image.DownloadPackage(ctx, "bookworm-security", "linux-source-6.1", image.FetchOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join("testdata", "guest.config"))
	if err != nil {
		t.Fatal(err)
	}
	debSum, err := safefile.SHA256(deb)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("lab-test-tree 1\n" + debSum + "\n" + string(config)))
	dir := filepath.Join(cache, "trees", hex.EncodeToString(h[:])[:16])
	tree := filepath.Join(dir, "linux-source-6.1")
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return tree
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := safefile.Lock(ctx, dir+".lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return tree
	}
	os.RemoveAll(tree)
	start := time.Now()
	sh := func(dir, script string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "sh", "-ec", script)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, strings.Join(textutil.LastLines(string(out), 30), "\n"))
		}
	}
	sh(dir, "dpkg-deb --fsys-tarfile "+deb+" | tar -xO ./usr/src/linux-source-6.1.tar.xz | tar -xJ")
	cfg, _ := filepath.Abs(filepath.Join("testdata", "guest.config"))
	sh(tree, "make -s tinyconfig && ./scripts/kconfig/merge_config.sh -m .config "+cfg+" >/dev/null && make -s olddefconfig")
	sh(tree, "make -s -j"+strconv.Itoa(runtime.NumCPU())+" bzImage modules")
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(time.Since(start).String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", tree, time.Since(start).Round(time.Second))
	return tree
}
