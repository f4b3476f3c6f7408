package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// newAttempt stops the VM of an earlier attempt (a KVM boot retried on
// TCG, a restore that fell back to a cold boot) and starts the record of
// this one on accelerator acc.
func (s *session) newAttempt(acc string) {
	if s.machine != nil {
		s.machine.Stop()
		s.machine = nil
	}
	s.r.Accel = acc
	s.kernelPrinted = false
}

// kernelCmdline is the guest kernel's command line: lab's own part, then
// the experiment's.
//
//   - console=ttyS0 (ttyAMA0 on arm64): the console log is the host's
//     ground truth.
//   - panic=-1: a panic reboots at once, and -no-reboot turns that into
//     QEMU's exit (with pvpanic's event first), instead of a guest that
//     sits in the panic loop until a timeout.
//   - acpi=noirq (amd64's arch.Arch.CmdlineExtra): PCI interrupts are routed from the BIOS's $PIR table,
//     not by running ACPI's link methods (_SB_.LNKB …). Under TCG that
//     AML made virtio_pci's probe take 0.12-0.13 s of a cold boot's
//     0.55 s from /init to ready (debian-6.1); with the table it takes
//     0.01 s. ACPI stays on for everything else (pvpanic, power off).
//     arm64's virt machine boots from a device tree: no ACPI to tame.
func kernelCmdline(a arch.Arch, extra string) string {
	line := "console=" + a.Console + " panic=-1"
	if a.CmdlineExtra != "" {
		line += " " + a.CmdlineExtra
	}
	return strings.TrimSpace(line + " " + extra)
}

// boot starts QEMU and waits for the agent's ready marker on the console.
func (s *session) boot(ctx context.Context, acc string) error {
	s.newAttempt(acc)
	keys, err := agentclient.NewKeys()
	if err != nil {
		return fail(results.KindBoot, err)
	}
	tmp, err := os.MkdirTemp("", "lab-initrd-")
	if err != nil {
		return fail(results.KindBoot, err)
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initrd.cpio")
	if _, err := initramfs.WithKeys(s.p.Initramfs, initrd, keys.HostPEM, keys.AuthorizedKey); err != nil {
		return fail(results.KindBoot, err)
	}
	cmdline := s.gdbCmdline(kernelCmdline(s.p.Arch(), s.exp.Cmdline))
	s.r.Provenance = s.provenance(cmdline)
	if lp := s.r.Provenance.Lock; lp != nil && lp.Note != "" && !slices.Contains(s.r.Notes, lp.Note) {
		s.r.Notes = append(s.r.Notes, lp.Note)
	}
	s.t = s.o.timeouts(acc)
	kernelOut, agentReady := s.t.KernelOutput, s.t.AgentReady
	start := time.Now()
	m, err := s.o.machines().start(ctx, vm.Config{
		Arch: s.p.Arch(), QEMU: s.o.qemuFor(s.p.Arch()), Kernel: s.p.BootKernel, Initrd: initrd, Append: cmdline,
		Accel: acc, Console: s.consolePath(), Stderr: filepath.Join(s.dir, "qemu.stderr"),
		GuestPort: protocol.Port, Log: s.o.Log,
		GDB: s.o.GDB, Paused: s.o.GDB && s.o.GDBStep == 0,
	})
	if err != nil {
		return fail(results.KindQEMUExited, err)
	}
	s.machine = m
	if err := s.gdbAtStart(ctx); err != nil {
		return fail(results.KindInterrupted, err)
	}
	w := &consoleWatch{path: s.consolePath()}
	if err := w.waitFor(ctx, m, kernelOut, func(line string) (bool, error) {
		return strings.Contains(line, "Linux version"), nil
	}); err != nil {
		if errors.Is(err, errTimeout) {
			return fail(results.KindNoKernelOutput, fmt.Errorf("%s: the kernel printed nothing within %s (accel %s)%s", s.p.Image.Spec.Name, kernelOut, acc, w.tail()))
		}
		return err
	}
	s.kernelPrinted = true
	s.r.TimingsMS["kernel_output"] = time.Since(start).Milliseconds()
	if err := w.waitFor(ctx, m, agentReady, func(line string) (bool, error) {
		if protocol.IsReady(line) {
			return true, nil
		}
		if msg, ok := protocol.ParseFatal(line); ok {
			return false, fail(results.KindAgentFailed, fmt.Errorf("guest agent failed: %s", msg))
		}
		return false, nil
	}); err != nil {
		if errors.Is(err, errTimeout) {
			return fail(results.KindGuestHang, fmt.Errorf("the agent was not ready within %s%s", agentReady, w.tail()))
		}
		return err
	}
	s.r.TimingsMS["agent_ready"] = time.Since(start).Milliseconds()
	if err := s.dial(ctx, m, keys, w); err != nil {
		return err
	}
	s.r.TimingsMS["boot"] = time.Since(start).Milliseconds()
	fmt.Fprintf(s.progress(), "lab: %s booted on %s in %.1f s\n", s.p.Image.Spec.Name, acc, time.Since(start).Seconds())
	return nil
}

// dial connects to the ready agent of m with the run's keys.
func (s *session) dial(ctx context.Context, m machine, keys *agentclient.Keys, w *consoleWatch) error {
	// Dialing retries until its deadline; a QEMU that dies meanwhile ends
	// it at once, and is what the error names.
	dctx, cancel := context.WithTimeout(ctx, s.t.Dial)
	defer cancel()
	go func() {
		select {
		case <-m.Exited():
			cancel()
		case <-dctx.Done():
		}
	}()
	c, err := s.o.machines().dial(dctx, m.agentAddr(), keys)
	if err != nil {
		if isClosed(m.Exited()) {
			return fail(results.KindQEMUExited, fmt.Errorf("while connecting to the agent: %v%s", m.ExitError(), w.tail()))
		}
		return fail(results.KindAgentLost, err)
	}
	s.client = c
	return nil
}
