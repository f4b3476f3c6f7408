// Package cli is lab's command line: flags and wiring over the runner,
// experiment, image and results packages. It holds no logic of its own.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/kmod"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/runner"
	"github.com/kernel-lab/lab/internal/shard"
	"github.com/kernel-lab/lab/internal/source"
)

// Exit codes.
const (
	ExitPass  = 0
	ExitFail  = 1
	ExitError = 2
)

// DefaultKernel is the image experiments run on when none is named.
const DefaultKernel = "debian-6.1"

type globals struct {
	root, project, cache   string
	resultsDir             string
	experiments            []string
	mirror, securityMirror string
	snapshotMirror         string
	accel, qemu            string
	accelSource            string // "--accel" or "$LAB_ACCEL", for messages
	verbose                bool
	stdout, stderr         io.Writer
	exit                   int
}

// Main runs lab with args and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := g.newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(image.WithListsMemo(context.Background())); err != nil {
		fmt.Fprintln(stderr, "lab:", err)
		return ExitError
	}
	return g.exit
}

// newRoot is lab's command tree.
func (g *globals) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "lab",
		Short:         "a reproducible Linux kernel lab: rmmod while the file is open, on real kernels in QEMU",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", "", "lab's checkout (default: the one the working directory is in, else the source of the installed version in the Go module cache)")
	pf.StringVar(&g.project, "project", "", "your directory: its experiments/, images/ and kmods/ are read before lab's own, results/ and added images go there (default: the checkout, else the working directory)")
	pf.StringArrayVar(&g.experiments, "experiments", nil, "a directory of experiment YAML files, read before the project's and lab's own; repeatable")
	pf.StringVar(&g.cache, "cache", "", "cache directory (default $"+image.EnvCache+", else $XDG_CACHE_HOME/lab or ~/.cache/lab)")
	pf.StringVar(&g.mirror, "mirror", "", "Debian archive URI (default: $"+image.EnvMirror+", else the host's apt sources)")
	pf.StringVar(&g.securityMirror, "security-mirror", "", "Debian security archive URI (default: $"+image.EnvSecurityMirror+", else the host's apt sources)")
	pf.StringVar(&g.snapshotMirror, "snapshot-mirror", "", "snapshot archive URI for locked packages the mirror no longer serves; {archive} and {timestamp} take each package's archive and lock date (default: $"+image.EnvSnapshotMirror+")")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log what lab does")
	root.AddCommand(g.runCmd(), g.matrixCmd(), g.reportCmd(), g.diffCmd(), g.bisectCmd(), g.listCmd(), g.imagesCmd(), g.evidenceCmd(), g.doctorCmd(), g.benchCmd(), g.shellCmd())
	return root
}

func (g *globals) logger() *slog.Logger {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
}

// tree finds lab's source and the user's project (package source): the
// checkout from --root or the working directory, else the module cache copy
// of the version this binary was installed from.
func (g *globals) tree(ctx context.Context) (source.Tree, error) {
	t, err := source.Find(ctx, source.Options{Root: g.root, Project: g.project})
	if err != nil {
		return source.Tree{}, err
	}
	g.logger().Debug("lab source", "module", t.Module, "project", t.Project, "version", t.Version, "installed", t.Installed)
	return t, nil
}

// experimentDirs are --experiments, then the tree's layered folders.
func (g *globals) experimentDirs(t source.Tree) []string {
	return append(slices.Clone(g.experiments), t.ExperimentDirs()...)
}

// resultsFor is --results, else the project's results/.
func (g *globals) resultsFor(t source.Tree) string {
	if g.resultsDir != "" {
		return g.resultsDir
	}
	return t.ResultsDir()
}

func (g *globals) cacheDir() (string, error) {
	if g.cache != "" {
		return filepath.Abs(g.cache)
	}
	return image.CacheDir()
}

// accelDefault is --accel's default: $LAB_ACCEL, else auto.
func accelDefault() string {
	if v := os.Getenv(accel.EnvAccel); v != "" {
		return v
	}
	return accel.Auto
}

// accelSource names where the accelerator came from, for its errors.
func accelSource(cmd *cobra.Command) string {
	if !cmd.Flags().Changed("accel") && os.Getenv(accel.EnvAccel) != "" {
		return "$" + accel.EnvAccel
	}
	return "--accel"
}

// The help of flags several commands have, one text each.
var (
	usageAccel   = "accelerator: auto (KVM when a probe boot under it works, else TCG), kvm or tcg (default $" + accel.EnvAccel + ", else auto)"
	usageQEMU    = "QEMU binary for amd64 guests (arm64 guests run qemu-system-aarch64 from PATH)"
	usageResults = "results directory (default <project>/results; lab shell keeps its console log there)"
)

// runFlags are the flags lab run and lab matrix share.
type runFlags struct {
	kernels             []string
	timeout, runTimeout time.Duration
	dump                bool
	locked              bool
	snapshot, cold      bool
	kmods               []string
	trees               []string // --kernel-tree
	kernelSet           bool     // --kernel given: trees join those kernels
	jobs                int
	shard               string // matrix only: "I/N"
	gdb                 bool   // run only: QEMU's gdbstub, paused at start
	gdbStep             int    // run only: pause before this step instead
	repeat              int
	baseline            baselineFlags
}

func (g *globals) addRunFlags(c *cobra.Command, f *runFlags, defaultKernels []string, what string) {
	c.Flags().StringSliceVarP(&f.kernels, "kernel", "k", defaultKernels, what)
	c.Flags().StringVar(&g.accel, "accel", accelDefault(), usageAccel)
	c.Flags().StringVar(&g.qemu, "qemu", "qemu-system-x86_64", usageQEMU)
	c.Flags().StringVar(&g.resultsDir, "results", "", usageResults)
	c.Flags().DurationVar(&f.timeout, "timeout", 120*time.Minute, "give up on the whole command after this long")
	c.Flags().DurationVar(&f.runTimeout, "run-timeout", 10*time.Minute, "give up on one experiment on one kernel after this long (result: error guest-hang)")
	c.Flags().StringArrayVar(&f.trees, "kernel-tree", nil, "a kernel build tree (make bzImage modules done in it) to run on, with its own System.map and compiler; repeatable")
	c.Flags().StringArrayVar(&f.kmods, "kmods", nil, "your module directory (a Kbuild or obj-m Makefile directory, or a folder of them), built against each kernel beside lab's kmods/; repeatable")
	c.Flags().BoolVar(&f.locked, "locked", false, "run exactly the locked kernel packages (images/*.lock) or exit 2 before anything boots; without it, lab follows a series whose locked build the mirror dropped")
	c.Flags().BoolVar(&f.dump, "dump", false, "when a guest hangs, write its memory to memory.dump beside the console log")
	c.Flags().BoolVar(&f.snapshot, "snapshot", true, "boot each kernel once, save it, and restore a copy per experiment (the default; a failed restore boots cold, with a note)")
	c.Flags().MarkHidden("snapshot")
	c.Flags().BoolVar(&f.cold, "cold", false, "boot every experiment from scratch instead of restoring a saved boot")
	c.Flags().IntVar(&f.repeat, "repeat", 1, "run each cell N times, each from a fresh restore, and record how often each behaviour occurs (every repeat in repeat-NN/)")
	f.baseline.add(c)
}

func (g *globals) runCmd() *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run EXPERIMENT...",
		Short: "run experiments (names in experiments/, or paths to YAML files) on a kernel",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.accelSource = accelSource(cmd)
			f.kernelSet = cmd.Flags().Changed("kernel")
			return g.run(cmd.Context(), f, args, false)
		},
	}
	g.addRunFlags(c, f, []string{DefaultKernel}, "kernel images to run on (names in images/)")
	c.Flags().IntVarP(&f.jobs, "jobs", "j", 1, "VMs to run at once")
	c.Flags().BoolVar(&f.gdb, "gdb", false, "start QEMU's gdbstub on 127.0.0.1 (and nokaslr), pause the VM before the kernel starts and print the gdb command; the run goes on when gdb continues")
	c.Flags().IntVar(&f.gdbStep, "gdb-step", 0, "with --gdb (implied): pause before step N instead, with the loaded modules' symbols in the gdb command")
	return c
}

func (g *globals) matrixCmd() *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "matrix [EXPERIMENT...]",
		Short: "run experiments (default: all) on kernels (default: all) side by side, with reports",
		RunE: func(cmd *cobra.Command, args []string) error {
			g.accelSource = accelSource(cmd)
			f.kernelSet = cmd.Flags().Changed("kernel")
			return g.run(cmd.Context(), f, args, true)
		},
	}
	g.addRunFlags(c, f, nil, "kernel images to compare (default: every image in images/)")
	c.Flags().IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "VMs to run at once (each takes a core under TCG)")
	c.Flags().StringVar(&f.shard, "shard", "", "run only shard `I/N` of the matrix (split by the kernels' and experiments' names; see docs/ci.md), for lab report --merge")
	return c
}

// run is lab run and lab matrix: check everything, then run every
// experiment on every kernel, write reports, and print per-result
// summaries (run) or the matrix (matrix).
func (g *globals) run(parent context.Context, f *runFlags, names []string, matrix bool) error {
	// Everything that can be checked is checked before anything is
	// fetched or any VM boots: a CI job with a bad --shard or --accel must
	// fail at once, before minutes of fetching and building.
	if err := accel.Validate(g.accel, nil); err != nil {
		return fmt.Errorf("%s: %w", g.accelSource, err)
	}
	if f.repeat < 1 {
		return fmt.Errorf("--repeat %d: want 1 or more runs of each cell", f.repeat)
	}
	if f.repeat > 1 && (f.gdb || f.gdbStep != 0) {
		return fmt.Errorf("--repeat and --gdb: a debugger follows one run")
	}
	base, err := f.baseline.load()
	if err != nil {
		return err
	}
	var sh shard.Shard
	if f.shard != "" {
		if sh, err = shard.Parse(f.shard); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
	tree, cache, err := g.treeAndCache(parent)
	if err != nil {
		return err
	}
	expDirs := g.experimentDirs(tree)
	var exps []*experiment.Spec
	if len(names) == 0 {
		if exps, err = experiment.LoadDir(expDirs...); err != nil {
			return err
		}
	}
	for _, n := range names {
		e, err := experiment.Find(expDirs, n)
		if err != nil {
			return err
		}
		exps = append(exps, e)
	}
	declared, err := f.layerKmods(tree)
	if err != nil {
		return err
	}
	for _, e := range exps {
		for _, m := range e.Modules {
			if _, ok := declared[m]; !ok {
				return fmt.Errorf("%s: module %q is not built by any Kbuild file in kmods/ or a --kmods directory", e.File, m)
			}
		}
	}
	kernels := f.kernels
	if len(f.trees) > 0 && !f.kernelSet && !matrix {
		kernels = []string{} // lab run --kernel-tree: the tree alone
	}
	var specs []*image.Spec
	if kernels == nil || len(kernels) > 0 {
		if specs, err = g.images(tree, kernels); err != nil {
			return err
		}
	}
	for _, t := range f.trees {
		s, err := image.LocalSpec(t)
		if err != nil {
			return err
		}
		specs = append(specs, s)
	}
	if err := checkGDB(f, specs, exps); err != nil {
		return err
	}
	if err := base.sharesPlan(specs, exps); err != nil {
		return err
	}
	var plan *results.Plan
	if f.shard != "" {
		specs, exps, plan = splitShard(sh, specs, exps)
		fmt.Fprintf(g.stderr, "lab: shard %s: %d of %d cells\n", sh, len(specs)*len(exps), len(plan.Kernels)*len(plan.Experiments))
	}
	resultsDir := g.resultsFor(tree)
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	o := runner.Options{
		RepoRoot: tree.Module, CacheDir: cache, Mirror: g.mirror, SecurityMirror: g.securityMirror,
		SnapshotMirror: g.snapshotMirror, Locked: f.locked, Kmods: f.kmods,
		Accel: g.accel, QEMU: g.qemu, Progress: g.stderr, Log: g.logger(), LabVersion: tree.Version,
		RunTimeout: f.runTimeout, Dump: f.dump, Snapshot: f.snapshot, Cold: f.cold,
		GDB: f.gdb, GDBStep: f.gdbStep, Commands: needCommands(exps), Repeat: f.repeat,
	}
	start := time.Now()
	runID := results.NewRunID(start)
	runDir, err := results.RunDir(resultsDir, runID)
	if err != nil {
		return err
	}
	run := &results.Run{RunID: runID, Started: start.UTC(), Jobs: f.jobs, Planned: plan}
	if plan != nil {
		run.Shard = sh.String()
	}
	for _, s := range specs {
		run.Kernels = append(run.Kernels, s.Name)
	}
	for _, e := range exps {
		run.Experiments = append(run.Experiments, e.Name)
	}
	if err := results.WriteRun(runDir, run); err != nil {
		return err
	}
	worst := ExitPass
	var all []*results.Result
	// With a baseline the comparison leads and the summaries follow it.
	var summaries strings.Builder
	summaryOut := g.stdout
	if base != nil {
		summaryOut = &summaries
	}
	err = runner.Matrix(ctx, o, specs, exps, runID, runDir, f.jobs, func(r *results.Result) {
		all = append(all, r)
		worst = max(worst, exitCode(r.Verdict))
		if !matrix {
			results.PrintSummary(summaryOut, r, filepath.Join(runDir, r.Kernel.Name, r.Experiment, "result.json"))
		}
	})
	run.Complete = err == nil && len(all) == len(specs)*len(exps)
	run.Finished = time.Now().UTC()
	run.WallMS = time.Since(start).Milliseconds()
	if werr := results.WriteRun(runDir, run); werr != nil && err == nil {
		err = werr
	}
	m := results.NewMatrix(run, all)
	regressed, cerr := base.compare(g.stdout, runDir, all, m)
	if cerr != nil && err == nil {
		err = cerr
	}
	if rerr := results.WriteReports(runDir, m); rerr != nil && err == nil {
		err = rerr
	}
	io.WriteString(g.stdout, summaries.String())
	if matrix || len(all) > 1 {
		fmt.Fprintln(g.stdout)
		results.Table(g.stdout, m)
	}
	if regressed {
		worst = max(worst, ExitFail)
	}
	fmt.Fprintf(g.stdout, "\nrun %s: %s (report.md, report.html, junit.xml)\n", runID, runDir)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped (%v): finished cells are kept in %s, the run is marked incomplete", context.Cause(ctx), runDir)
		}
		return err
	}
	g.exit = worst
	return nil
}

// checkGDB allows --gdb for one experiment on one kernel: one debugger,
// one VM. A person sits in gdb, so the run's own time limit gives way.
func checkGDB(f *runFlags, specs []*image.Spec, exps []*experiment.Spec) error {
	if f.gdbStep != 0 {
		f.gdb = true
	}
	if !f.gdb {
		return nil
	}
	if len(specs) != 1 || len(exps) != 1 {
		return fmt.Errorf("--gdb debugs one experiment on one kernel; got %d experiments on %d kernels", len(exps), len(specs))
	}
	if n := len(exps[0].Steps); f.gdbStep < 0 || f.gdbStep > n {
		return fmt.Errorf("--gdb-step %d: %s has steps 1 to %d", f.gdbStep, exps[0].File, n)
	}
	f.runTimeout = max(f.runTimeout, 24*time.Hour)
	return nil
}

// layerKmods puts the project's kmods/ before the --kmods directories (all
// built beside lab's own kmods/) and returns the modules all of them
// declare, name -> directory.
func (f *runFlags) layerKmods(t source.Tree) (map[string]string, error) {
	f.kmods = append(t.ProjectKmods(), f.kmods...)
	return kmod.DeclaredIn(append([]string{filepath.Join(t.Module, "kmods")}, f.kmods...))
}

// needCommands says whether any of exps has an exec step, which runs one
// of u-root's commands: only then does the initramfs carry them.
func needCommands(exps []*experiment.Spec) bool {
	for _, e := range exps {
		for _, st := range e.Steps {
			if st.Action == protocol.ActionExec {
				return true
			}
		}
	}
	return false
}

// images loads the named kernel images, or all of them, from the tree's
// layered images/ folders.
func (g *globals) images(t source.Tree, names []string) ([]*image.Spec, error) {
	dirs := t.ImageDirs()
	if len(names) == 0 {
		return image.LoadDir(dirs...)
	}
	var specs []*image.Spec
next:
	for _, k := range names {
		for _, dir := range dirs {
			s, err := image.LoadSpec(filepath.Join(dir, k+".yaml"))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			specs = append(specs, s)
			continue next
		}
		return nil, fmt.Errorf("no kernel image %q in %s", k, strings.Join(dirs, ", "))
	}
	return specs, nil
}

func exitCode(verdict string) int {
	switch verdict {
	case results.Pass:
		return ExitPass
	case results.Fail:
		return ExitFail
	}
	return ExitError
}

func (g *globals) listCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list the experiments by family, each with its summary and modules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, err := g.tree(cmd.Context())
			if err != nil {
				return err
			}
			specs, err := experiment.LoadDir(g.experimentDirs(tree)...)
			if err != nil {
				return err
			}
			// By family, the name up to its first dash (chardev, proc,
			// timer …), one line an experiment.
			family := ""
			for _, s := range specs {
				if f, _, _ := strings.Cut(s.Name, "-"); f != family {
					family = f
					fmt.Fprintf(g.stdout, "%s\n", family)
				}
				fmt.Fprintf(g.stdout, "  %-20s %s (modules: %s)\n", s.Name, s.Summary, strings.Join(s.Modules, ", "))
			}
			return nil
		},
	}
}
