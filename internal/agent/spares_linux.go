package agent

import (
	"fmt"
	"sync"
)

// Spares are holder processes started ahead of need ("lab-holder --spare"):
// a snapshot boot starts a few before it waits for its keys, so every run
// restored from it finds them running, and an open or unload step then
// costs a line on a pipe instead of a process start (60 ms under TCG, where
// a restored guest must translate the kernel's exec path anew). A cold
// boot starts none: there a spare's start would only move the cost.
type spares struct {
	mu      sync.Mutex
	workers []*worker
}

// SpareWorkers is how many spares a snapshot boot starts: the experiments
// lab ships use at most two holders and two unloads.
const SpareWorkers = 4

// StartSpares starts n spare workers.
func (a *Agent) StartSpares(n int) error {
	for range n {
		w, err := startWorker("spare", "")
		if err != nil {
			return err
		}
		a.spare.mu.Lock()
		a.spare.workers = append(a.spare.workers, w)
		a.spare.mu.Unlock()
	}
	return nil
}

// worker returns a worker for role ("holder" or "unload") and name: a
// spare told what it becomes, else a new process. Spares are taken oldest
// first, so the processes of a run exist in the order of its steps, as in
// a cold boot: the kernel walks its task list in that order, and the
// hung-task detector reports blocked tasks so (holder-A before rmmod).
func (a *Agent) worker(role, name string) (*worker, error) {
	a.spare.mu.Lock()
	var w *worker
	if len(a.spare.workers) > 0 {
		w, a.spare.workers = a.spare.workers[0], a.spare.workers[1:]
	}
	a.spare.mu.Unlock()
	if w == nil {
		return startWorker(role, name)
	}
	verb := "hold"
	if role == "unload" {
		verb = "unload"
	}
	if _, err := fmt.Fprintf(w.in, "%s %s\n", verb, name); err != nil {
		return startWorker(role, name) // the spare is gone: start one
	}
	w.become(role, name)
	return w, nil
}
