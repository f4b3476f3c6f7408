package runner

import (
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/vm"
)

// TestTimeoutsOverride: a short kernel-output wait tells a silent KVM
// quickly, but never cuts a TCG boot (the retry of that very cell) below
// its default.
func TestTimeoutsOverride(t *testing.T) {
	o := Options{KernelOutputTimeout: 8 * time.Second}
	if got := o.timeouts(vm.AccelKVM).KernelOutput; got != 8*time.Second {
		t.Errorf("kvm KernelOutput = %v; want the 8s override", got)
	}
	if got, want := o.timeouts(vm.AccelTCG).KernelOutput, DefaultTimeouts(vm.AccelTCG).KernelOutput; got != want {
		t.Errorf("tcg KernelOutput = %v; want the TCG default %v", got, want)
	}
	o.KernelOutputTimeout = 10 * time.Minute
	if got := o.timeouts(vm.AccelTCG).KernelOutput; got != 10*time.Minute {
		t.Errorf("tcg KernelOutput = %v; want a longer override kept", got)
	}
}
