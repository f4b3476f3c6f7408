package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"lab/internal/vm"
)

var errTimeout = errors.New("timeout")

// consoleWatch follows the console log file that QEMU writes.
type consoleWatch struct {
	path    string
	offset  int64
	partial string
	lines   []string
}

// waitFor reads new console lines until match says true, match fails, QEMU
// exits, the guest panics, ctx ends or limit passes (errTimeout).
func (w *consoleWatch) waitFor(ctx context.Context, m *vm.VM, limit time.Duration, match func(string) (bool, error)) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, line := range w.read() {
			ok, err := match(line)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			if strings.Contains(line, "Kernel panic - not syncing") {
				return fail(KindKernelPanic, fmt.Errorf("the kernel panicked while booting: %s%s", strings.TrimSpace(line), w.tail()))
			}
		}
		select {
		case <-ctx.Done():
			return fail(KindInterrupted, ctx.Err())
		case <-m.Exited():
			w.read()
			return fail(KindQEMUExited, fmt.Errorf("%v%s", m.ExitError(), w.tail()))
		case <-deadline.C:
			return errTimeout
		case <-tick.C:
		}
	}
}

func (w *consoleWatch) read() []string {
	f, err := os.Open(w.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(w.offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	w.offset += int64(len(b))
	text := w.partial + string(b)
	parts := strings.Split(text, "\n")
	w.partial = parts[len(parts)-1]
	lines := parts[:len(parts)-1]
	w.lines = append(w.lines, lines...)
	if len(w.lines) > 200 {
		w.lines = w.lines[len(w.lines)-200:]
	}
	return lines
}

// tail is the last console lines, for error messages.
func (w *consoleWatch) tail() string {
	lines := w.lines
	if w.partial != "" {
		lines = append(lines, w.partial)
	}
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	if len(lines) == 0 {
		return "; the console is empty"
	}
	return "; last console lines:\n  " + strings.Join(lines, "\n  ")
}
