// Package accel decides, once per lab invocation, whether guests run under
// KVM or TCG. /dev/kvm opening is not enough: two broken shapes were seen on
// real hosts whose /dev/kvm opens and answers KVM_GET_API_VERSION. On one,
// QEMU 7.2 with -accel kvm and -cpu host/max dies at once ("failed to set
// MSR 0x10a to 0x69", then an assertion in kvm_buf_set_msrs); on the other
// the guest never gets past the decompressor and prints nothing. Finding
// that out per cell costs a 20 s bound each, or fails every cell, so lab
// boots the real kernel under KVM once, for a couple of seconds, and
// remembers the answer in the cache for as long as the host, the QEMU and
// the CPU model stay the same.
package accel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/vm"
)

// Wanted accelerators; Auto picks KVM when the probe says it works.
const (
	Auto = "auto"
	KVM  = vm.AccelKVM
	TCG  = vm.AccelTCG
)

// EnvAccel sets --accel when the flag is not given (CI jobs set it once).
const EnvAccel = "LAB_ACCEL"

// KVMPresent says whether /dev/kvm opens and answers; a variable so that
// tests driving lab in-process can play a host whose /dev/kvm looks fine.
var KVMPresent = vm.KVMUsable

// Validate checks a wanted accelerator before anything is fetched, and
// refuses --accel kvm at once on a host without a usable /dev/kvm.
func Validate(want string, present func() bool) error {
	switch want {
	case "", Auto, TCG:
		return nil
	case KVM:
		if present == nil {
			present = KVMPresent
		}
		if !present() {
			return fmt.Errorf("kvm: /dev/kvm is missing or not usable here (use tcg or auto)")
		}
		return nil
	}
	return fmt.Errorf("unknown accelerator %q (want auto, kvm or tcg)", want)
}

// Choice is the accelerator an invocation runs its guests on.
type Choice struct {
	Accel string `json:"accel"`
	// Auto: the user asked for auto, so a cell that still boots nothing
	// under KVM may retry on TCG; under --accel kvm it may not.
	Auto bool `json:"auto"`
	// Reason says why KVM is not used although /dev/kvm is there (empty
	// when KVM works, or when there is no /dev/kvm at all: the ordinary
	// TCG host needs no explanation).
	Reason string `json:"reason,omitempty"`
	// Probe is the probe's result behind this choice, nil when none was
	// needed (tcg asked for, or no /dev/kvm).
	Probe *Result `json:"probe,omitempty"`
}

// Prober runs and remembers the KVM probe.
type Prober struct {
	// QEMU is the emulator binary (default qemu-system-x86_64).
	QEMU string
	// Kernel is a real kernel image: the probe needs the guest to print.
	Kernel string
	// CacheDir holds the memo; empty: no memo.
	CacheDir string
	// Bound is how long the kernel has to print its first line under KVM
	// (default DefaultBound).
	Bound time.Duration
	// Present says whether /dev/kvm opens (default KVMPresent).
	Present func() bool
}

// DefaultBound: working KVM prints "Linux version" well under a second
// after QEMU starts (even with an XZ kernel to decompress); the broken
// shapes either die in milliseconds or never print, so 2.5 s keeps the
// probe under 3 s on a broken host without failing a slow working one.
const DefaultBound = 2500 * time.Millisecond

// Choose resolves want (auto, kvm or tcg) to the accelerator of this
// invocation. Under auto, an unusable KVM is TCG with a reason; under kvm
// it is an error naming the reason.
func (p Prober) Choose(ctx context.Context, want string) (Choice, error) {
	if err := Validate(want, func() bool { return true }); err != nil {
		return Choice{}, err
	}
	auto := want == "" || want == Auto
	if want == TCG {
		return Choice{Accel: TCG}, nil
	}
	present := p.Present
	if present == nil {
		present = KVMPresent
	}
	if !present() {
		if !auto {
			return Choice{}, fmt.Errorf("accel %w", Validate(KVM, present))
		}
		return Choice{Accel: TCG, Auto: true}, nil
	}
	res, err := p.Result(ctx)
	if err != nil {
		// The probe could not run (no QEMU binary, no kernel): under auto
		// the cells run on TCG and meet the same problem with their own
		// error kind and result, rather than the command ending without
		// any result.
		if auto && ctx.Err() == nil {
			return Choice{Accel: TCG, Auto: true, Reason: err.Error()}, nil
		}
		return Choice{}, err
	}
	if res.Usable {
		return Choice{Accel: KVM, Auto: auto, Probe: res}, nil
	}
	if !auto {
		return Choice{}, fmt.Errorf("accel kvm: KVM unusable (%s); use auto or tcg", res.Reason)
	}
	return Choice{Accel: TCG, Auto: true, Reason: res.Reason, Probe: res}, nil
}

// Result is the memo's answer for this host, QEMU and CPU model, or a
// fresh probe's (remembered for next time).
func (p Prober) Result(ctx context.Context) (*Result, error) {
	key := p.Key()
	if r := lookup(p.CacheDir, key); r != nil {
		return r, nil
	}
	r, err := p.Probe(ctx)
	if err != nil {
		return nil, err
	}
	r.Key = key
	remember(p.CacheDir, r)
	return r, nil
}

// CPUModel is the -cpu lab gives QEMU under accel: "host" under KVM (the
// convention, and what the probe must try), "max" under TCG (RDRAND, so the
// guest's RNG is ready at once).
func CPUModel(accel string) string { return vm.CPUModel(accel, arch.AMD64) }

// Key identifies what the probe's answer depends on: the boot (a reboot,
// a new kernel module or a moved VM can mend or break KVM), the QEMU
// binary and its version, and the CPU model asked for on the host's CPU.
func (p Prober) Key() Key {
	return Key{
		BootID:  strings.TrimSpace(readFile("/proc/sys/kernel/random/boot_id")),
		QEMU:    qemuPath(p.QEMU),
		Version: vm.Version(p.QEMU),
		CPU:     CPUModel(KVM),
		HostCPU: hostCPU(),
	}
}

// qemuPath is the binary's resolved path: a wrapper and the real QEMU
// answer --version alike, and one must not answer for the other.
func qemuPath(bin string) string {
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	if p, err := exec.LookPath(bin); err == nil {
		bin = p
	}
	if p, err := filepath.Abs(bin); err == nil {
		bin = p
	}
	return bin
}

func hostCPU() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Line is the progress line for a choice that is not what /dev/kvm
// promised, "" when there is nothing to say.
func (c Choice) Line() string {
	if c.Reason == "" {
		return ""
	}
	return fmt.Sprintf("KVM unusable (%s); running on TCG", c.Reason)
}

// Note is what each result's notes carry about the choice.
func (c Choice) Note() string {
	if c.Reason == "" {
		return ""
	}
	s := c.Line()
	if c.Probe != nil && c.Probe.Memo {
		s += fmt.Sprintf(" (probed %s ago, remembered in the cache; lab doctor --reprobe asks again)", c.Probe.Age().Round(time.Second))
	}
	return s
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
