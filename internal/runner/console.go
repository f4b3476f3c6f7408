package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/attribute"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/textutil"
)

var errTimeout = errors.New("timeout")

// consoleWatch follows the console log file that QEMU writes.
type consoleWatch struct {
	path    string
	offset  int64
	partial string
	lines   []string
	// pending are lines read but not yet matched: a wait that ends at one
	// line leaves those after it, read in the same poll, to the next wait
	// (a kernel's first line and the agent's ready line can come in one).
	pending []string
}

// waitFor reads new console lines until match says true, match fails, QEMU
// exits, the guest panics, ctx ends or limit passes (errTimeout).
func (w *consoleWatch) waitFor(ctx context.Context, m machine, limit time.Duration, match func(string) (bool, error)) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		w.pending = append(w.pending, w.read()...)
		for len(w.pending) > 0 {
			line := w.pending[0]
			w.pending = w.pending[1:]
			ok, err := match(line)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			if p := attribute.PanicLine(line); p != "" {
				return fail(results.KindKernelPanic, fmt.Errorf("the kernel panicked while booting: %s%s", p, w.tail()))
			}
		}
		select {
		case <-ctx.Done():
			return fail(results.KindInterrupted, ctx.Err())
		case <-m.Exited():
			w.read()
			return fail(results.KindQEMUExited, fmt.Errorf("%v%s", m.ExitError(), w.tail()))
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
	return consoleTail(textutil.LastLines(strings.Join(lines, "\n"), 15))
}
