package vm

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	v := &VM{cfg: Config{Kernel: "/k", Initrd: "/i", Append: "console=ttyS0", Accel: AccelTCG, Console: "/c.log", MemoryMB: 512, CPUs: 1, GuestPort: 22}, HostPort: 40022}
	args := strings.Join(v.Args("/s/qmp.sock"), " ")
	for _, want := range []string{
		"-accel tcg", "-cpu max", "-no-reboot", "-nodefaults",
		"-chardev file,id=console,path=/c.log", "-serial chardev:console",
		"-qmp unix:/s/qmp.sock,server=on,wait=off",
		// The forward listens on loopback only, and the guest reaches
		// nothing outside.
		"hostfwd=tcp:127.0.0.1:40022-:22", "restrict=on",
		"virtio-net-pci,netdev=net0,romfile=",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("Args() = %s; want it to contain %q", args, want)
		}
	}
}

func TestChooseAccel(t *testing.T) {
	if got, err := ChooseAccel("tcg"); got != AccelTCG || err != nil {
		t.Errorf("ChooseAccel(tcg) = %q, %v; want tcg", got, err)
	}
	if _, err := ChooseAccel("hvf"); err == nil {
		t.Errorf("ChooseAccel(hvf) = nil error; want unknown accelerator")
	}
	got, err := ChooseAccel("auto")
	if err != nil || (got == AccelKVM) != KVMUsable() {
		t.Errorf("ChooseAccel(auto) = %q, %v; KVMUsable() = %v", got, err, KVMUsable())
	}
}
