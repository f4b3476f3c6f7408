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
}

// The architectures, amd64 first (the default).
var (
	AMD64 = Arch{
		Name: "amd64", GOARCH: "amd64", KernelARCH: "x86",
		QEMU: "qemu-system-x86_64", QEMUPackage: "qemu-system-x86",
		// The second 16550 of the pc machine; the first is the console.
		Console: "ttyS0", KeyChannelDevice: "/dev/ttyS1", GDBArch: "i386:x86-64",
	}
	ARM64 = Arch{
		Name: "arm64", GOARCH: "arm64", KernelARCH: "arm64",
		CrossPrefix:   "aarch64-linux-gnu-",
		CrossPackages: []string{"gcc-12-aarch64-linux-gnu", "libc6-dev-arm64-cross"},
		QEMU:          "qemu-system-aarch64", QEMUPackage: "qemu-system-arm",
		// virt's console is a PL011 (ttyAMA0); the key channel is a PCI
		// 16550 (pci-serial), the guest's first ttyS.
		Console: "ttyAMA0", KeyChannelDevice: "/dev/ttyS0", GDBArch: "aarch64",
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

// Tool is the host's program that does tool's job for a: tool itself on
// amd64, the cross tool (aarch64-linux-gnu-gcc-12) otherwise.
func (a Arch) Tool(tool string) string { return a.CrossPrefix + tool }

// Native says whether a is the host's architecture (lab's hosts are amd64).
func (a Arch) Native() bool { return a.CrossPrefix == "" }
