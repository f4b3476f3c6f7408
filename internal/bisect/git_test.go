package bisect

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repo makes a git repository whose subdirectory mod/ changes over four
// commits, and returns the repository and its commits, oldest first.
func repo(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	os.MkdirAll(filepath.Join(dir, "mod"), 0o755)
	var ids []string
	for i, text := range []string{"one", "two", "three", "four"} {
		os.WriteFile(filepath.Join(dir, "mod", "m.c"), []byte(text+"\n"), 0o644)
		run("add", "-A")
		run("commit", "-q", "-m", "commit "+text)
		ids = append(ids, run("rev-parse", "HEAD"))
		if i == 1 {
			run("branch", "side")
		}
	}
	return dir, ids
}

func TestCommits(t *testing.T) {
	dir, ids := repo(t)
	r, err := OpenRepo(filepath.Join(dir, "mod"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Rel != "mod" {
		t.Errorf("Rel = %q; want mod", r.Rel)
	}
	ctx := context.Background()
	cands, err := r.Commits(ctx, ids[0], ids[3])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cands {
		got = append(got, c.ID)
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") || cands[2].Label != ids[2][:12]+" commit three" {
		t.Errorf("Commits = %v (%q); want all four, oldest first, labelled", got, cands[2].Label)
	}
	if cands, err := r.Commits(ctx, "side", ids[3]); err != nil || len(cands) != 3 || cands[0].ID != ids[1] {
		t.Errorf("Commits(side, 4th) = %v, %v; want from the 2nd commit", cands, err)
	}
	for _, c := range []struct{ good, bad, want string }{
		{ids[3], ids[0], "not an ancestor"},
		{ids[1], ids[1], "same commit"},
		{"nosuch", ids[1], "--good: no commit \"nosuch\""},
		{ids[0], "nosuch", "--bad: no commit \"nosuch\""},
	} {
		if _, err := r.Commits(ctx, c.good, c.bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Commits(%s, %s) = %v; want %q", c.good, c.bad, err, c.want)
		}
	}
	if _, err := OpenRepo(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in a git repository") {
		t.Errorf("OpenRepo outside a repository = %v", err)
	}
}

func TestWorktreeAndDirty(t *testing.T) {
	dir, ids := repo(t)
	r, err := OpenRepo(filepath.Join(dir, "mod"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r.Dirty(ctx) {
		t.Error("a clean tree is dirty")
	}
	os.WriteFile(filepath.Join(dir, "mod", "m.c"), []byte("edited\n"), 0o644)
	if !r.Dirty(ctx) {
		t.Error("an edited tree is not dirty")
	}
	parent := t.TempDir()
	mod, remove, err := r.Worktree(ctx, parent, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(mod, "m.c")); string(b) != "two\n" || filepath.Base(mod) != "mod" {
		t.Errorf("worktree at the 2nd commit: %s holds %q; want two", mod, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "mod", "m.c")); string(b) != "edited\n" {
		t.Errorf("the checkout was touched: %q", b)
	}
	remove()
	if _, err := os.Stat(mod); !os.IsNotExist(err) {
		t.Errorf("worktree left behind: %v", err)
	}
	if out, _ := exec.Command("git", "-C", dir, "worktree", "list").Output(); strings.Count(string(out), "\n") != 1 {
		t.Errorf("git still lists the worktree:\n%s", out)
	}
}
