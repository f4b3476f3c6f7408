package shard

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

var (
	kernels     = []string{"debian-6.12", "debian-5.10", "debian-7.2", "debian-6.1"}
	experiments = []string{"chardev-unsafe", "chardev-safe", "chardev-getput", "proc-safe", "proc-permanent",
		"proc-forced", "proc-leak", "proc-slow", "proc-slow-hung"}
)

// owners maps each cell "kernel/experiment" to the shards that run it.
func owners(t *testing.T, n int, ks, es []string) map[string][]int {
	t.Helper()
	got := map[string][]int{}
	for i := 1; i <= n; i++ {
		sk, se := Shard{i, n}.Split(ks, es)
		if (len(sk) == 0) != (len(se) == 0) {
			t.Errorf("shard %d/%d = %v × %v: one side empty", i, n, sk, se)
		}
		for _, k := range sk {
			for _, e := range se {
				got[k+"/"+e] = append(got[k+"/"+e], i)
			}
		}
	}
	return got
}

// TestSplitCoversEveryCellOnce: for any shard count, the shards' parts
// together are the whole matrix with no cell run twice.
func TestSplitCoversEveryCellOnce(t *testing.T) {
	for n := 1; n <= 40; n++ {
		got := owners(t, n, kernels, experiments)
		if len(got) != len(kernels)*len(experiments) {
			t.Errorf("N=%d: shards cover %d cells; want %d", n, len(got), len(kernels)*len(experiments))
		}
		for _, k := range kernels {
			for _, e := range experiments {
				if s := got[k+"/"+e]; len(s) != 1 {
					t.Errorf("N=%d: cell %s/%s is in shards %v; want exactly one", n, k, e, s)
				}
			}
		}
	}
}

// TestSplitKeepsKernelsTogether: with no more shards than kernels every
// kernel is prepared on one shard only, and with as many shards as kernels
// (lab's CI: 4 and 4) each shard gets one kernel.
func TestSplitKeepsKernelsTogether(t *testing.T) {
	for n := 1; n <= len(kernels); n++ {
		perKernel := map[string]map[int]bool{}
		for cell, s := range owners(t, n, kernels, experiments) {
			k, _, _ := strings.Cut(cell, "/")
			if perKernel[k] == nil {
				perKernel[k] = map[int]bool{}
			}
			perKernel[k][s[0]] = true
		}
		for k, s := range perKernel {
			if len(s) != 1 {
				t.Errorf("N=%d: kernel %s is spread over shards %v; want one", n, k, s)
			}
		}
	}
	for i := 1; i <= 4; i++ {
		if ks, es := (Shard{i, 4}).Split(kernels, experiments); len(ks) != 1 || len(es) != len(experiments) {
			t.Errorf("shard %d/4 = %v × %d experiments; want one kernel with all %d", i, ks, len(es), len(experiments))
		}
	}
}

// TestSplitStableWhenExperimentAdded: a new experiment, sorting first or
// last, moves no existing cell to another shard, whether shards hold whole
// kernels or split them.
func TestSplitStableWhenExperimentAdded(t *testing.T) {
	more := append(slices.Clone(experiments), "aaa-new", "zzz-new")
	for _, ks := range [][]string{kernels, kernels[:1], kernels[:2]} {
		for n := 1; n <= 12; n++ {
			before, after := owners(t, n, ks, experiments), owners(t, n, ks, more)
			for cell, s := range before {
				if fmt.Sprint(after[cell]) != fmt.Sprint(s) {
					t.Errorf("%d kernels, N=%d: adding experiments moved %s from shard %v to %v", len(ks), n, cell, s, after[cell])
				}
			}
		}
	}
}

// TestSplitIgnoresOrder: every machine lists the same names, perhaps in
// another order; the split must not care.
func TestSplitIgnoresOrder(t *testing.T) {
	rk, re := slices.Clone(kernels), slices.Clone(experiments)
	slices.Reverse(rk)
	slices.Reverse(re)
	for n := 1; n <= 12; n++ {
		if a, b := owners(t, n, kernels, experiments), owners(t, n, rk, re); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("N=%d: split depends on the order of the names:\n%v\n%v", n, a, b)
		}
	}
}

func TestParse(t *testing.T) {
	if s, err := Parse("2/4"); err != nil || s != (Shard{2, 4}) || s.String() != "2/4" {
		t.Errorf("Parse(2/4) = %v, %v", s, err)
	}
	// The bounds themselves are shards: the only one, the first, the last.
	for _, edge := range []string{"1/1", "1/4", "4/4"} {
		if s, err := Parse(edge); err != nil || s.String() != edge {
			t.Errorf("Parse(%s) = %v, %v", edge, s, err)
		}
	}
	for _, bad := range []string{"0/2", "3/2", "x/y", "1/0", "-1/2", "1", "", "1/2/3", "/2"} {
		if s, err := Parse(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("Parse(%q) = %v, %v; want an error naming it", bad, s, err)
		}
	}
}

// TestSplitSpreadsWhenShardsOutnumberKernels: with more shards than
// kernels, a kernel's experiments are spread over its shards, not all
// sent to its first (8 shards over 4 kernels: each kernel's two shards
// both get some of the 21 experiments; 16 shards: no shard of a kernel
// holds all of them).
func TestSplitSpreadsWhenShardsOutnumberKernels(t *testing.T) {
	exps := []string{"chardev-getput", "chardev-safe", "chardev-unsafe", "debugfs-safe", "debugfs-unsafe", "kthread-safe", "kthread-unsafe",
		"notifier-safe", "notifier-unsafe", "proc-forced", "proc-leak", "proc-permanent", "proc-safe", "proc-slow", "proc-slow-hung",
		"sysfs-safe", "sysfs-unsafe", "timer-safe", "timer-unsafe", "workqueue-safe", "workqueue-unsafe"}
	for _, n := range []int{8, 16} {
		for i := 1; i <= n; i++ {
			ks, es := (Shard{i, n}).Split(kernels, exps)
			if len(ks) != 1 || len(es) == 0 || len(es) == len(exps) {
				t.Errorf("shard %d/%d = %v × %d experiments; want one kernel and a part of its %d experiments", i, n, ks, len(es), len(exps))
			}
		}
	}
}
