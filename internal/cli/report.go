package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/results"
)

func (g *globals) reportCmd() *cobra.Command {
	var merge string
	var bf baselineFlags
	c := &cobra.Command{
		Use:   "report RUN-DIR | report --merge OUT RUN-DIR...",
		Short: "rewrite a run's reports (report.md, report.html, junit.xml) from its result files, or merge shards' run directories into one run; print its matrix",
		Args: func(cmd *cobra.Command, args []string) error {
			if merge != "" {
				return cobra.MinimumNArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := bf.load()
			if err != nil {
				return err
			}
			if merge != "" {
				return g.merge(merge, args, base)
			}
			run, rs, err := results.LoadRun(args[0])
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				return fmt.Errorf("%s: no result.json files", args[0])
			}
			return g.reportWith(base, args[0], rs, results.NewMatrix(run, rs), false)
		},
	}
	bf.add(c)
	c.Flags().StringVar(&merge, "merge", "", "merge the run directories given (shards from lab matrix --shard, from several machines) into the new run directory `OUT`; exit status as lab matrix")
	return c
}

// merge is lab report --merge: one run from many, its reports, its matrix,
// and the exit status lab matrix would have given for the whole matrix (a
// cell no shard ran counts as an error).
func (g *globals) merge(out string, dirs []string, base *baseline) error {
	run, rs, err := results.Merge(out, dirs, time.Now())
	if err != nil {
		return err
	}
	m := results.NewMatrix(run, rs)
	if err := g.reportWith(base, out, rs, m, true); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "\nmerged %d run directories: %s (report.md, report.html, junit.xml)\n", len(dirs), out)
	g.exit = max(g.exit, matrixExit(m))
	if c := m.Counts(); c["missing"] > 0 {
		return fmt.Errorf("merge: %d of the matrix's cells have no result in the directories given (shown as -)", c["missing"])
	}
	return nil
}

// matrixExit is the exit status of a matrix: the worst verdict of its cells.
func matrixExit(m *results.Matrix) int {
	worst := ExitPass
	for _, e := range m.Experiments {
		for _, k := range m.Kernels {
			r := m.Cell(e, k)
			if r == nil {
				return ExitError
			}
			worst = max(worst, exitCode(r.Verdict))
		}
	}
	return worst
}

// reportWith compares the run in dir with the baseline (when there is
// one), writes the reports with the comparison in them, and prints the
// matrix; a regression the baseline does not allow makes the exit status
// 1. written says dir holds the reports already (Merge writes them), so
// they are written again only to add the comparison.
func (g *globals) reportWith(base *baseline, dir string, rs []*results.Result, m *results.Matrix, written bool) error {
	regressed, err := base.compare(g.stdout, dir, rs, m)
	if err != nil {
		return err
	}
	if !written || base != nil {
		if err := results.WriteReports(dir, m); err != nil {
			return err
		}
	}
	fmt.Fprintln(g.stdout)
	results.Table(g.stdout, m)
	if regressed {
		g.exit = max(g.exit, ExitFail)
	}
	return nil
}
