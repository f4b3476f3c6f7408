package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/image"
)

// gitRepo makes a repository in dir whose history is the commits given,
// each a set of files and a subject, and returns their hashes.
func gitRepo(t *testing.T, dir string, commits []map[string]string, subjects []string) []string {
	t.Helper()
	run := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=lab", "-c", "user.email=lab@example.invalid"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	var ids []string
	for i, files := range commits {
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run("add", "-A")
		run("commit", "-q", "-m", subjects[i])
		ids = append(ids, run("rev-parse", "HEAD"))
	}
	return ids
}

// TestBisectModuleHistory: a module's history of four commits, the third
// of which drops .owner from docs/examples/mydrv; lab bisect names the
// third, in four steps, and leaves no worktree behind.
func TestBisectModuleHistory(t *testing.T) {
	needVM(t)
	read := func(name string) string { return mydrvFile(t, name) }
	unsafe := read("mydrv.c")
	safe := strings.Replace(unsafe, "/* .owner = THIS_MODULE is missing: that is the bug. */", ".owner = THIS_MODULE,", 1)
	if safe == unsafe {
		t.Fatal("test data: mydrv.c no longer has the missing .owner comment")
	}
	repo := t.TempDir()
	ids := gitRepo(t, repo, []map[string]string{
		{"mydrv.c": safe, "Makefile": read("Makefile"), "mydrv-rmmod.yaml": read("mydrv-rmmod.yaml")},
		{"mydrv.c": "// a comment\n" + safe},
		{"mydrv.c": "// a comment\n" + unsafe},
		{"mydrv.c": "// another comment\n" + unsafe},
	}, []string{"mydrv, with .owner", "a comment", "drop .owner", "another comment"})
	code, out, dir := runLab(t, "bisect", "--repeat", "2", "--kmods", repo, "--good", ids[0], "--bad", ids[3], filepath.Join(repo, "mydrv-rmmod.yaml"))
	if code != cli.ExitPass {
		t.Fatalf("lab bisect = exit %d", code)
	}
	if !strings.Contains(out, "first commit where the behaviour changed: "+ids[2][:12]+" drop .owner") {
		t.Errorf("bisect did not name the third commit:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest", "bisect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Result struct {
			Outcome      string
			FirstChanged struct{ ID string } `json:"first_changed"`
			Changes      []string
			Steps        []struct{ Decision, Repeats string }
		}
	}
	json.Unmarshal(b, &rec)
	r := rec.Result
	if r.Outcome != "found" || r.FirstChanged.ID != ids[2] || len(r.Steps) > 4 {
		t.Errorf("bisect.json: %s, first changed %s after %d steps; want found, %s, at most 4 steps", r.Outcome, r.FirstChanged.ID, len(r.Steps), ids[2])
	}
	want := "step 4 unload mydrv: EAGAIN → ok"
	if !strings.Contains(strings.Join(r.Changes, "\n"), want) {
		t.Errorf("changes %q; want %q among them", r.Changes, want)
	}
	for _, st := range r.Steps {
		if st.Repeats != "2/2" {
			t.Errorf("step %+v: want both repeats agreeing", st)
		}
	}
	if wt, _ := exec.Command("git", "-C", repo, "worktree", "list").Output(); strings.Count(string(wt), "\n") != 1 {
		t.Errorf("worktrees left behind:\n%s", wt)
	}
	// Bad input: exit 2, saying why.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kmods", repo, "--good", ids[3], "--bad", ids[0]}, "not an ancestor"},
		{[]string{"--kmods", repo, "--good", "nosuchrev", "--bad", ids[0]}, "no commit"},
		{[]string{"--kmods", repo, "--good", ids[1], "--bad", ids[1]}, "same commit"},
		{[]string{"--good", ids[0]}, "give one of --series"},
	} {
		var o, e strings.Builder
		args := append(append([]string{"--root", "..", "--results", t.TempDir(), "bisect"}, c.args...), filepath.Join(repo, "mydrv-rmmod.yaml"))
		if code := cli.Main(args, &o, &e); code != cli.ExitError || !strings.Contains(e.String(), c.want) {
			t.Errorf("lab %v = exit %d, %q; want exit 2 saying %q", args, code, e.String(), c.want)
		}
	}
}

// TestBisectSeries bisects chardev-unsafe over the two newest builds of
// debian-6.1 the mirror serves (which ones changes from week to week):
// neighbouring security updates of one series are expected to behave
// alike, and the bisect says so with the signature they share. Then, while
// the mirror serves them, over 6.1.170-3 and 6.1.176-1, where the
// behaviour really changed (docs/bisect.md).
func TestBisectSeries(t *testing.T) {
	needVM(t)
	cache, err := image.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := image.LoadSpec(filepath.Join("..", "images", "debian-6.1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	builds, _, err := image.Builds(context.Background(), spec, image.FetchOptions{CacheDir: cache}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) < 2 {
		t.Fatalf("the mirror serves %d whole builds of debian-6.1; want 2 or more", len(builds))
	}
	from, to := builds[len(builds)-2].PackageVersion(), builds[len(builds)-1].PackageVersion()
	code, out, dir := runLab(t, "bisect", "--fresh", "--series", "debian-6.1", "--from", from, "--to", to, "--repeat", "2", "chardev-unsafe")
	if code != cli.ExitPass || !strings.Contains(out, "no change from "+from) || !strings.Contains(out, "report page fault in vfs_read") {
		t.Errorf("lab bisect --series debian-6.1 --from %s --to %s = exit %d:\n%s\nwant no change, with the common signature", from, to, code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "bisect.json")); err != nil {
		t.Error(err)
	}
	// 6.1.170-3 → 6.1.176-1: the dying task's extra "scheduling while
	// atomic" is gone (docs/bisect.md), with the changelog in between.
	// Only while the mirror serves both builds (bookworm keeps the ABI
	// packages of its point releases for a while).
	served := map[string]bool{}
	for _, b := range builds {
		served[b.PackageVersion()] = true
	}
	if served["6.1.170-3"] && served["6.1.176-1"] {
		code, out, _ := runLab(t, "bisect", "--fresh", "--series", "debian-6.1", "--from", "6.1.170-3", "--to", "6.1.176-1", "--repeat", "2", "chardev-unsafe")
		for _, want := range []string{"first build where the behaviour changed: 6.1.176-1", "report gone: scheduling while atomic in do_task_dead", "Debian changelog from 6.1.170-3 to 6.1.176-1:", "linux (6.1.176-1)"} {
			if code != cli.ExitPass || !strings.Contains(out, want) {
				t.Errorf("lab bisect --from 6.1.170-3 --to 6.1.176-1 = exit %d; output lacks %q:\n%s", code, want, out)
			}
		}
	} else {
		t.Logf("the mirror no longer serves 6.1.170-3 and 6.1.176-1 whole; their bisect is not checked")
	}
	// A version the mirror does not serve: exit 2, listing what it serves.
	var o, e strings.Builder
	if code := cli.Main([]string{"--root", "..", "--results", t.TempDir(), "bisect", "--series", "debian-6.1", "--from", "6.1.0-0", "chardev-unsafe"}, &o, &e); code != cli.ExitError || !strings.Contains(e.String(), "serves no such build") {
		t.Errorf("--from 6.1.0-0 = exit %d, %q; want exit 2 naming what the mirror serves", code, e.String())
	}
}

// TestBisectKernelTree: a kernel tree's history of four commits on top of
// Debian's linux-source-6.1, the third of which makes procfs's read of a
// removed entry return ENXIO instead of EIO; lab bisect --kernel-tree
// names it, building each step incrementally in one object directory.
// The repository is made once per source into lab's cache.
func TestBisectKernelTree(t *testing.T) {
	needVM(t)
	built := builtTree(t) // for its .config: tinyconfig and guest.config
	repo, ids := treeRepo(t)
	cfg, err := os.ReadFile(filepath.Join(built, ".config"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, ".config"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, dir := runLab(t, "bisect", "--kernel-tree", repo, "--good", ids[0], "--bad", ids[3], "--repeat", "2", "proc-safe")
	if code != cli.ExitPass || !strings.Contains(out, "first commit where the behaviour changed: "+ids[2][:12]+" proc: ENXIO") ||
		!strings.Contains(out, "step 5 read A: EIO → ENXIO") {
		t.Errorf("lab bisect --kernel-tree = exit %d:\n%s\nwant the third commit named, with step 5's EIO → ENXIO", code, out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "latest", "bisect.json"))
	var rec struct {
		BuildTimes map[string]string `json:"build_times"`
	}
	json.Unmarshal(b, &rec)
	t.Logf("build times: %v", rec.BuildTimes)
	if len(rec.BuildTimes) < 3 {
		t.Errorf("build times %v; want one per step built", rec.BuildTimes)
	}
	if wt, _ := exec.Command("git", "-C", repo, "worktree", "list").Output(); strings.Count(string(wt), "\n") != 1 {
		t.Errorf("worktrees left behind:\n%s", wt)
	}
}

// treeRepo makes (once, in lab's cache) a git repository of
// linux-source-6.1 with three commits on top, and returns it and the four
// commits.
func treeRepo(t *testing.T) (string, []string) {
	t.Helper()
	cache, err := image.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deb, err := image.DownloadPackage(ctx, "bookworm-security", "linux-source-6.1", image.FetchOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "trees", "bisect-"+filepath.Base(deb))
	repo := filepath.Join(dir, "linux")
	idsFile := filepath.Join(dir, "ready")
	if b, err := os.ReadFile(idsFile); err == nil {
		return repo, strings.Fields(string(b))
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-ec", "dpkg-deb --fsys-tarfile "+deb+" | tar -xO ./usr/src/linux-source-6.1.tar.xz | tar -xJ --strip-components=1")
	sh.Dir = repo
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("unpack: %v\n%s", err, out)
	}
	// Debian's tarball ignores everything at its top level (its packaging
	// repository holds only debian/): a kernel tree's repository does not.
	ignore, err := os.ReadFile(filepath.Join(repo, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignore = []byte(strings.Replace(strings.Replace(string(ignore), "\n/*\n", "\n", 1), "\n!/debian/\n", "\n", 1))
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), ignore, 0o644); err != nil {
		t.Fatal(err)
	}
	readme := func(extra string) map[string]string {
		b, _ := os.ReadFile(filepath.Join(repo, "README"))
		return map[string]string{"README": string(b) + extra}
	}
	inode, err := os.ReadFile(filepath.Join(repo, "fs", "proc", "inode.c"))
	if err != nil {
		t.Fatal(err)
	}
	// proc_reg_read and proc_reg_read_iter: a read of an entry that was
	// removed (use_pde fails) returns ENXIO instead of EIO.
	changed := strings.Replace(string(inode), "\tif (!use_pde(pde))\n\t\treturn -EIO;\n\tret = pde->proc_ops->proc_read_iter(iocb, iter);", "\tif (!use_pde(pde))\n\t\treturn -ENXIO;\n\tret = pde->proc_ops->proc_read_iter(iocb, iter);", 1)
	changed = strings.Replace(changed, "static ssize_t proc_reg_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)\n{\n\tstruct proc_dir_entry *pde = PDE(file_inode(file));\n\tssize_t rv = -EIO;",
		"static ssize_t proc_reg_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)\n{\n\tstruct proc_dir_entry *pde = PDE(file_inode(file));\n\tssize_t rv = -ENXIO;", 1)
	if strings.Count(changed, "-ENXIO") != strings.Count(string(inode), "-ENXIO")+2 {
		t.Fatal("test data: fs/proc/inode.c's proc_reg_read no longer looks as expected")
	}
	ids := gitRepo(t, repo, []map[string]string{
		{}, readme("\nA line for lab's bisect test.\n"),
		{"fs/proc/inode.c": changed}, readme("\nA line for lab's bisect test.\nAnother.\n"),
	}, []string{"linux-source-6.1", "README: a line", "proc: ENXIO for a removed entry", "README: another line"})
	if err := os.WriteFile(idsFile, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return repo, ids
}

// TestBisectFlakyStep: a module whose second commit makes its read oops
// on a coin toss (get_random_u32). The bisect must not guess: the step's
// repeats disagree, and it says the step is flaky and exits 1. With 16
// repeats, all alike by chance is 2 in 65536.
func TestBisectFlakyStep(t *testing.T) {
	needVM(t)
	read := func(name string) string { return mydrvFile(t, name) }
	safe := strings.Replace(read("mydrv.c"), "/* .owner = THIS_MODULE is missing: that is the bug. */", ".owner = THIS_MODULE,", 1)
	flaky := strings.Replace(safe, "#include <linux/module.h>\n", "#include <linux/module.h>\n#include <linux/random.h>\n", 1)
	flaky = strings.Replace(flaky, "\treturn simple_read_from_buffer(buf, len, pos, greeting, sizeof(greeting) - 1);",
		"\tif (get_random_u32() & 1)\n\t\treturn *(volatile int *)NULL;\n\treturn simple_read_from_buffer(buf, len, pos, greeting, sizeof(greeting) - 1);", 1)
	if flaky == safe {
		t.Fatal("test data: mydrv.c's read no longer looks as expected")
	}
	exp := "name: mydrv-read\nsummary: read mydrv\nmodules: [mydrv]\nsteps:\n  - load: mydrv\n  - open: {holder: A, path: /dev/mydrv}\n  - read: A\n    timeout: 2s\n"
	repo := t.TempDir()
	ids := gitRepo(t, repo, []map[string]string{
		{"mydrv.c": safe, "Makefile": read("Makefile"), "mydrv-read.yaml": exp},
		{"mydrv.c": flaky},
	}, []string{"mydrv", "a read that oopses on a coin toss"})
	code, out, _ := runLab(t, "bisect", "--repeat", "16", "--kmods", repo, "--good", ids[0], "--bad", ids[1], filepath.Join(repo, "mydrv-read.yaml"))
	if code != cli.ExitFail || !strings.Contains(out, "no answer: a step's repeats disagreed") || !strings.Contains(out, ids[1][:12]+" a read that oopses on a coin toss is flaky") {
		t.Errorf("lab bisect over a flaky commit = exit %d:\n%s\nwant exit 1, the step named flaky", code, out)
	}
}

// mydrvFile is a file of README's example module, docs/examples/mydrv.
func mydrvFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "examples", "mydrv", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
