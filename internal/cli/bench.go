package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/runner"
)

// benchCmd is lab bench: medians of N rounds of the boot-time floor, lab's
// cold boot, restore to ready and per-cell overhead, as ratios measured in
// one run (absolute times across runs mean little on a shared host).
func (g *globals) benchCmd() *cobra.Command {
	var kernels []string
	var expName, repeatExp string
	var rounds, repeatK int
	c := &cobra.Command{
		Use:   "bench",
		Short: "time the boot floor, lab's cold boot and a snapshot restore, side by side as ratios",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rounds < 1 {
				return fmt.Errorf("bench: -n %d: want at least 1 round", rounds)
			}
			tree, cache, err := g.treeAndCache(cmd.Context())
			if err != nil {
				return err
			}
			exp, err := experiment.Find(g.experimentDirs(tree), expName)
			if err != nil {
				return err
			}
			specs, err := g.images(tree, kernels)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o := runner.Options{
				RepoRoot: tree.Module, CacheDir: cache, Mirror: g.mirror, SecurityMirror: g.securityMirror,
				SnapshotMirror: g.snapshotMirror, Accel: g.accel, QEMU: g.qemu, Log: g.logger(),
				Progress: g.stderr, LabVersion: tree.Version, Commands: needCommands([]*experiment.Spec{exp}),
			}
			// Kernels one after another, never two VMs at once: each is
			// timed on the whole host, and their ratios are of one run.
			var side []benchColumn
			for i, spec := range specs {
				if i > 0 {
					fmt.Fprintln(g.stdout)
				}
				p, err := runner.Prepare(ctx, o, spec)
				if err != nil {
					return err
				}
				runDir, err := results.RunDir(g.resultsFor(tree), "bench-"+results.NewRunID(time.Now()))
				if err != nil {
					return err
				}
				rs, acc, err := runner.Bench(ctx, o, p, exp, rounds, runDir)
				if err != nil {
					return err
				}
				printBench(g, spec.Name, acc, exp.Name, rs)
				col := benchColumn{kernel: spec.Name, accel: acc, rounds: rs}
				if repeatK >= 2 {
					cs, err := g.benchRepeats(ctx, tree.Module, cache, spec.Name, acc, repeatExp, repeatK, rounds)
					if err != nil {
						return err
					}
					printRepeatCost(g, repeatExp, repeatK, cs)
					col.repeats = cs
				}
				side = append(side, col)
			}
			printBenchSideBySide(g, exp.Name, repeatExp, side)
			return nil
		},
	}
	c.Flags().StringSliceVarP(&kernels, "kernel", "k", []string{DefaultKernel}, "kernel images to time, one after another (several: also side by side, as ratios to the first)")
	c.Flags().StringVar(&expName, "experiment", "chardev-safe", "experiment each cell runs")
	c.Flags().IntVarP(&rounds, "rounds", "n", 3, "rounds (medians are printed)")
	c.Flags().IntVar(&repeatK, "repeat", 10, "also time lab run --repeat K against lab run, as separate processes (below 2: skip)")
	c.Flags().StringVar(&repeatExp, "repeat-experiment", "chardev-unsafe", "experiment the --repeat timing runs")
	c.Flags().StringVar(&g.accel, "accel", accelDefault(), usageAccel)
	c.Flags().StringVar(&g.qemu, "qemu", "qemu-system-x86_64", usageQEMU)
	c.Flags().StringVar(&g.resultsDir, "results", "", usageResults)
	return c
}

func printBench(g *globals, kernel, acc, exp string, rs []runner.BenchRound) {
	pick := func(f func(runner.BenchRound) time.Duration) time.Duration {
		var ds []time.Duration
		for _, r := range rs {
			ds = append(ds, f(r))
		}
		return runner.Median(ds)
	}
	floor := pick(func(r runner.BenchRound) time.Duration { return r.Floor })
	coldCell := pick(func(r runner.BenchRound) time.Duration { return r.ColdCell })
	w := g.stdout
	fmt.Fprintf(w, "lab bench: %s on %s, %s, medians of %d rounds\n", kernel, acc, exp, len(rs))
	fmt.Fprintf(w, "%-38s %9s %9s %11s\n", "", "median", "× floor", "× cold cell")
	row := func(name string, d time.Duration) {
		fmt.Fprintf(w, "%-38s %8.2fs %9.2f %11.2f\n", name, d.Seconds(), ratio(d, floor), ratio(d, coldCell))
	}
	row("boot floor (static Go /init)", floor)
	// An arm64 kernel has no bzImage: QEMU boots its Image, the floor.
	if bz := pick(func(r runner.BenchRound) time.Duration { return r.FloorBzImage }); bz != floor {
		row("the floor from the bzImage", bz)
	}
	row("lab cold boot (QEMU → SSH ready)", pick(func(r runner.BenchRound) time.Duration { return r.ColdBoot }))
	row("restore to ready (QEMU → SSH)", pick(func(r runner.BenchRound) time.Duration { return r.RestoreBoot }))
	row("cell overhead beyond steps, cold", pick(func(r runner.BenchRound) time.Duration { return r.ColdOverhead }))
	row("cell overhead beyond steps, restored", pick(func(r runner.BenchRound) time.Duration { return r.RestoreOverhead }))
	row("whole cell, cold", coldCell)
	row("whole cell, restored", pick(func(r runner.BenchRound) time.Duration { return r.RestoreCell }))

	fmt.Fprintf(w, "\nwhere a cold boot's time goes (medians)       floor       lab   lab − floor\n")
	phase := func(name string, f func(runner.BootPhases) time.Duration, floorToo bool) {
		fl := pick(func(r runner.BenchRound) time.Duration { return f(r.FloorPhases) })
		lab := pick(func(r runner.BenchRound) time.Duration { return f(r.ColdPhases) })
		if !floorToo {
			fmt.Fprintf(w, "%-44s %9s %8.2fs %12.2fs\n", name, "-", lab.Seconds(), lab.Seconds())
			return
		}
		fmt.Fprintf(w, "%-44s %8.2fs %8.2fs %12.2fs\n", name, fl.Seconds(), lab.Seconds(), (lab - fl).Seconds())
	}
	phase("QEMU start → kernel's first line (host)", func(p runner.BootPhases) time.Duration { return p.FirstLine }, true)
	phase("kernel start → /init (guest clock)", func(p runner.BootPhases) time.Duration { return p.Kernel }, true)
	phase("/init → userspace line or ready (guest)", func(p runner.BootPhases) time.Duration { return p.Userspace }, true)
	phase("ready line seen → SSH connected (host)", func(p runner.BootPhases) time.Duration { return p.Connect }, false)
}

// benchColumn is one kernel's figures, for the side-by-side table.
type benchColumn struct {
	kernel, accel string
	rounds        []runner.BenchRound
	repeats       []repeatCost
}

func medianOf[T any](xs []T, f func(T) time.Duration) time.Duration {
	var ds []time.Duration
	for _, x := range xs {
		ds = append(ds, f(x))
	}
	return runner.Median(ds)
}

// printBenchSideBySide prints the kernels' medians in one table, each as a
// ratio to the first kernel's: an arm64 kernel under TCG beside amd64's.
func printBenchSideBySide(g *globals, exp, repeatExp string, cols []benchColumn) {
	if len(cols) < 2 {
		return
	}
	w := g.stdout
	fmt.Fprintf(w, "\nside by side: medians, and each as a ratio to %s's\n%-40s", cols[0].kernel, "")
	for _, c := range cols {
		fmt.Fprintf(w, " %22s", c.kernel+" ("+c.accel+")")
	}
	fmt.Fprintln(w)
	row := func(name string, f func(benchColumn) (time.Duration, bool)) {
		first, ok := f(cols[0])
		if !ok {
			return
		}
		fmt.Fprintf(w, "%-40s", name)
		for _, c := range cols {
			d, _ := f(c)
			fmt.Fprintf(w, " %9.2fs (× %6.2f)", d.Seconds(), ratio(d, first))
		}
		fmt.Fprintln(w)
	}
	of := func(f func(runner.BenchRound) time.Duration) func(benchColumn) (time.Duration, bool) {
		return func(c benchColumn) (time.Duration, bool) { return medianOf(c.rounds, f), true }
	}
	row("boot floor (static Go /init)", of(func(r runner.BenchRound) time.Duration { return r.Floor }))
	row("lab cold boot (QEMU → SSH ready)", of(func(r runner.BenchRound) time.Duration { return r.ColdBoot }))
	row("restore to ready (QEMU → SSH)", of(func(r runner.BenchRound) time.Duration { return r.RestoreBoot }))
	row("whole cell ("+exp+"), cold", of(func(r runner.BenchRound) time.Duration { return r.ColdCell }))
	row("whole cell ("+exp+"), restored", of(func(r runner.BenchRound) time.Duration { return r.RestoreCell }))
	row("lab run "+repeatExp+", whole command", func(c benchColumn) (time.Duration, bool) {
		return medianOf(c.repeats, func(r repeatCost) time.Duration { return r.Run }), len(c.repeats) > 0
	})
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}
