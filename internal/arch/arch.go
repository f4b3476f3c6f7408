// Package arch holds what differs between the architectures lab runs
// kernels of, in one table: Debian's and Go's names, the cross toolchain
// that builds modules and the guest's C programs, and the QEMU machine
// that boots the kernel. Everything else in lab is the same for all.
package arch

import (
	"fmt"
	"strings"
)

// Arch is one architecture lab runs kernels of.
type Arch struct {
	// Name is Debian's name (amd64, arm64): images name it, packages
	// carry it.
	Name string
	// GOARCH builds the guest agent and u-root.
	GOARCH string
	// KernelARCH is kbuild's ARCH= (x86, arm64).
	KernelARCH string
	// CrossPrefix prefixes the host's tools that build for the guest
	// (gcc-12 → aarch64-linux-gnu-gcc-12, objcopy …); empty on amd64, the
	// host's own architecture.
	CrossPrefix string
	// CrossPackages are the bookworm packages that provide those tools
	// (with the C library the guest's static programs link).
	CrossPackages []string
	// QEMU is the emulator binary and QEMUPackage the Debian package that
	// has it.
	QEMU, QEMUPackage string
	// Console is the guest's serial console device (console=).
	Console string
	// KeyChannelDevice is the guest end of the snapshot key channel (see
	// protocol.KeyChannelDevice).
	KeyChannelDevice string
	// GDBArch is gdb's name of the architecture (set architecture).
	GDBArch string
	// Machine is QEMU's -machine, TCGCPU its -cpu under TCG (KVM's is
	// "host" on every architecture).
	Machine, TCGCPU string
	// CmdlineExtra is what the kernel command line adds for this
	// machine, after the console and panic=-1 (see runner.kernelCmdline).
	CmdlineExtra string
	// PVPanic: the kernel has a pvpanic driver, and the machine gets the
	// device (a panic is then also a QMP event).
	PVPanic bool
	// PCIKeyChannel: the machine's only UART is the console, so the key
	// channel is a 16550 on PCI (pci-serial) rather than a second -serial.
	PCIKeyChannel bool
	// PVH: the kernel is a bzImage whose vmlinux QEMU can start at its PVH
	// entry (package pvh); otherwise QEMU boots the kernel file as it is.
	PVH bool
}

// The architectures, amd64 first (the default).
var (
	AMD64 = Arch{
		Name: "amd64", GOARCH: "amd64", KernelARCH: "x86",
		QEMU: "qemu-system-x86_64", QEMUPackage: "qemu-system-x86",
		// The second 16550 of the pc machine; the first is the console.
		Console: "ttyS0", KeyChannelDevice: "/dev/ttyS1", GDBArch: "i386:x86-64",
		// TCG's "max" gives the guest RDRAND, so its RNG is ready at once
		// and the SSH handshake does not wait on getrandom.
		Machine: "pc", TCGCPU: "max",
		// runner.kernelCmdline says why.
		CmdlineExtra: "acpi=noirq",
		PVPanic:      true, PVH: true,
	}
	ARM64 = Arch{
		Name: "arm64", GOARCH: "arm64", KernelARCH: "arm64",
		CrossPrefix:   "aarch64-linux-gnu-",
		CrossPackages: []string{"gcc-12-aarch64-linux-gnu", "libc6-dev-arm64-cross"},
		QEMU:          "qemu-system-aarch64", QEMUPackage: "qemu-system-arm",
		// virt's console is a PL011 (ttyAMA0); the key channel is a PCI
		// 16550 (pci-serial), the guest's first ttyS.
		Console: "ttyAMA0", KeyChannelDevice: "/dev/ttyS0", GDBArch: "aarch64",
		// virt named by the version of QEMU bookworm has (7.2), not the
		// "virt" alias of the newest, so that a snapshot restores into a
		// QEMU of another version that still has that machine. Its
		// "max" CPU emulates pointer authentication with the architected
		// QARMA algorithm, every signed return a cipher: the kernel
		// reached init 4-6 times slower (7.5-12 s against 1.9-2.5 s)
		// than with QEMU's own cheap algorithm (pauth-impdef), which the
		// guest cannot tell apart. A device tree boot: no ACPI to tame.
		Machine: "virt-7.2", TCGCPU: "max,pauth-impdef=on",
		// Debian's arm64 kernels have no pvpanic driver (CONFIG_PVPANIC
		// is off): their panic is the console's line and, with panic=-1
		// and -no-reboot, QEMU's exit.
		PVPanic: false, PCIKeyChannel: true,
	}
	All = []Arch{AMD64, ARM64}
)

// Names are the names of All, for messages.
func Names() []string {
	var n []string
	for _, a := range All {
		n = append(n, a.Name)
	}
	return n
}

// Get is the architecture called name (Debian's name); "" is amd64.
func Get(name string) (Arch, error) {
	if name == "" {
		return AMD64, nil
	}
	for _, a := range All {
		if a.Name == name {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("lab runs %s kernels, not %q", strings.Join(Names(), " and "), name)
}

// MustGet is Get for names validated before (an image spec's).
func MustGet(name string) Arch {
	a, err := Get(name)
	if err != nil {
		panic(err)
	}
	return a
}

// ByGOARCH is the architecture Go calls goarch (the guest agent asks with
// runtime.GOARCH); false when lab runs no such kernels.
func ByGOARCH(goarch string) (Arch, bool) {
	for _, a := range All {
		if a.GOARCH == goarch {
			return a, true
		}
	}
	return Arch{}, false
}

// OrDefault is a, or amd64 for the zero Arch (options that name none).
func (a Arch) OrDefault() Arch {
	if a.Name == "" {
		return AMD64
	}
	return a
}

// Triplet is the GNU triplet of a's cross tools and C library
// (aarch64-linux-gnu), "" on the host's own architecture.
func (a Arch) Triplet() string { return strings.TrimSuffix(a.CrossPrefix, "-") }

// CrossPackage is the bookworm package that has a's cross tool of pkg's
// version: gcc-12 → gcc-12-aarch64-linux-gnu, binutils →
// binutils-aarch64-linux-gnu.
func (a Arch) CrossPackage(pkg string) string { return pkg + "-" + a.Triplet() }

// Tool is the host's program that does tool's job for a: tool itself on
// amd64, the cross tool (aarch64-linux-gnu-gcc-12) otherwise.
func (a Arch) Tool(tool string) string { return a.CrossPrefix + tool }

// Native says whether a is the host's architecture (lab's hosts are amd64).
func (a Arch) Native() bool { return a.CrossPrefix == "" }
