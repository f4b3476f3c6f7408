package agent

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/protocol"
)

// playDying makes deadTask answer dead for the test's polls as says.
func playDying(t *testing.T, says func(poll int) bool) {
	t.Helper()
	old := deadTask
	polls := 0
	deadTask = func(int) bool { polls++; return says(polls) }
	t.Cleanup(func() { deadTask = old })
}

// answerAfter is a step whose worker answers ok after d (never, for d < 0).
func answerAfter(d time.Duration) *pendingStep {
	p := &pendingStep{action: "unload", since: time.Now(), done: make(chan struct{})}
	if d >= 0 {
		time.AfterFunc(d, func() { p.reply = protocol.Reply{OK: true, MS: 7}; close(p.done) })
	}
	return p
}

// A one-shot worker shows X for the moment it is reaped, right after its
// answer: one look at X must not throw that answer away (seen as "the
// process died and can never answer" for an rmmod that exited 0).
func TestWaitDeadOnlyWhenItStays(t *testing.T) {
	const noSuchPID = 1 << 30
	children := newReaper(make(chan os.Signal))
	w := &worker{name: "chardev_safe", comm: "rmmod", pid: noSuchPID}

	playDying(t, func(poll int) bool { return poll == 1 })
	if r := w.wait(answerAfter(3*deadPoll), 5*time.Second, children); !r.OK || r.NoAnswer {
		t.Errorf("X seen once, then the answer: %+v; want the answer", r)
	}

	playDying(t, func(int) bool { return true })
	start := time.Now()
	r := w.wait(answerAfter(-1), 5*time.Second, children)
	if !r.NoAnswer || !strings.Contains(r.Error, "died and can never answer") || time.Since(start) > time.Second {
		t.Errorf("X on every poll: %+v after %s; want no answer at once", r, time.Since(start))
	}

	// A child the agent reaped is gone, not stuck: its answer comes.
	children.mu.Lock()
	children.exited[noSuchPID] = "exit 0"
	children.mu.Unlock()
	if r := w.wait(answerAfter(4*deadPoll), 5*time.Second, children); !r.OK {
		t.Errorf("reaped child: %+v; want the answer", r)
	}
}
