// Command lab-agent is lab's guest agent, packed into the initramfs as
// /lab/bin/lab-agent; the guest's /init (internal/agent/init/init.c) sets up
// the root and starts it.
//
// Synopsis:
//
//	lab-agent                 serve steps over SSH on port 22
//	lab-agent exec NAME       (internal) run one of u-root's commands for an exec step
//
// Description:
//
//	At boot it loads the NIC modules listed in /lab/boot/order, configures
//	QEMU's user network, writes "lab-agent: ready" to the kernel log and
//	accepts only the SSH key the host generated for this run.
package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/kernel-lab/lab/internal/agent"
	"github.com/kernel-lab/lab/internal/protocol"
)

// Keep main on the thread group leader: the exec child runs its command
// there, so /proc/PID/status and the kernel's hung-task reports show that
// thread.
func init() { runtime.LockOSThread() }

// The agent is started by the guest's /init (internal/agent/init/init.c),
// as its child.
func main() {
	if agent.RunChild(os.Args) {
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := agent.Boot(); err != nil {
		fail(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", protocol.Port))
	if err != nil {
		fail(err)
	}
	a := agent.New(log)
	if !agent.HaveKeys() {
		// A snapshot boot: the keys come after restore, never from the image.
		if err := a.Warm(); err != nil {
			// Only a restore's speed depends on it: say so and go on.
			agent.Note("warm-up skipped: %v", err)
		}
		if err := a.StartSpares(agent.SpareWorkers); err != nil {
			agent.Note("spare workers: %v", err)
		}
		hostPEM, auth, err := agent.AwaitKeys()
		if err != nil {
			fail(err)
		}
		agent.Ready()
		fail(a.ServeKeys(l, hostPEM, auth))
	}
	agent.Ready()
	fail(a.Serve(l))
}

// fail reports on the console and keeps the process alive, so that the
// host reads this message, not PID 1's later "the agent exited".
func fail(err error) {
	agent.Fatal(err)
	for {
		time.Sleep(time.Hour)
	}
}
