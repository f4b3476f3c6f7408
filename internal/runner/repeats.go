package runner

import (
	"fmt"
	"maps"
	"path/filepath"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/results"
)

// RepeatDir is the directory of repeat i (1-based) inside its cell's.
func RepeatDir(i int) string { return fmt.Sprintf("repeat-%02d", i) }

// aggregate makes the record of a cell run len(reps) times: repeat 1's
// record with the distribution of every repeat's signature and the
// verdict over all of them (experiment.JudgeRepeats). writeCell stores it.
func aggregate(exp *experiment.Spec, reps []*results.Result) *results.Result {
	first := *reps[0]
	agg := &first
	agg.Repeats = results.Distribute(reps)
	experiment.JudgeRepeats(exp, agg, reps)
	agg.TimingsMS = maps.Clone(first.TimingsMS)
	var total int64
	for _, r := range reps {
		total += r.TimingsMS["total"]
	}
	agg.TimingsMS["repeats_total"] = total
	agg.Notes = append(append([]string(nil), first.Notes...),
		fmt.Sprintf("%d repeats, each from a fresh restore: the steps and reports here are repeat 1's; every repeat's record is in %s … %s", len(reps), RepeatDir(1), RepeatDir(len(reps))))
	return agg
}

// writeCell stores a cell's aggregate as its result.json.
func writeCell(runDir string, agg *results.Result) {
	if err := results.Write(filepath.Join(runDir, agg.Kernel.Name, agg.Experiment), agg); err != nil {
		agg.Notes = append(agg.Notes, "writing the cell's record: "+err.Error())
	}
}
