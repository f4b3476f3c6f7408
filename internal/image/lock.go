package image

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock on path, waiting while another lab
// process holds it; flock rather than a lock directory so that a crashed
// process never leaves a stale lock behind.
func lockFile(ctx context.Context, path string, log *slog.Logger) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		if !logged {
			log.Info("waiting for another lab process", "lock", path)
			logged = true
		}
		// Polling, because a blocking flock cannot be cancelled with ctx.
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
