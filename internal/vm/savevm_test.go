package vm

import (
	"strings"
	"testing"
)

// TestSnapshotArgs: the key channel is the second serial port (ttyS1, after
// the console's ttyS0) on a socket in the VM's private directory, and a
// restoring QEMU waits for its stream.
func TestSnapshotArgs(t *testing.T) {
	v := &VM{cfg: Config{Kernel: "/k", Initrd: "/i", Accel: AccelTCG, Console: "/c.log", KeyChannel: true, Incoming: true}, sockDir: "/private"}
	args := strings.Join(v.Args("/private/qmp.sock"), " ")
	console := strings.Index(args, "-serial chardev:console")
	keys := strings.Index(args, "-serial chardev:keys")
	if console < 0 || keys < console {
		t.Errorf("Args() = %s; want the key channel as the second serial port", args)
	}
	for _, want := range []string{"socket,id=keys,path=/private/keys.sock,server=on,wait=off", "-incoming defer"} {
		if !strings.Contains(args, want) {
			t.Errorf("Args() = %s; want %q", args, want)
		}
	}
	v.cfg.KeyChannel, v.cfg.Incoming = false, false
	if args := strings.Join(v.Args("/private/qmp.sock"), " "); strings.Contains(args, "keys") || strings.Contains(args, "-incoming") {
		t.Errorf("a cold VM's Args() = %s; want no key channel and no -incoming", args)
	}
}

// TestMachineSignature: what moves from run to run (paths, the forwarded
// port, -incoming) does not change the signature; what the machine is
// (memory, accelerator, command line, key channel) does.
func TestMachineSignature(t *testing.T) {
	base := Config{Kernel: "/a/k", Initrd: "/a/i", Append: "console=ttyS0", Accel: AccelTCG, Console: "/r1/c.log", GuestPort: 22, KeyChannel: true}
	same := base
	same.Kernel, same.Initrd, same.Console, same.Stderr, same.Incoming = "/b/k", "/b/i", "/r2/c.log", "/r2/e", true
	if MachineSignature(base) != MachineSignature(same) {
		t.Errorf("signature changed with paths or -incoming:\n%s\n%s", MachineSignature(base), MachineSignature(same))
	}
	for name, change := range map[string]func(*Config){
		"memory":      func(c *Config) { c.MemoryMB = 256 },
		"accel":       func(c *Config) { c.Accel = AccelKVM },
		"cmdline":     func(c *Config) { c.Append += " quiet" },
		"key channel": func(c *Config) { c.KeyChannel = false },
		"cpus":        func(c *Config) { c.CPUs = 2 },
	} {
		c := base
		change(&c)
		if MachineSignature(c) == MachineSignature(base) {
			t.Errorf("signature did not change with the %s", name)
		}
	}
}

func TestShellQuote(t *testing.T) {
	if got := shellQuote("/a b/it's"); got != `'/a b/it'\''s'` {
		t.Errorf("shellQuote = %s", got)
	}
}
