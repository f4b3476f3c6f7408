package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/kernel-lab/lab/internal/runner"
)

// repeatCost is what lab bench measures of --repeat: the whole `lab run
// EXP` command on a restored guest, and the marginal cost of one more
// repeat, from `lab run --repeat K EXP` in the same round: (T(K) −
// T(1)) / (K − 1). Both run lab as a separate process, start-up,
// preparation and report writing included, as a person would.
type repeatCost struct {
	Run, Repeat time.Duration
	// Parallel is one more repeat with --jobs at the host's core count.
	Parallel time.Duration
}

func (g *globals) benchRepeats(ctx context.Context, root, cache, kernel, acc, exp string, k, rounds int) ([]repeatCost, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out, err := os.MkdirTemp("", "lab-bench-repeat-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	run := func(extra ...string) (time.Duration, error) {
		args := []string{"--root", root, "--cache", cache, "run", "--results", out, "--kernel", kernel, "--accel", acc, "--qemu", g.qemu}
		args = append(append(args, extra...), exp)
		cmd := exec.CommandContext(ctx, self, args...)
		start := time.Now()
		b, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == ExitError {
				return 0, fmt.Errorf("lab %v: %v\n%s", args, err, b)
			}
		}
		return d, nil
	}
	if _, err := run(); err != nil { // the snapshot and every cache warm
		return nil, err
	}
	var cs []repeatCost
	for range rounds {
		one, err := run()
		if err != nil {
			return cs, err
		}
		many, err := run("--repeat", strconv.Itoa(k))
		if err != nil {
			return cs, err
		}
		par, err := run("--repeat", strconv.Itoa(k), "--jobs", strconv.Itoa(runtime.NumCPU()))
		if err != nil {
			return cs, err
		}
		cs = append(cs, repeatCost{Run: one, Repeat: (many - one) / time.Duration(k-1), Parallel: (par - one) / time.Duration(k-1)})
	}
	return cs, nil
}

func printRepeatCost(g *globals, exp string, k int, cs []repeatCost) {
	pick := func(f func(repeatCost) time.Duration) time.Duration {
		var ds []time.Duration
		for _, c := range cs {
			ds = append(ds, f(c))
		}
		return runner.Median(ds)
	}
	one := pick(func(c repeatCost) time.Duration { return c.Run })
	ratioOf := func(f func(repeatCost) time.Duration) float64 {
		var rs []time.Duration // ratios as nanoseconds per second, for the median
		for _, c := range cs {
			rs = append(rs, time.Duration(ratio(f(c), c.Run)*float64(time.Second)))
		}
		return runner.Median(rs).Seconds()
	}
	w := g.stdout
	fmt.Fprintf(w, "\nrepeats: lab run %s (restored) against one more repeat of lab run --repeat %d, medians of %d rounds\n", exp, k, len(cs))
	fmt.Fprintf(w, "%-46s %8s %9s\n", "", "median", "× lab run")
	fmt.Fprintf(w, "%-46s %7.2fs %9.2f\n", "lab run, the whole command", one.Seconds(), 1.0)
	for _, row := range []struct {
		name string
		f    func(repeatCost) time.Duration
	}{
		{"one more repeat, --jobs 1", func(c repeatCost) time.Duration { return c.Repeat }},
		{fmt.Sprintf("one more repeat, --jobs %d", runtime.NumCPU()), func(c repeatCost) time.Duration { return c.Parallel }},
	} {
		fmt.Fprintf(w, "%-46s %7.2fs %9.2f\n", row.name, pick(row.f).Seconds(), ratioOf(row.f))
	}
}
