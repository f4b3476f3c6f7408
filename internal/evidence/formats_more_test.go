package evidence

import "testing"

// MIPS and LoongArch name the CPU before the fault banner and the PC
// after it (lkml-mips-3.10-paging-module_get_kallsym): the report keeps
// the line as printed and the architecture the PC's name tells.
func TestHeaderCPUFirstFault(t *testing.T) {
	var s stream
	tests := []struct{ line, arch, addr string }{
		{"CPU 0 Unable to handle kernel paging request at virtual address 18b1b900, epc == 801ab8e0, ra == 80080c8c", ArchMIPS, "18b1b900"},
		{"CPU 2 Unable to handle kernel paging request at virtual address 0000000000000008, era == 90000000037a5f0c, ra == 90000000037a5ef8", ArchLoong, "0000000000000008"},
	}
	for _, tt := range tests {
		r := s.header(tt.line)
		if r == nil {
			t.Errorf("%q: no report", tt.line)
			continue
		}
		if r.o.Message != tt.line || r.o.Arch != tt.arch || r.o.Address != tt.addr || r.o.Kind != KindPagingRequest {
			t.Errorf("%q: message %q arch %q address %q kind %s", tt.line, r.o.Message, r.o.Arch, r.o.Address, r.o.Kind)
		}
	}
	if r := s.header("CPU 1 Unable to handle kernel request"); r != nil {
		t.Errorf("a banner that names no address opened %q", r.o.Title)
	}
}

// An x86 die() line with nothing before it opens a report that ends, as
// classic reports do, after maxUnknown lines it does not know: the guest
// died mid-print and what follows is another story. arm's "Internal
// error: Oops: ..." tolerates its long register dumps.
func TestBareOopsLeniency(t *testing.T) {
	var s stream
	for _, tt := range []struct {
		line    string
		lenient bool
	}{
		{"Oops: 0002 [#1] SMP NOPTI", false},
		{"int3: 0000 [#1] PREEMPT SMP NOPTI", false},
		{"Internal error: Oops: 5 [#1] SMP ARM", true},                         // arm
		{"Internal error: Oops - undefined instruction: 0 [#1] SMP ARM", true}, // lkml-arm-6.12-oops-edma_probe
		{"Oops [#1]", true}, // riscv
	} {
		r := s.header(tt.line)
		if r == nil {
			t.Errorf("%q: no report", tt.line)
			continue
		}
		if r.lenient != tt.lenient {
			t.Errorf("%q: lenient %v; want %v", tt.line, r.lenient, tt.lenient)
		}
	}
}

// A WARNING banner a mailer wrapped after its location takes the
// function from the next line.
func TestWarningBannerWrapped(t *testing.T) {
	o := parseOne(t, `[    3.700419] WARNING: CPU: 0 PID: 81 at fs/proc/generic.c:707
[    3.700419] remove_proc_entry+0xf1/0x180
[    3.700880] Modules linked in: proc_forced(OE-) virtio_net net_failover failover virtio_pci virtio virtio_ring
[    3.701470] CPU: 0 PID: 81 Comm: rmmod Tainted: G           OE     5.10.0-32-amd64 #1 Debian 5.10.223-1
[    3.720000] ---[ end trace 2fdc4d8ab2a5b5d0 ]---
`)
	if o.Title != "WARNING in remove_proc_entry" || o.Location != "fs/proc/generic.c:707" {
		t.Errorf("title %q location %q", o.Title, o.Location)
	}
	// Unwrapped, the line after the banner is not its rest.
	o = parseOne(t, `[    3.700419] WARNING: CPU: 0 PID: 81 at fs/proc/generic.c:707 remove_proc_entry+0xf1/0x180
[    3.700419] lab_exit+0x10/0x20
[    3.700880] Modules linked in: proc_forced(OE-) virtio_net net_failover failover virtio_pci virtio virtio_ring
[    3.720000] ---[ end trace 2fdc4d8ab2a5b5d0 ]---
`)
	if o.Title != "WARNING in remove_proc_entry" {
		t.Errorf("unwrapped: title %q", o.Title)
	}
}
