package accel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/kernel-lab/lab/internal/textutil"
)

// Result is one probe's answer.
type Result struct {
	Key    Key  `json:"key"`
	Usable bool `json:"usable"`
	// Reason says why KVM is unusable: "QEMU died: …" or "the kernel
	// printed nothing within …".
	Reason string `json:"reason,omitempty"`
	// When the probe ran, and how long it took.
	When time.Time `json:"when"`
	MS   int64     `json:"ms"`
	// Memo: this answer came from the cache, not from a probe of this
	// invocation.
	Memo bool `json:"-"`
}

// Age is how long ago the probe ran.
func (r *Result) Age() time.Duration { return time.Since(r.When) }

// Probe boots p.Kernel under KVM with the CPU model lab uses there and
// waits up to the bound for the kernel's first line on the serial console.
// No initramfs: the kernel's own "Linux version" line is all it needs, and
// QEMU is killed as soon as it appears (or dies, or the bound passes), so
// no QEMU outlives the probe. It returns an error only when the probe could
// not be run at all (no kernel, no QEMU binary); a KVM that fails is a
// Result with Usable false.
func (p Prober) Probe(ctx context.Context) (*Result, error) {
	bin := p.QEMU
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("kvm probe: %s not found: install qemu-system-x86", bin)
	}
	if p.Kernel == "" {
		return nil, errors.New("kvm probe: no kernel to boot")
	}
	bound := p.Bound
	if bound == 0 {
		bound = DefaultBound
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	cmd := exec.CommandContext(pctx, bin,
		"-nodefaults", "-no-user-config",
		"-machine", "pc", "-accel", KVM, "-cpu", CPUModel(KVM),
		"-m", "256", "-smp", "1",
		"-kernel", p.Kernel,
		// earlyprintk: the boot console replays the log from its start, so
		// "Linux version" reaches the serial port within milliseconds of
		// the kernel proper running.
		"-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1",
		"-display", "none", "-no-reboot",
		"-serial", "stdio",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("kvm probe: %w", err)
	}
	// Its own process group, so that a wrapper script's children die with
	// it; and the kernel kills it if lab dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kvm probe: start %s: %w", bin, err)
	}
	printed := make(chan string, 1)
	go func() {
		// Any line counts only once the kernel proper runs: on the silent
		// shape the decompressor may still print ("Decompressing Linux…").
		sc := bufio.NewScanner(stdout)
		var last string
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.Contains(line, "Linux version") {
				printed <- line
				return
			}
			if line != "" {
				last = line
			}
		}
		printed <- "\x00" + last
	}()
	r := &Result{When: start}
	select {
	case line := <-printed:
		if !strings.HasPrefix(line, "\x00") {
			r.Usable = true
			break
		}
		// The console closed: QEMU is gone (or closed stdout) without a
		// kernel line.
		cmd.Cancel()
		werr := cmd.Wait()
		r.Reason = "QEMU died: " + deathReason(stderr.String(), werr)
		r.MS = time.Since(start).Milliseconds()
		return r, nil
	case <-pctx.Done():
		if ctx.Err() != nil {
			cmd.Wait()
			return nil, fmt.Errorf("kvm probe: %w", ctx.Err())
		}
		cmd.Cancel()
		cmd.Wait()
		r.Reason = fmt.Sprintf("the kernel printed nothing within %s under KVM", bound)
		if s := strings.TrimSpace(stderr.String()); s != "" {
			r.Reason += "; QEMU said: " + textutil.FirstLine(s)
		}
		r.MS = time.Since(start).Milliseconds()
		return r, nil
	}
	cmd.Cancel()
	cmd.Wait()
	r.MS = time.Since(start).Milliseconds()
	return r, nil
}

// deathReason is the line of QEMU's stderr that says why it died: its
// "error:" line where there is one (the MSR shape prints the error, then
// an assertion), else its first line, else how it ended.
func deathReason(stderr string, werr error) string {
	var first string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		msg := line
		if i := strings.Index(msg, ": "); i > 0 && strings.HasPrefix(msg, "qemu-system") {
			msg = msg[i+2:]
		}
		if rest, ok := strings.CutPrefix(msg, "error: "); ok {
			return rest
		}
		if first == "" {
			first = msg
		}
	}
	if first != "" {
		return first
	}
	if werr != nil {
		return werr.Error()
	}
	return "it exited without a word"
}
