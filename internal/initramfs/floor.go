package initramfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/kernel-lab/lab/internal/arch"
)

// FloorLine is the line cmd/lab-floor prints once userspace runs.
const FloorLine = "lab-floor: userspace up"

// BuildFloor packs cmd/lab-floor as /init into a one-file initramfs at
// out: the smallest userspace, for lab bench's boot-time floor.
func BuildFloor(ctx context.Context, repoRoot, out string, a arch.Arch) error {
	bin := out + ".bin"
	defer os.Remove(bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/lab-floor")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build lab-floor in %s: %v\n%s", repoRoot, err, msg)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	rec := cpio.StaticRecord(b, cpio.Info{Name: "init", Mode: cpio.S_IFREG | 0o755, FileSize: uint64(len(b))})
	if err := writeSegment(&buf, []cpio.Record{rec}); err != nil {
		return fmt.Errorf("pack %s: %w", filepath.Base(out), err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
