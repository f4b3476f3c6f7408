package bisect

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Repo is the git history of a directory (a module's, a kernel tree's),
// bisected in worktrees of its own: the user's checkout, index and
// branches are never touched.
type Repo struct {
	// Top is the repository's top level; Rel the directory inside it.
	Top, Rel string
}

// OpenRepo finds the repository dir is in.
func OpenRepo(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	top, err := git(context.Background(), abs, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%s is not in a git repository (bisecting a module's history needs its commits): %v", dir, err)
	}
	// Resolve links on both sides, so that Rel is a path inside Top.
	realAbs, _ := filepath.EvalSymlinks(abs)
	realTop, _ := filepath.EvalSymlinks(top)
	rel, err := filepath.Rel(realTop, realAbs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("%s: not inside its repository %s", dir, top)
	}
	return &Repo{Top: top, Rel: rel}, nil
}

// Dirty says whether the directory has uncommitted changes: a bisect
// runs the committed history only, and says so.
func (r *Repo) Dirty(ctx context.Context) bool {
	out, err := git(ctx, r.Top, "status", "--porcelain", "--", r.Rel)
	return err == nil && out != ""
}

// Commits lists good, then every commit on the ancestry path from good to
// bad, oldest first, each with its subject. good must be an ancestor of
// bad.
func (r *Repo) Commits(ctx context.Context, good, bad string) ([]Candidate, error) {
	var ids [2]string
	for i, rev := range []string{good, bad} {
		id, err := git(ctx, r.Top, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
		if err != nil || id == "" {
			return nil, fmt.Errorf("%s: no commit %q in %s (git log shows the commits)", flagOf(i), rev, r.Top)
		}
		ids[i] = id
	}
	if ids[0] == ids[1] {
		return nil, fmt.Errorf("--good and --bad are the same commit %s: nothing to bisect", short(ids[0]))
	}
	if _, err := git(ctx, r.Top, "merge-base", "--is-ancestor", ids[0], ids[1]); err != nil {
		return nil, fmt.Errorf("--good %s is not an ancestor of --bad %s: give the older commit as --good", good, bad)
	}
	out, err := git(ctx, r.Top, "log", "--reverse", "--ancestry-path", "--format=%H %s", ids[0]+".."+ids[1])
	if err != nil {
		return nil, err
	}
	subject, _ := git(ctx, r.Top, "log", "-1", "--format=%s", ids[0])
	cands := []Candidate{{ID: ids[0], Label: short(ids[0]) + " " + subject}}
	for _, line := range strings.Split(out, "\n") {
		id, subj, _ := strings.Cut(line, " ")
		if id != "" {
			cands = append(cands, Candidate{ID: id, Label: short(id) + " " + subj})
		}
	}
	return cands, nil
}

// Worktree checks out commit in a new worktree under parent and returns
// the directory's path in it and a function that removes the worktree.
func (r *Repo) Worktree(ctx context.Context, parent, commit string) (string, func(), error) {
	wt, err := os.MkdirTemp(parent, "worktree-")
	if err != nil {
		return "", nil, err
	}
	os.Remove(wt) // git makes it
	if _, err := git(ctx, r.Top, "worktree", "add", "--detach", "--quiet", wt, commit); err != nil {
		return "", nil, fmt.Errorf("git worktree add %s: %w", short(commit), err)
	}
	remove := func() {
		// Not ctx: the removal must run after an interrupt too.
		git(context.Background(), r.Top, "worktree", "remove", "--force", wt)
		os.RemoveAll(wt)
		git(context.Background(), r.Top, "worktree", "prune")
	}
	return filepath.Join(wt, r.Rel), remove, nil
}

func flagOf(i int) string {
	if i == 0 {
		return "--good"
	}
	return "--bad"
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
