package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// prober is the KVM probe of this invocation, booting kernel.
func (o Options) prober(kernel string) accel.Prober {
	return accel.Prober{QEMU: o.QEMU, Kernel: kernel, CacheDir: o.CacheDir}
}

// chooseAccel resolves o.Accel for guests of p's kernel: once, with the
// probe booting that kernel, and says on the progress writer why KVM is not
// used where /dev/kvm is there. Matrix calls it before any cell boots and
// hands the choice to every cell. A guest of another architecture than the
// host's runs on TCG and needs no probe.
func (o Options) chooseAccel(ctx context.Context, p *Prepared) (accel.Choice, error) {
	if o.Choice != nil {
		return forGuest(*o.Choice, p.Arch())
	}
	if !p.Arch().Native() {
		switch o.Accel {
		case "", accel.Auto:
			return accel.Choice{Accel: vm.AccelTCG, Auto: true}, nil
		case accel.TCG:
			return accel.Choice{Accel: vm.AccelTCG}, nil
		case accel.KVM:
			return forGuest(accel.Choice{Accel: vm.AccelKVM}, p.Arch())
		}
		return accel.Choice{}, accel.Validate(o.Accel, accel.KVMPresent)
	}
	c, err := o.prober(p.BootKernel).Choose(ctx, o.Accel)
	if err != nil {
		return c, err
	}
	if line := c.Line(); line != "" {
		fmt.Fprintln(o.progressWriter(), "lab:", line)
	}
	if c.Probe != nil && o.Log != nil {
		o.Log.Debug("kvm probe", "usable", c.Probe.Usable, "reason", c.Probe.Reason, "ms", c.Probe.MS, "memo", c.Probe.Memo)
	}
	return c, nil
}

// forGuest is c for a guest of a: KVM runs guests of the host's own
// architecture only (an arm64 kernel on an amd64 host is emulated), so
// another's runs on TCG, or under --accel kvm not at all.
func forGuest(c accel.Choice, a arch.Arch) (accel.Choice, error) {
	if a.Native() || c.Accel != vm.AccelKVM {
		return c, nil
	}
	if !c.Auto {
		return c, fmt.Errorf("accel kvm: KVM runs guests of the host's architecture (amd64), not %s ones; use auto or tcg", a.Name)
	}
	return accel.Choice{Accel: vm.AccelTCG, Auto: true}, nil
}

// bootChosen boots on the invocation's accelerator. Under auto, a cell
// whose KVM boot still dies before the kernel's first line (QEMU exits, or
// the kernel prints nothing within the bound) is retried once on TCG: the
// probe passed, but the same hosts that break the probe could break a
// cell (seen: a /dev/kvm whose guests never got past the decompressor).
func (s *session) bootChosen(ctx context.Context) error {
	c, err := s.o.chooseAccel(ctx, s.p)
	if err != nil {
		return fail(results.KindBoot, err)
	}
	if note := c.Note(); note != "" {
		s.r.Notes = append(s.r.Notes, note)
	}
	err = s.bootOrRestore(ctx, c.Accel)
	var re *runError
	if err == nil || c.Accel != vm.AccelKVM || !c.Auto || s.kernelPrinted || !errors.As(err, &re) {
		return err
	}
	var note string
	switch re.kind {
	case results.KindNoKernelOutput:
		note = fmt.Sprintf("KVM booted nothing (%v); retried with TCG", err)
	case results.KindQEMUExited:
		note = fmt.Sprintf("QEMU died under KVM before the kernel printed (%v); retried with TCG", err)
	default:
		return err
	}
	s.r.Notes = append(s.r.Notes, note)
	fmt.Fprintln(s.progress(), "lab:", note)
	return s.boot(ctx, vm.AccelTCG)
}
