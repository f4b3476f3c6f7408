package logx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestOrNilDiscards: a caller that passes no logger gets one it can log
// to, at every level, without a panic and without a word written anywhere.
func TestOrNilDiscards(t *testing.T) {
	l := Or(nil)
	if l == nil {
		t.Fatal("Or(nil) = nil; want a logger that discards")
	}
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if l.Enabled(context.Background(), lv) {
			t.Errorf("Or(nil) is enabled at %v; want everything discarded", lv)
		}
	}
	l.Error("not shown", "k", "v")
	l.With("a", 1).Info("not shown either")
}

// TestOrKeepsTheCallersLogger: a caller's own logger is used as given, so
// what the library logs lands where the caller sends it.
func TestOrKeepsTheCallersLogger(t *testing.T) {
	var buf bytes.Buffer
	mine := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got := Or(mine)
	if got != mine {
		t.Fatalf("Or(l) = %p; want l itself (%p)", got, mine)
	}
	got.Debug("cached vmlinux", "path", "/x.elf")
	if !strings.Contains(buf.String(), "cached vmlinux") || !strings.Contains(buf.String(), "path=/x.elf") {
		t.Errorf("the caller's handler got %q; want the debug line", buf.String())
	}
}
