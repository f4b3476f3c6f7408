package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/bisect"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/runner"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/source"
	"github.com/kernel-lab/lab/internal/textutil"
)

type bisectFlags struct {
	series, from, to string
	kmods, good, bad string
	tree             string
	kernel           string
	repeat, rounds   int
	jobs             int
	fresh            bool
}

func (g *globals) bisectCmd() *cobra.Command {
	f := &bisectFlags{}
	c := &cobra.Command{
		Use:   "bisect EXPERIMENT (--series IMAGE [--from V] [--to V] | --kmods DIR --good REV --bad REV [--kernel K] | --kernel-tree DIR --good REV --bad REV)",
		Short: "find the first Debian build of a series, or the first commit of a module or a kernel tree, where the experiment's behaviour changed, each step decided on --repeat runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.bisect(cmd.Context(), f, args[0])
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.series, "series", "", "bisect over every Debian build of this image's series the mirror serves (e.g. debian-6.1)")
	fl.StringVar(&f.from, "from", "", "with --series: the first build (Debian version of the kernel package; default the oldest served)")
	fl.StringVar(&f.to, "to", "", "with --series: the last build (default the newest served)")
	fl.StringVar(&f.kmods, "kmods", "", "bisect over this module directory's git history (in worktrees: your checkout is not touched)")
	fl.StringVar(&f.tree, "kernel-tree", "", "bisect over this kernel tree's git history, built with its .config plus what lab's guest needs, in a worktree with one object directory (your checkout is not touched)")
	fl.StringVar(&f.good, "good", "", "with --kmods or --kernel-tree: the first commit (the reference behaviour)")
	fl.StringVar(&f.bad, "bad", "", "with --kmods or --kernel-tree: the last commit")
	fl.StringVarP(&f.kernel, "kernel", "k", DefaultKernel, "with --kmods: the kernel image to run on")
	fl.IntVar(&f.repeat, "repeat", 3, "runs of each step, each from a fresh restore; a step is decided only when they agree")
	fl.IntVar(&f.rounds, "rounds", 3, "how often a step runs its repeats again when some could not complete (a guest that hung)")
	fl.IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "VMs to run at once")
	fl.BoolVar(&f.fresh, "fresh", false, "run every step anew instead of taking steps decided by an earlier run of the same bisect from the cache")
	fl.StringVar(&g.accel, "accel", accelDefault(), usageAccel)
	fl.StringVar(&g.qemu, "qemu", "qemu-system-x86_64", usageQEMU)
	fl.StringVar(&g.resultsDir, "results", "", usageResults)
	return c
}

// bisectPlan is what one form of bisect evaluates: the points, and how
// one point becomes a kernel image and module directories.
type bisectPlan struct {
	form  string // "series" or "kmods"
	cands []bisect.Candidate
	// point returns the image and extra module directories of a point,
	// and a cleanup (a worktree's removal).
	point func(ctx context.Context, c bisect.Candidate) (*image.Spec, []string, func(), error)
	// builds by candidate ID, for the changelog (series form).
	builds map[string]*image.Spec
	// buildTimes by candidate ID (kernel tree form).
	buildTimes map[string]string
	notes      []string
	// keyExtra is what else a step's record depends on (a tree's .config).
	keyExtra string
}

func (g *globals) bisect(parent context.Context, f *bisectFlags, name string) error {
	if n := countSet(f.series, f.kmods, f.tree); n != 1 {
		return fmt.Errorf("bisect: give one of --series IMAGE (Debian builds), --kmods DIR (a module's commits) or --kernel-tree DIR (a kernel's commits), the last two with --good and --bad")
	}
	if f.repeat < 1 || f.rounds < 1 {
		return fmt.Errorf("bisect: --repeat and --rounds want 1 or more")
	}
	tree, cache, err := g.treeAndCache(parent)
	if err != nil {
		return err
	}
	exp, err := experiment.Find(g.experimentDirs(tree), name)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var plan *bisectPlan
	switch {
	case f.series != "":
		plan, err = g.seriesPlan(ctx, tree, cache, f)
	case f.kmods != "":
		plan, err = g.kmodsPlan(ctx, tree, f, cache)
	default:
		var done func()
		plan, done, err = g.treePlan(ctx, f, cache, filepath.Join(tree.Module, "e2e", "testdata", "guest.config"))
		if done != nil {
			defer done()
		}
	}
	if err != nil {
		return err
	}
	for _, n := range plan.notes {
		fmt.Fprintln(g.stderr, "lab:", n)
	}
	resultsDir := g.resultsFor(tree)
	runID := "bisect-" + results.NewRunID(time.Now())
	dir, err := results.RunDir(resultsDir, runID)
	if err != nil {
		return err
	}
	expBytes, _ := os.ReadFile(exp.File)
	base := runner.Options{
		RepoRoot: tree.Module, CacheDir: cache, Mirror: g.mirror, SecurityMirror: g.securityMirror,
		SnapshotMirror: g.snapshotMirror, Accel: g.accel, QEMU: g.qemu, Progress: g.stderr, Log: g.logger(),
		LabVersion: tree.Version, RunTimeout: 10 * time.Minute, Snapshot: true, Repeat: f.repeat,
		Commands: needCommands([]*experiment.Spec{exp}),
	}
	step := 0
	eval := func(ctx context.Context, c bisect.Candidate, round int) (*results.Result, error) {
		key := bisectKey(plan.form+" "+plan.keyExtra, expBytes, c.ID, f, round, tree.Version)
		memo := filepath.Join(cache, "bisect", key+".json")
		if !f.fresh {
			var r results.Result
			if b, err := safefile.ReadSealed(memo); err == nil && json.Unmarshal(b, &r) == nil {
				fmt.Fprintf(g.stderr, "lab: bisect: %s: from the cache (an earlier run of this bisect)\n", c.Label)
				return &r, nil
			}
		}
		spec, kmods, cleanup, err := plan.point(ctx, c)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		step++
		fmt.Fprintf(g.stderr, "lab: bisect: step %d: %s (%d repeats)\n", step, c.Label, f.repeat)
		stepDir := filepath.Join(dir, "steps", fmt.Sprintf("%02d-%s", step, safeName(c.ID)))
		if err := os.MkdirAll(stepDir, 0o700); err != nil {
			return nil, err
		}
		o := base
		o.Kmods = append(append([]string(nil), tree.ProjectKmods()...), kmods...)
		var got *results.Result
		err = runner.Matrix(ctx, o, []*image.Spec{spec}, []*experiment.Spec{exp}, runID, stepDir, f.jobs, func(r *results.Result) { got = r })
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, fmt.Errorf("bisect step %s: no result", c.Label)
		}
		if got.Verdict == results.Error && got.ErrorKind == results.KindBuild {
			return nil, &bisect.SkipError{Err: fmt.Errorf("does not build: %s", textutil.FirstLine(got.Error))}
		}
		// Interrupted steps are not kept: only what was decided resumes.
		if b, err := json.Marshal(got); err == nil && ctx.Err() == nil && os.MkdirAll(filepath.Dir(memo), 0o700) == nil {
			safefile.WriteSealed(memo, b)
		}
		return got, nil
	}
	rec := &bisectRecord{Experiment: exp.Name, Form: plan.form, Repeat: f.repeat, Started: time.Now().UTC()}
	save := func(res *bisect.Result) {
		rec.Result = res
		if err := writeBisect(dir, rec); err != nil {
			fmt.Fprintln(g.stderr, "lab: bisect:", err)
		}
	}
	res, err := bisect.Run(ctx, plan.cands, eval, bisect.Options{Rounds: f.rounds, Record: save})
	if err != nil {
		if res != nil {
			save(res)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("bisect stopped (%v): the steps done are in %s; run it again to resume from the cache", context.Cause(ctx), filepath.Join(dir, "bisect.json"))
		}
		return err
	}
	rec.Changelog = g.changelog(ctx, plan, res, base)
	rec.BuildTimes = plan.buildTimes
	rec.Finished = time.Now().UTC()
	save(res)
	printBisect(g.stdout, rec)
	fmt.Fprintf(g.stdout, "\nbisect %s: %s (bisect.json, report.md)\n", runID, dir)
	if res.Outcome == bisect.Flaky || res.Outcome == bisect.Skipped {
		g.exit = ExitFail
	}
	return nil
}

// bisectKey names a decided step in the cache: the same experiment file,
// point, repeats and round of the same lab give the same record.
func bisectKey(form string, exp []byte, id string, f *bisectFlags, round int, version string) string {
	h := sha256.New()
	fmt.Fprintln(h, "bisect 1", form, id, f.kernel, f.series, f.tree, f.repeat, round, version)
	h.Write(exp)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func (g *globals) seriesPlan(ctx context.Context, tree source.Tree, cache string, f *bisectFlags) (*bisectPlan, error) {
	specs, err := g.images(tree, []string{f.series})
	if err != nil {
		return nil, err
	}
	spec := specs[0]
	opts := image.FetchOptions{CacheDir: cache, Mirror: g.mirror, SecurityMirror: g.securityMirror, Progress: g.stderr, Log: g.logger()}
	builds, skipped, err := image.Builds(ctx, spec, opts, true)
	if err != nil {
		return nil, err
	}
	plan := &bisectPlan{form: "series", builds: map[string]*image.Spec{}}
	for _, s := range skipped {
		plan.notes = append(plan.notes, "bisect: left out, not served whole: "+s)
	}
	var have []string
	for _, b := range builds {
		have = append(have, b.PackageVersion())
	}
	from, to := 0, len(builds)-1
	for i, b := range builds {
		if b.PackageVersion() == f.from {
			from = i
		}
		if b.PackageVersion() == f.to {
			to = i
		}
	}
	for _, want := range [][2]string{{"--from", f.from}, {"--to", f.to}} {
		if want[1] != "" && !slices.Contains(have, want[1]) {
			return nil, fmt.Errorf("bisect %s %s: the mirror serves no such build of %s; it serves %v", want[0], want[1], f.series, have)
		}
	}
	if len(builds) < 2 || to <= from {
		return nil, fmt.Errorf("bisect: nothing to bisect: the mirror serves %v of %s between --from and --to", have[from:to+1], f.series)
	}
	for _, b := range builds[from : to+1] {
		id := b.PackageVersion()
		plan.cands = append(plan.cands, bisect.Candidate{ID: id, Label: id + " (" + b.Release + ")"})
		plan.builds[id] = b
	}
	plan.point = func(ctx context.Context, c bisect.Candidate) (*image.Spec, []string, func(), error) {
		return plan.builds[c.ID], nil, func() {}, nil
	}
	return plan, nil
}

func (g *globals) kmodsPlan(ctx context.Context, tree source.Tree, f *bisectFlags, cache string) (*bisectPlan, error) {
	if f.good == "" || f.bad == "" {
		return nil, fmt.Errorf("bisect --kmods: give --good REV and --bad REV")
	}
	repo, err := bisect.OpenRepo(f.kmods)
	if err != nil {
		return nil, err
	}
	cands, err := repo.Commits(ctx, f.good, f.bad)
	if err != nil {
		return nil, err
	}
	specs, err := g.images(tree, []string{f.kernel})
	if err != nil {
		return nil, err
	}
	spec := specs[0]
	plan := &bisectPlan{form: "kmods", cands: cands}
	if repo.Dirty(ctx) {
		plan.notes = append(plan.notes, fmt.Sprintf("bisect: %s has uncommitted changes; bisecting its committed history only (commit or stash them to include them)", f.kmods))
	}
	worktrees := filepath.Join(cache, "bisect", "worktrees")
	if err := os.MkdirAll(worktrees, 0o700); err != nil {
		return nil, err
	}
	plan.point = func(ctx context.Context, c bisect.Candidate) (*image.Spec, []string, func(), error) {
		dir, remove, err := repo.Worktree(ctx, worktrees, c.ID)
		if err != nil {
			return nil, nil, nil, err
		}
		if _, err := os.Stat(dir); err != nil {
			remove()
			return nil, nil, nil, &bisect.SkipError{Err: fmt.Errorf("%s has no %s", c.Label, repo.Rel)}
		}
		return spec, []string{dir}, remove, nil
	}
	return plan, nil
}

func countSet(xs ...string) int {
	n := 0
	for _, x := range xs {
		if x != "" {
			n++
		}
	}
	return n
}

func safeName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// bisectRecord is bisect.json.
type bisectRecord struct {
	Experiment string         `json:"experiment"`
	Form       string         `json:"form"`
	Repeat     int            `json:"repeat"`
	Started    time.Time      `json:"started"`
	Finished   time.Time      `json:"finished,omitzero"`
	Result     *bisect.Result `json:"result"`
	// Changelog holds the Debian changelog entries between the two builds
	// (series form).
	Changelog []string `json:"changelog,omitempty"`
	// BuildTimes are each step's kernel build (kernel tree form).
	BuildTimes map[string]string `json:"build_times,omitempty"`
}

func writeBisect(dir string, rec *bisectRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.WriteAtomic(filepath.Join(dir, "bisect.json"), append(b, '\n')); err != nil {
		return err
	}
	var md strings.Builder
	printBisect(&md, rec)
	return safefile.WriteAtomic(filepath.Join(dir, "report.md"), []byte("```\n"+md.String()+"```\n"))
}
