package e2e

import (
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/results"
)

// TestCatalogue runs every family of the module-lifetime catalogue, safe
// and unsafe, on debian-6.1, and checks the evidence each unsafe one must
// leave: the report names the freed module's symbol (lab's
// use-after-unload attribution) and, for the timer and the delayed work,
// the kernel panicked in the timer softirq; the safe ones report nothing.
// (The whole catalogue on all four kernels is `make catalogue`.)
func TestCatalogue(t *testing.T) {
	needVM(t)
	exps := []string{"timer-safe", "timer-unsafe", "workqueue-safe", "workqueue-unsafe", "kthread-safe", "kthread-unsafe",
		"debugfs-safe", "debugfs-unsafe", "sysfs-safe", "sysfs-unsafe", "notifier-safe", "notifier-unsafe"}
	code, _, dir := runLab(t, append([]string{"run", "--jobs", "2"}, exps...)...)
	if code != cli.ExitPass {
		t.Errorf("exit %d; want 0", code)
	}
	freed := func(r *results.Result, symbol string) bool {
		for _, o := range r.Oopses {
			for _, x := range o.Resolved {
				if x.Module == strings.ReplaceAll(r.Experiment, "-", "_") && x.Unloaded && strings.HasPrefix(x.Symbol, symbol) {
					return true
				}
			}
		}
		return false
	}
	for _, e := range exps {
		r := readResult(t, dir, "debian-6.1", e)
		if r.Verdict != results.Pass {
			t.Errorf("%s: %s (%s%s)", e, r.Verdict, r.Reason, r.Error)
		}
		switch e {
		case "timer-unsafe", "workqueue-unsafe":
			if r.Panic == "" || len(r.Oopses) == 0 || !strings.Contains(r.Oopses[0].Title, "__run_timers") {
				t.Errorf("%s: panic %q, reports %d; want a page fault in __run_timers and the panic", e, r.Panic, len(r.Oopses))
			}
			if sym := map[string]string{"timer-unsafe": "tick", "workqueue-unsafe": "work"}[e]; !freed(r, sym) {
				t.Errorf("%s: no address named %s in the freed module: %+v; layouts %+v", e, sym, r.Oopses[0].Resolved, r.Modules)
			}
		case "kthread-unsafe":
			if r.Panic != "" || !freed(r, "loop") {
				t.Errorf("kthread-unsafe: panic %q; want no panic and the RIP named loop in the freed module", r.Panic)
			}
		case "debugfs-unsafe":
			if !freed(r, "lab_fops") {
				t.Errorf("debugfs-unsafe: no address named lab_fops in the freed module: %+v", r.Oopses)
			}
		case "sysfs-unsafe":
			if !freed(r, "value_attr") {
				t.Errorf("sysfs-unsafe: no address named value_attr in the freed module: %+v", r.Oopses)
			}
		case "notifier-unsafe":
			// The block's address lies in the freed module, now reused by
			// the module being loaded (see the experiment's description).
			if !freed(r, "lab_nb") {
				t.Errorf("notifier-unsafe: no address named lab_nb in the freed module: %+v", r.Oopses)
			}
		case "debugfs-safe", "sysfs-safe":
			if len(r.Oopses) != 0 || step(t, r, map[string]int{"debugfs-safe": 5, "sysfs-safe": 10}[e], "read", "A").Errno == "" {
				t.Errorf("%s: %d reports, and the read after the unload did not fail", e, len(r.Oopses))
			}
		default:
			if len(r.Oopses) != 0 {
				t.Errorf("%s: %d kernel reports; want none", e, len(r.Oopses))
			}
		}
	}
}
