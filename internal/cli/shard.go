package cli

import (
	"slices"

	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/shard"
)

// splitShard narrows a matrix to the part shard s runs, keeping the given
// order, and returns the whole matrix as the plan run.json records.
func splitShard(s shard.Shard, specs []*image.Spec, exps []*experiment.Spec) ([]*image.Spec, []*experiment.Spec, *results.Plan) {
	plan := &results.Plan{}
	for _, sp := range specs {
		plan.Kernels = append(plan.Kernels, sp.Name)
	}
	for _, e := range exps {
		plan.Experiments = append(plan.Experiments, e.Name)
	}
	ks, es := s.Split(plan.Kernels, plan.Experiments)
	specs = slices.DeleteFunc(slices.Clone(specs), func(sp *image.Spec) bool { return !slices.Contains(ks, sp.Name) })
	exps = slices.DeleteFunc(slices.Clone(exps), func(e *experiment.Spec) bool { return !slices.Contains(es, e.Name) })
	return specs, exps, plan
}
