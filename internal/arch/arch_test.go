package arch

import (
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	for _, tc := range []struct{ name, want string }{{"", "amd64"}, {"amd64", "amd64"}, {"arm64", "arm64"}} {
		a, err := Get(tc.name)
		if err != nil || a.Name != tc.want {
			t.Errorf("Get(%q) = %q, %v; want %s", tc.name, a.Name, err, tc.want)
		}
	}
	if _, err := Get("riscv64"); err == nil || !strings.Contains(err.Error(), `lab runs amd64 and arm64 kernels, not "riscv64"`) {
		t.Errorf("Get(riscv64) error = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("MustGet(riscv64) did not panic")
		}
	}()
	MustGet("riscv64")
}

// TestTable: the facts each architecture's runs depend on.
func TestTable(t *testing.T) {
	if !AMD64.Native() || ARM64.Native() {
		t.Errorf("native: amd64 %v, arm64 %v; lab's hosts are amd64", AMD64.Native(), ARM64.Native())
	}
	if AMD64.Tool("gcc-12") != "gcc-12" || ARM64.Tool("gcc-12") != "aarch64-linux-gnu-gcc-12" || ARM64.Tool("objcopy") != "aarch64-linux-gnu-objcopy" {
		t.Errorf("tools: %q %q %q", AMD64.Tool("gcc-12"), ARM64.Tool("gcc-12"), ARM64.Tool("objcopy"))
	}
	if a, ok := ByGOARCH("arm64"); !ok || a.Name != "arm64" || a.KeyChannelDevice != "/dev/ttyS0" || a.Console != "ttyAMA0" || a.KernelARCH != "arm64" {
		t.Errorf("ByGOARCH(arm64) = %+v, %v", a, ok)
	}
	if a, ok := ByGOARCH("amd64"); !ok || a.KeyChannelDevice != "/dev/ttyS1" || a.QEMU != "qemu-system-x86_64" || a.KernelARCH != "x86" {
		t.Errorf("ByGOARCH(amd64) = %+v, %v", a, ok)
	}
	if _, ok := ByGOARCH("riscv64"); ok {
		t.Errorf("ByGOARCH(riscv64) found one")
	}
	if (Arch{}).OrDefault().Name != "amd64" || ARM64.OrDefault().Name != "arm64" {
		t.Errorf("OrDefault: %q, %q", (Arch{}).OrDefault().Name, ARM64.OrDefault().Name)
	}
	if ARM64.Triplet() != "aarch64-linux-gnu" || ARM64.CrossPackage("gcc-12") != "gcc-12-aarch64-linux-gnu" || ARM64.CrossPackage("binutils") != "binutils-aarch64-linux-gnu" {
		t.Errorf("arm64 triplet %q, packages %q %q", ARM64.Triplet(), ARM64.CrossPackage("gcc-12"), ARM64.CrossPackage("binutils"))
	}
	// The machines: amd64's PC with pvpanic, a PVH kernel and ACPI's
	// IRQ routing off; arm64's virt with neither, its key channel on PCI.
	if AMD64.Machine != "pc" || !AMD64.PVPanic || !AMD64.PVH || AMD64.PCIKeyChannel || AMD64.CmdlineExtra != "acpi=noirq" || AMD64.TCGCPU != "max" {
		t.Errorf("amd64 machine: %+v", AMD64)
	}
	if ARM64.Machine != "virt-7.2" || ARM64.PVPanic || ARM64.PVH || !ARM64.PCIKeyChannel || ARM64.CmdlineExtra != "" || ARM64.TCGCPU != "max,pauth-impdef=on" {
		t.Errorf("arm64 machine: %+v", ARM64)
	}
	if got := strings.Join(Names(), ","); got != "amd64,arm64" {
		t.Errorf("Names() = %s", got)
	}
}
