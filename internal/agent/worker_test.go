package agent

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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

// A spare holder becomes the holder or the unloader a step asks for: it
// takes the name (the kernel reports it as holder-A) and answers as one
// started for the step would.
func TestSpares(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc to build the holder")
	}
	bin := filepath.Join(t.TempDir(), "lab-holder")
	buildHolder(t, bin, "-static", "-Os")
	old := holderBinary
	holderBinary = bin
	t.Cleanup(func() { holderBinary = old })
	a := New(slog.New(slog.DiscardHandler))
	if err := a.StartSpares(2); err != nil {
		t.Fatal(err)
	}
	oldest := a.spare.workers[0].pid
	w, err := a.worker("holder", "A")
	if err != nil {
		t.Fatal(err)
	}
	if w.pid != oldest {
		t.Errorf("holder A is spare %d; want the oldest, %d (the kernel lists tasks by age)", w.pid, oldest)
	}
	t.Cleanup(func() { w.in.Close() }) // a holder exits at the end of its input
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("spare"), 0o644)
	for _, req := range []protocol.Request{{Action: protocol.ActionOpen, Path: file}, {Action: protocol.ActionRead, Count: 10}} {
		if r := a.run(w, req, false, 5*time.Second); !r.OK {
			t.Fatalf("%s by a spare = %+v", req.Action, r)
		}
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", w.pid))
	if err != nil || strings.TrimSpace(string(comm)) != "holder-A" || w.comm != "holder-A" {
		t.Errorf("spare as holder A: comm %q (%v), worker comm %q; want holder-A", comm, err, w.comm)
	}
	u, err := a.worker("unload", "no_such_module")
	if err != nil {
		t.Fatal(err)
	}
	// A spare unloader answers as soon as it is told its module and exits:
	// the step's own command then meets a closed pipe, and must still
	// get the answer waiting in the other.
	for deadline := time.Now().Add(5 * time.Second); !a.children.reaped(u.pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the spare unloader did not exit")
		}
	}
	// The host refuses delete_module (ENOENT, EPERM or ENOSYS): an answer,
	// from a one-shot worker named rmmod.
	if r := a.run(u, protocol.Request{Action: protocol.ActionUnload}, false, 5*time.Second); r.OK || r.Errno == "" || r.NoAnswer || u.comm != "rmmod" || !u.oneShot {
		t.Errorf("spare as unloader: %+v, comm %q; want a refusal from rmmod", r, u.comm)
	}
	if len(a.spare.workers) != 0 {
		t.Errorf("%d spares left; want 0", len(a.spare.workers))
	}
	b, err := a.worker("holder", "B")
	if err != nil || b.pid == 0 {
		t.Fatalf("no spare left: %v; want a new holder", err)
	}
	b.in.Close()
}
