package runner

import (
	"time"

	"github.com/kernel-lab/lab/internal/vm"
)

// DefaultRunTimeout bounds one experiment on one kernel, boot included,
// when Options.RunTimeout is zero.
const DefaultRunTimeout = 10 * time.Minute

// Timeouts are every wait of a run, in one place. The boot waits are
// scaled for TCG, which emulates every instruction; the others are long
// enough for either.
type Timeouts struct {
	// KernelOutput bounds the wait for the kernel's first console line
	// (a broken KVM prints nothing), AgentReady the wait for the agent's
	// ready line after it.
	KernelOutput time.Duration
	AgentReady   time.Duration
	// Dial bounds the SSH connection's retries once the agent is ready.
	Dial time.Duration
	// StepGrace is added to a step's own timeout: the agent answers within
	// that timeout even when the step's process hangs, so no reply by the
	// grace's end means the guest itself stopped.
	StepGrace time.Duration
	// Guest bounds one request of the runner's own (arming the hung-task
	// detector, the final observations, kallsyms).
	Guest time.Duration
	// Settle is how long a lost step waits for QEMU to exit or report a
	// panic before classifying (a panicking guest exits a moment after its
	// connection drops).
	Settle time.Duration
	// QMP bounds a diagnostic question to QEMU, Dump a memory dump.
	QMP  time.Duration
	Dump time.Duration
	// ConsoleFlush lets QEMU write the guest's last lines before it stops
	// when the agent cannot mark the end of the run; EndLine bounds the
	// wait for that mark when it can.
	ConsoleFlush time.Duration
	EndLine      time.Duration
}

// DefaultTimeouts are the waits of a boot on accelerator acc.
func DefaultTimeouts(acc string) Timeouts {
	t := Timeouts{
		KernelOutput: 20 * time.Second,
		AgentReady:   60 * time.Second,
		Dial:         30 * time.Second,
		StepGrace:    20 * time.Second,
		Guest:        20 * time.Second,
		Settle:       2 * time.Second,
		QMP:          5 * time.Second,
		Dump:         2 * time.Minute,
		ConsoleFlush: 300 * time.Millisecond,
		EndLine:      2 * time.Second,
	}
	if acc == vm.AccelTCG {
		t.KernelOutput = 90 * time.Second
		t.AgentReady = 180 * time.Second
	}
	return t
}

// timeouts are the defaults for acc with the options' overrides.
func (o Options) timeouts(acc string) Timeouts {
	if o.waits != nil {
		return *o.waits
	}
	t := DefaultTimeouts(acc)
	// A short KernelOutputTimeout is for telling a silent KVM quickly; a
	// TCG boot (the retry of that very cell) still gets its full wait, or a
	// slow host's TCG kernel is taken for another silent one.
	if o.KernelOutputTimeout != 0 && (acc != vm.AccelTCG || o.KernelOutputTimeout > t.KernelOutput) {
		t.KernelOutput = o.KernelOutputTimeout
	}
	if o.BootTimeout != 0 {
		t.AgentReady = o.BootTimeout
	}
	return t
}

func (o Options) runTimeout() time.Duration {
	if o.RunTimeout != 0 {
		return o.RunTimeout
	}
	return DefaultRunTimeout
}
