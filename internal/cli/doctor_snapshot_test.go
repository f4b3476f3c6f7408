package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/runner"
)

// TestCheckSnapshots: an empty cache says none yet; a snapshot whose seal
// does not match is a warning that names it.
func TestCheckSnapshots(t *testing.T) {
	cache := t.TempDir()
	e := &doctorEnv{cache: cache}
	if c := checkSnapshots(context.Background(), e); c.Status != CheckPass || !strings.Contains(c.Detail, "none yet") {
		t.Errorf("empty cache: %+v", c)
	}
	dir := runner.SnapshotDir(cache)
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "abc.snap"), []byte("state"), 0o600)
	os.WriteFile(filepath.Join(dir, "abc.snap.sha256"), []byte("0000\n"), 0o600)
	if c := checkSnapshots(context.Background(), e); c.Status != CheckWarn || !strings.Contains(c.Detail, "abc.snap") {
		t.Errorf("damaged snapshot: %+v; want a warning naming abc.snap", c)
	}
}
