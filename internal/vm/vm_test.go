package vm

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/arch"
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
		"virtio-net-pci,netdev=net0,romfile=,guest_announce=off",
		// A Config without an architecture is amd64's PC, with pvpanic.
		"-machine pc", "-device pvpanic",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("Args() = %s; want it to contain %q", args, want)
		}
	}
}

// TestArgsARM64: virt under TCG with QEMU's cheap pointer authentication,
// no pvpanic (Debian's arm64 kernel has no driver), the key channel a PCI
// 16550 instead of a second -serial.
func TestArgsARM64(t *testing.T) {
	v := &VM{cfg: Config{Arch: arch.ARM64, Kernel: "/k", Initrd: "/i", Accel: AccelTCG, Console: "/c.log", KeyChannel: true}, sockDir: "/p"}
	args := strings.Join(v.Args("/s/qmp.sock"), " ")
	for _, want := range []string{"-machine virt-7.2 -accel tcg -cpu max,pauth-impdef=on", "-chardev socket,id=keys,path=/p/keys.sock,server=on,wait=off -device pci-serial,chardev=keys"} {
		if !strings.Contains(args, want) {
			t.Errorf("Args() = %s; want it to contain %q", args, want)
		}
	}
	for _, not := range []string{"pvpanic", "-serial chardev:keys"} {
		if strings.Contains(args, not) {
			t.Errorf("Args() = %s; want no %q", args, not)
		}
	}
	if got := CPUModel(AccelKVM, arch.ARM64); got != "host" {
		t.Errorf("CPUModel(kvm, arm64) = %s", got)
	}
}

// TestCPUModel: -cpu host under KVM (what the KVM probe tries, so that
// its answer holds for the cells), -cpu max under TCG.
func TestCPUModel(t *testing.T) {
	for accel, want := range map[string]string{AccelKVM: "-accel kvm -cpu host", AccelTCG: "-accel tcg -cpu max"} {
		v := &VM{cfg: Config{Kernel: "/k", Initrd: "/i", Accel: accel, Console: "/c.log"}}
		if args := strings.Join(v.Args("/s"), " "); !strings.Contains(args, want) {
			t.Errorf("Args() under %s = %s; want %q", accel, args, want)
		}
	}
}

// TestArgsGDB: the gdbstub listens on loopback only, and -S only when asked.
func TestArgsGDB(t *testing.T) {
	v := &VM{cfg: Config{Kernel: "/k", Initrd: "/i", Accel: AccelTCG, Console: "/c.log", GDB: true, Paused: true}, GDBPort: 41234}
	args := strings.Join(v.Args("/s"), " ")
	if !strings.Contains(args, "-gdb tcp:127.0.0.1:41234") || !strings.HasSuffix(args, " -S") {
		t.Errorf("Args() = %s; want -gdb tcp:127.0.0.1:41234 and -S", args)
	}
	v.cfg.Paused = false
	if args := strings.Join(v.Args("/s"), " "); strings.Contains(args, "-S") {
		t.Errorf("Args() unpaused = %s; want no -S", args)
	}
}

// QEMU's QMP socket file appears at bind(), a moment before listen(): a
// connection in between is refused, and lab took that for a dead QEMU and
// killed it (seen in a fresh clone's tests, the host loaded with module
// builds). connectQMP must dial again until the socket listens.
func TestConnectQMPBeforeListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		time.Sleep(150 * time.Millisecond) // bound, not listening yet
		if err := syscall.Listen(fd, 1); err != nil {
			served <- err
			return
		}
		l, err := net.FileListener(os.NewFile(uintptr(fd), sock))
		if err != nil {
			served <- err
			return
		}
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		// QEMU's greeting, then the answer to qmp_capabilities.
		io.WriteString(c, `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`+"\n")
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, `{"return": {}}`+"\n")
		served <- nil
	}()
	v := &VM{exited: make(chan struct{}), panicked: make(chan struct{})}
	if err := v.connectQMP(sock, 5*time.Second); err != nil {
		t.Fatalf("connectQMP to a socket that listens 150 ms after bind: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	v.mon.Disconnect()
}
