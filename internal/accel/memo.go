package accel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"

	"github.com/kernel-lab/lab/internal/safefile"
)

// Key is what a probe's answer holds for.
type Key struct {
	BootID  string `json:"boot_id"`
	QEMU    string `json:"qemu"`
	Version string `json:"qemu_version"`
	CPU     string `json:"cpu"`
	HostCPU string `json:"host_cpu"`
}

// memoFile holds the answers of this boot: a 36-cell matrix, and every
// later lab invocation until the host reboots or QEMU changes, pays the
// probe once.
const memoFile = "kvm-probe.json"

// memoKeep bounds the file: tests probe through many wrapper paths.
const memoKeep = 32

// MemoPath is where the answers are kept under cacheDir.
func MemoPath(cacheDir string) string { return filepath.Join(cacheDir, "accel", memoFile) }

func load(cacheDir string) []*Result {
	b, err := os.ReadFile(MemoPath(cacheDir))
	if err != nil {
		return nil
	}
	var rs []*Result
	if json.Unmarshal(b, &rs) != nil {
		return nil // a bad memo is no memo: probe again
	}
	return rs
}

// lookup is the remembered answer for key, nil when there is none.
func lookup(cacheDir string, key Key) *Result {
	if cacheDir == "" || key.BootID == "" {
		return nil
	}
	for _, r := range load(cacheDir) {
		if r.Key == key {
			r.Memo = true
			return r
		}
	}
	return nil
}

// Lookup is the remembered answer for this prober's key (lab doctor shows
// it with its age), nil when there is none.
func (p Prober) Lookup() *Result { return lookup(p.CacheDir, p.Key()) }

// Remember keeps r in cacheDir's memo (lab doctor's own probe does).
func Remember(cacheDir string, r *Result) { remember(cacheDir, r) }

// remember adds r to the memo, dropping answers of earlier boots. Two lab
// processes writing at once lose one answer at worst (the file is replaced
// whole), which costs one more probe later.
func remember(cacheDir string, r *Result) {
	if cacheDir == "" || r.Key.BootID == "" {
		return
	}
	keep := []*Result{r}
	for _, old := range load(cacheDir) {
		if old.Key.BootID == r.Key.BootID && old.Key != r.Key {
			keep = append(keep, old)
		}
	}
	sort.SliceStable(keep, func(i, j int) bool { return keep[i].When.After(keep[j].When) })
	if len(keep) > memoKeep {
		keep = keep[:memoKeep]
	}
	b, err := json.MarshalIndent(keep, "", "  ")
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(MemoPath(cacheDir)), 0o755) == nil {
		safefile.WriteAtomic(MemoPath(cacheDir), append(b, '\n'))
	}
}
