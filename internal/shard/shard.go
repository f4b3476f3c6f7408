// Package shard splits a matrix of kernels × experiments between machines:
// `lab matrix --shard I/N` runs shard I of N, and the N result directories
// merge into one run (results.Merge).
package shard

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// Shard is shard Index (1-based) of Count.
type Shard struct {
	Index, Count int
}

// Parse reads "I/N", with 1 <= I <= N.
func Parse(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, ierr := strconv.Atoi(is)
	n, nerr := strconv.Atoi(ns)
	if !ok || ierr != nil || nerr != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N, such as 1/4", s)
	}
	if n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want 1 <= I <= N, such as 1/%d", s, max(n, 1))
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Split returns the part of the matrix kernels × experiments that shard s
// runs: every experiment in es on every kernel in ks. Over shards 1..N the
// parts cover every cell exactly once.
//
// A kernel costs each shard that runs it a fetch and a module build, so a
// kernel's cells stay on one shard where they can: with no more shards than
// kernels, the kernels sorted by name are dealt out in turn (the i-th to
// shard i mod N), each with every experiment. With more shards than
// kernels, each kernel gets its own run of shards (N/K of them, rounded
// down or up) and its experiments are spread over them by a hash of the
// experiment's name. Either way the split depends on the names alone, the
// same on every machine; adding an experiment moves no existing cell.
func (s Shard) Split(kernels, experiments []string) (ks, es []string) {
	kernels = sorted(kernels)
	experiments = sorted(experiments)
	k, n, i := len(kernels), s.Count, s.Index-1
	if k == 0 || len(experiments) == 0 {
		return nil, nil
	}
	if n <= k {
		for r, kernel := range kernels {
			if r%n == i {
				ks = append(ks, kernel)
			}
		}
		if len(ks) == 0 {
			return nil, nil
		}
		return ks, experiments
	}
	// Kernel r owns shards [r*n/k, (r+1)*n/k): at least one each, since n > k.
	for r, kernel := range kernels {
		first, end := r*n/k, (r+1)*n/k
		if i < first || i >= end {
			continue
		}
		for _, e := range experiments {
			if first+int(hash(e)%uint32(end-first)) == i {
				es = append(es, e)
			}
		}
		if len(es) == 0 {
			return nil, nil
		}
		return []string{kernel}, es
	}
	return nil, nil
}

func sorted(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
