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
	if got := strings.Join(Names(), ","); got != "amd64,arm64" {
		t.Errorf("Names() = %s", got)
	}
}
