package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/source"
)

// TestGoInstall is README's first step for a Go user: go install lab by
// module path and version, then use it from a directory of one's own, with
// one's own module and experiment beside lab's built-in ones. The module
// version is served from a module proxy on disk made from this working
// tree (what a tagged release would serve), so the test runs before any
// release exists and tests these sources, not an older published version.
func TestGoInstall(t *testing.T) {
	needVM(t)
	version, proxy := moduleProxy(t)
	gobin := t.TempDir()
	orig, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The test version is not in the checksum database: GONOSUMDB skips the
	// lookup for lab's module only; every dependency is still verified.
	env := append(os.Environ(),
		"GOPROXY=file://"+proxy+","+strings.TrimSpace(string(orig)),
		"GONOSUMDB="+source.ModulePath, "GOFLAGS=", "GOWORK=off", "GOBIN="+gobin)
	t.Cleanup(func() { removeFromModCache(t, version) })

	install := exec.Command("go", "install", source.ModulePath+"/cmd/lab@"+version)
	install.Dir = t.TempDir()
	install.Env = env
	start := time.Now()
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install %s/cmd/lab@%s: %v\n%s", source.ModulePath, version, err, out)
	}
	t.Logf("go install took %s", time.Since(start).Round(time.Second))
	bin := filepath.Join(gobin, "lab")

	// A user's project: their module under kmods/, their experiment under
	// experiments/, nothing of lab's.
	proj := t.TempDir()
	copyFiles(t, filepath.Join("..", "docs", "examples", "mydrv"), filepath.Join(proj, "kmods", "mydrv"), "mydrv.c", "Makefile")
	copyFiles(t, filepath.Join("..", "docs", "examples", "mydrv"), filepath.Join(proj, "experiments"), "mydrv-rmmod.yaml")
	lab := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = proj
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("lab %s (in %s): %v\n%s", strings.Join(args, " "), proj, err, out.String())
		return cmd.ProcessState.ExitCode(), out.String()
	}

	code, out := lab("list")
	if code != 0 || !strings.Contains(out, "chardev-unsafe") || !strings.Contains(out, "mydrv-rmmod") {
		t.Fatalf("lab list = exit %d; want lab's chardev-unsafe and the project's mydrv-rmmod:\n%s", code, out)
	}
	code, out = lab("images", "--offline")
	if code != 0 || !strings.Contains(out, "debian-6.1") {
		t.Fatalf("lab images = exit %d; want the built-in images:\n%s", code, out)
	}
	code, _ = lab("run", "chardev-unsafe", "mydrv-rmmod")
	dir := filepath.Join(proj, "results")
	for _, exp := range []string{"chardev-unsafe", "mydrv-rmmod"} {
		r := readResult(t, dir, "debian-6.1", exp)
		if r.Verdict != results.Pass {
			t.Errorf("%s from the installed lab: verdict %s (%s%s)", exp, r.Verdict, r.Reason, r.Error)
		}
		if r.Provenance.Lab != version {
			t.Errorf("%s: lab version %q; want the installed %s", exp, r.Provenance.Lab, version)
		}
	}
	if code != 0 {
		t.Errorf("lab run chardev-unsafe mydrv-rmmod = exit %d; want 0", code)
	}
}

// moduleProxy writes a GOPROXY directory serving this working tree (the
// files git tracks or would track) as lab's module at a version named by
// its content, so a changed tree is never mistaken for one in the module
// cache.
func moduleProxy(t *testing.T) (version, proxy string) {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	root := strings.TrimSpace(string(top))
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	h := sha256.New()
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted, not yet staged
			}
			t.Fatal(err)
		}
		h.Write([]byte(f + "\x00"))
		h.Write(b)
		dst := filepath.Join(tree, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version = "v0.0.0-e2e-" + hex.EncodeToString(h.Sum(nil))[:12]
	proxy = t.TempDir()
	at := filepath.Join(proxy, filepath.FromSlash(source.ModulePath), "@v")
	os.MkdirAll(at, 0o755)
	mod, err := os.ReadFile(filepath.Join(tree, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	os.WriteFile(filepath.Join(at, "list"), []byte(version+"\n"), 0o644)
	os.WriteFile(filepath.Join(at, version+".info"), info, 0o644)
	os.WriteFile(filepath.Join(at, version+".mod"), mod, 0o644)
	zf, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	if err := modzip.CreateFromDir(zf, module.Version{Path: source.ModulePath, Version: version}, tree); err != nil {
		t.Fatalf("module zip of the working tree: %v", err)
	}
	return version, proxy
}

// removeFromModCache deletes the test version from the Go module cache
// (its files are read-only there), so test runs do not pile up copies.
func removeFromModCache(t *testing.T, version string) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return
	}
	cache := strings.TrimSpace(string(out))
	esc, err := module.EscapePath(source.ModulePath)
	if err != nil {
		return
	}
	dir := filepath.Join(cache, filepath.FromSlash(esc)+"@"+version)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
	dl := filepath.Join(cache, "cache", "download", filepath.FromSlash(esc), "@v")
	if matches, _ := filepath.Glob(filepath.Join(dl, version+".*")); len(matches) > 0 {
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// copyFiles copies names from src into dst, making dst.
func copyFiles(t *testing.T, src, dst string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
