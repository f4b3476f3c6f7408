package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kernel-lab/lab/internal/runner"
)

// checkSnapshots says which booted-guest snapshots the cache holds (lab run
// --snapshot restores them) and whether each still matches its seal.
func checkSnapshots(_ context.Context, e *doctorEnv) Check {
	ch := Check{Name: "snapshots", Status: CheckPass}
	snaps, err := runner.Snapshots(e.cache, true)
	if err != nil {
		ch.Status, ch.Detail = CheckWarn, fmt.Sprintf("snapshots in %s: %v", runner.SnapshotDir(e.cache), err)
		return ch
	}
	if len(snaps) == 0 {
		ch.Detail = "none yet: the first --snapshot run of each kernel makes one (a cold boot and ~2 s more)"
		return ch
	}
	var size int64
	var damaged []string
	for _, s := range snaps {
		size += s.Size
		if !s.Sealed {
			damaged = append(damaged, filepath.Base(s.Path))
		}
	}
	ch.Detail = fmt.Sprintf("%d in %s (%d MiB)", len(snaps), runner.SnapshotDir(e.cache), size>>20)
	if len(damaged) > 0 {
		ch.Status = CheckWarn
		ch.Detail += fmt.Sprintf("; not matching their seal, made again when needed: %v", damaged)
	}
	return ch
}
