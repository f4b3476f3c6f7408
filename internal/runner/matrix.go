package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"lab/internal/experiment"
	"lab/internal/image"
	"lab/internal/results"
)

// Matrix runs every experiment on every kernel, up to jobs VMs at once,
// into runDir. Kernels are prepared first, one after another (their builds
// share the cache); then the cells run in parallel. done hears of each
// result as it is written. It returns when every cell ran or ctx ended;
// cells never started have no result.
func Matrix(ctx context.Context, o Options, specs []*image.Spec, exps []*experiment.Spec, runID, runDir string, jobs int, done func(*results.Result)) error {
	if jobs < 1 {
		jobs = 1
	}
	type cell struct {
		p   *Prepared
		exp *experiment.Spec
	}
	var cells []cell
	for _, spec := range specs {
		fmt.Fprintf(o.progressWriter(), "lab: preparing %s (kernel packages, modules, initramfs)\n", spec.Name)
		p, err := Prepare(ctx, o, spec)
		if err != nil {
			return err
		}
		for _, e := range exps {
			cells = append(cells, cell{p, e})
		}
	}
	work := make(chan cell)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				start := time.Now()
				r := Run(ctx, o, c.p, c.exp, runID, runDir)
				mu.Lock()
				fmt.Fprintf(o.progressWriter(), "lab: %s on %s: %s (%.1f s)\n", c.exp.Name, c.p.Image.Spec.Name, r.Verdict, time.Since(start).Seconds())
				if done != nil {
					done(r)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, c := range cells {
		select {
		case work <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return ctx.Err()
}
