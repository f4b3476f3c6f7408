package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/compare"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
)

// baselineFlags are --baseline and --baseline-allow, on run, matrix and
// report.
type baselineFlags struct {
	dir   string
	allow string
}

func (b *baselineFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&b.dir, "baseline", "", "compare with an earlier run (its directory, or one result.json): a regression (a new kernel report, a verdict worse than pass, a holder newly left in D or X, a step whose outcome changed) makes the exit status 1 and is named first")
	c.Flags().StringVar(&b.allow, "baseline-allow", "", "with --baseline: \"changed\" reports regressions without failing on them (the exit status is the verdicts')")
}

// baseline is a loaded --baseline, nil without one.
type baseline struct {
	flags *baselineFlags
	side  *compare.Side
}

// load reads --baseline before anything runs: a baseline that does not
// exist, is not a lab run or is of a newer schema stops the command at
// once (exit 2).
func (b *baselineFlags) load() (*baseline, error) {
	if b.allow != "" && b.allow != "changed" {
		return nil, fmt.Errorf("--baseline-allow %q: the one value is \"changed\"", b.allow)
	}
	if b.dir == "" {
		if b.allow != "" {
			return nil, fmt.Errorf("--baseline-allow needs --baseline")
		}
		return nil, nil
	}
	s, err := compare.Load(b.dir)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	return &baseline{flags: b, side: s}, nil
}

func (b *baselineFlags) allowChanged() bool { return b.allow == "changed" }

// sharesPlan checks, before anything boots, that the run about to start
// has a cell the baseline has too.
func (b *baseline) sharesPlan(specs []*image.Spec, exps []*experiment.Spec) error {
	if b == nil {
		return nil
	}
	for _, s := range specs {
		for _, e := range exps {
			if _, ok := b.side.Cells[results.CellKey{Kernel: s.Name, Experiment: e.Name}]; ok {
				return nil
			}
		}
	}
	if b.side.Single && len(specs)*len(exps) == 1 {
		return nil // one result against one: compared whatever they are
	}
	var have []string
	for k := range b.side.Cells {
		have = append(have, k.Experiment+" on "+k.Kernel)
	}
	return fmt.Errorf("--baseline %s shares no cell with this run (it has %s)", b.flags.dir, strings.Join(have, ", "))
}

// compare sets the run's results against the baseline: it prints the
// comparison (regressions first) and adds it to the reports' sections. It
// says whether the run regressed in a way that makes the exit status 1
// (a regression, unless --baseline-allow changed).
func (b *baseline) compare(w io.Writer, runDir string, rs []*results.Result, m *results.Matrix) (failing bool, err error) {
	if b == nil || len(rs) == 0 {
		return false, nil
	}
	rep, err := compare.Compare(b.side, compare.FromResults(runDir, rs), nil)
	if err != nil {
		return false, fmt.Errorf("--baseline: %w", err)
	}
	rep.Baseline = true
	fmt.Fprintln(w)
	rep.Text(w)
	m.Sections = append([]results.Section{rep.Section("Against the baseline")}, m.Sections...)
	return len(rep.Regressions()) > 0 && !b.flags.allowChanged(), nil
}
