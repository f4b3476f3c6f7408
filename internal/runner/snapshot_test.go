package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/safefile"
)

// TestSealedSnapshot: a snapshot is trusted only with a seal that matches
// its content; a damaged or unsealed file is not restored.
func TestSealedSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.snap")
	if sealedSnapshot(path) {
		t.Fatal("a missing snapshot counts as sealed")
	}
	if err := os.WriteFile(path, []byte("guest state"), 0o600); err != nil {
		t.Fatal(err)
	}
	if sealedSnapshot(path) {
		t.Fatal("a snapshot without a seal counts as sealed")
	}
	sum, _ := safefile.SHA256(path)
	if err := os.WriteFile(path+".sha256", []byte(sum+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !sealedSnapshot(path) {
		t.Fatal("a sealed snapshot is not trusted")
	}
	// Damage it (another size and time, as any rewrite has).
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(path, []byte("guest state, damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, later, later)
	if sealedSnapshot(path) {
		t.Fatal("a damaged snapshot counts as sealed")
	}
}
