package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/bisect"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/textutil"
)

// treePlan bisects a kernel tree's own commits. One worktree serves the
// whole bisect, each step checked out into it, and one object directory
// (make O=) beside it: a step rebuilds only what changed since the step
// before. The configuration is the tree's .config with what lab's guest
// needs merged in (guest.config). The worktree is removed at the end
// (Ctrl-C too); the object directory stays in the cache for the next
// bisect of the same range.
func (g *globals) treePlan(ctx context.Context, f *bisectFlags, cache, guestConfig string) (*bisectPlan, func(), error) {
	if f.good == "" || f.bad == "" {
		return nil, nil, fmt.Errorf("bisect --kernel-tree: give --good REV and --bad REV")
	}
	repo, err := bisect.OpenRepo(f.tree)
	if err != nil {
		return nil, nil, err
	}
	if repo.Rel != "." {
		return nil, nil, fmt.Errorf("bisect --kernel-tree %s: give the tree's top directory (%s)", f.tree, repo.Top)
	}
	base, err := os.ReadFile(filepath.Join(repo.Top, ".config"))
	if err != nil {
		return nil, nil, fmt.Errorf("bisect --kernel-tree: %s has no .config to build each step with (make defconfig, or copy one there; lab adds what its guest needs from guest.config)", repo.Top)
	}
	cands, err := repo.Commits(ctx, f.good, f.bad)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256([]byte(repo.Top + "\n" + cands[0].ID + "\n" + cands[len(cands)-1].ID))
	work := filepath.Join(cache, "bisect", "trees", hex.EncodeToString(h[:])[:16])
	obj := filepath.Join(work, filepath.Base(repo.Top)) // its name names the image: tree-<name>
	if err := os.MkdirAll(obj, 0o755); err != nil {
		return nil, nil, err
	}
	src, remove, err := repo.Worktree(ctx, work, cands[0].ID)
	if err != nil {
		return nil, nil, err
	}
	cc := "gcc"
	guest, err := os.ReadFile(guestConfig)
	if err != nil {
		remove()
		return nil, nil, err
	}
	ch := sha256.Sum256(append(append([]byte(nil), base...), guest...))
	plan := &bisectPlan{form: "tree", cands: cands, buildTimes: map[string]string{}, keyExtra: hex.EncodeToString(ch[:8])}
	if _, err := exec.LookPath("ccache"); err == nil {
		cc = "ccache gcc"
		plan.notes = append(plan.notes, "bisect: building with ccache")
	} else {
		plan.notes = append(plan.notes, "bisect: building without ccache (not installed); each step rebuilds what changed in "+obj)
	}
	plan.point = func(ctx context.Context, c bisect.Candidate) (*image.Spec, []string, func(), error) {
		start := time.Now()
		run := func(args ...string) error {
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Dir = src
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, strings.Join(textutil.LastLines(out.String(), 15), "\n"))
			}
			return nil
		}
		if err := run("git", "checkout", "--quiet", "--detach", "--force", c.ID); err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(obj, ".config"), base, 0o644); err != nil {
			return nil, nil, nil, err
		}
		jobs := fmt.Sprint(runtime.NumCPU())
		steps := [][]string{
			{"./scripts/kconfig/merge_config.sh", "-m", "-O", obj, filepath.Join(obj, ".config"), guestConfig},
			{"make", "-s", "O=" + obj, "CC=" + cc, "olddefconfig"},
			{"make", "-s", "O=" + obj, "CC=" + cc, "-j" + jobs, "bzImage", "modules"},
		}
		fmt.Fprintf(g.stderr, "lab: bisect: building %s in %s\n", c.Label, obj)
		for _, s := range steps {
			if err := run(s...); err != nil {
				return nil, nil, nil, &bisect.SkipError{Err: fmt.Errorf("does not build: %w", err)}
			}
		}
		took := time.Since(start).Round(time.Second)
		plan.buildTimes[c.ID] = took.String()
		fmt.Fprintf(g.stderr, "lab: bisect: built %s in %s\n", c.Label, took)
		spec, err := image.LocalSpec(obj)
		if err != nil {
			return nil, nil, nil, &bisect.SkipError{Err: err}
		}
		return spec, nil, func() {}, nil
	}
	return plan, remove, nil
}
