package evidence

import (
	"path/filepath"
	"strings"
	"testing"
)

// The corpus test measures agreement; these pin it, log by log: every
// hand-written title a corpus log wants is the title lab gives, except
// the few disagreements TestCorpus's floors allow (listed with what lab
// says instead, so that a change either way shows), and the first report
// of a log named after an architecture comes from that architecture.
var corpusTitleExceptions = map[string]string{
	"issue-x86-4.10-kasan-oldformat-sched_init_smp.log[0]":   "KASAN: slab-out-of-bounds in sched_init_smp",
	"issue-x86-4.18-null-deref-_cas_cleaner_complete.log[0]": "BUG: unable to handle kernel NULL pointer dereference in _cas_cleaner_complete",
	"lkml-arm64-6.4-kernel-bug-dentry_unlink_inode.log[0]":   "WARNING in handshake_req_alloc",
	"lkml-riscv-6.13-warning-__alloc_pages_noprof.log[0]":    "WARNING in dma_alloc_noncontiguous",
	"lkml-riscv-6.2-paging-ksys_read.log[0]":                 "BUG: unable to handle kernel access to user memory in read",
	"syzbot-arm64-null-klist_next.log[0]":                    "BUG: kernel NULL pointer dereference in device_find_child",
	"syzbot-x86-6.8-usercopy-raw_getsockopt.log[0]":          "kernel BUG in raw_getsockopt",
}

// corpusArch maps the architecture a corpus log's name gives to
// Report.Arch.
var corpusArch = map[string]string{
	"x86": ArchAMD64, "arm": ArchARM, "arm64": ArchARM64, "ppc": ArchPowerPC, "ppc64": ArchPowerPC,
	"ppc64le": ArchPowerPC, "riscv": ArchRISCV, "s390x": ArchS390, "mips": ArchMIPS,
	"loongarch": ArchLoong, "i686": Arch386, "i386": Arch386,
}

func TestCorpusTitlesAndArchPinned(t *testing.T) {
	logs, err := filepath.Glob("testdata/corpus/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no corpus logs: %v", err)
	}
	for _, log := range logs {
		name := filepath.Base(log)
		if strings.HasPrefix(name, "clean-") {
			continue
		}
		in, ws := readLog(t, log)
		got := ParseBytes(in)
		for i, w := range ws {
			if i >= len(got) {
				t.Errorf("%s: report %d missing; want %q", name, i, w.title)
				continue
			}
			key := name + "[" + string(rune('0'+i)) + "]"
			want := w.title
			if ex, ok := corpusTitleExceptions[key]; ok {
				want = ex
			}
			if got[i].Title != want {
				t.Errorf("%s: title %q; want %q", key, got[i].Title, want)
			}
		}
		// The architecture, where the report showed one: reports
		// without registers or entry frames (a lockdep splat, a panic
		// line, an x86 hung task quoted without its trace) tell none.
		parts := strings.Split(name, "-")
		arch, ok := corpusArch[parts[1]]
		if !ok || len(got) == 0 || got[0].Arch == "" {
			continue
		}
		if got[0].Arch != arch {
			t.Errorf("%s: arch %q; the log is from %s", name, got[0].Arch, arch)
		}
	}
}

// Each architecture's PC line, as the kernel prints it, sets the
// report's architecture and its RIP.
func TestArchLinePC(t *testing.T) {
	tests := []struct {
		line, arch, rip string
	}{
		// lkml-ppc-5.6-paging-kprobe_handler
		{"NIP [c000ec34] kprobe_handler+0x128/0x290", ArchPowerPC, "kprobe_handler+0x128/0x290"},
		// the same through decode_stacktrace.sh: the frame is the
		// function and its file, not the address before it
		{"NIP [c000ec34] kprobe_handler (arch/powerpc/kernel/kprobes.c:330)", ArchPowerPC, "kprobe_handler (arch/powerpc/kernel/kprobes.c:330)"},
		{"NIP:  c000ec34 LR: c000ebf0 CTR: 00000000", ArchPowerPC, ""},
		// lkml-riscv-6.16-warning-__virt_to_phys
		{"epc : __virt_to_phys+0xae/0xe8", ArchRISCV, "__virt_to_phys+0xae/0xe8"},
		{"epc : ffffffff80021eaa ra : ffffffff80021eaa sp : ff2000000004bbc0", ArchRISCV, ""},
		// lkml-mips-5.10-oops-setup_sigcontext
		{"epc   : 80015808 setup_sigcontext+0x54/0x24c", ArchMIPS, "setup_sigcontext+0x54/0x24c"},
		// a MIPS PC in a module
		{"epc   : c0a1b2c4 lab_read+0x1c/0x60 [chardev_unsafe]", ArchMIPS, "lab_read+0x1c/0x60 [chardev_unsafe]"},
		// an epc line cut by whoever quoted it after the address
		{"epc : ffffffff80021eaa", ArchRISCV, ""},
		// lkml-loongarch-6.8-paging-efi_runtime_init
		{"ERA: 90000000037a5f0c efi_runtime_init+0x30/0x94", ArchLoong, "efi_runtime_init+0x30/0x94"},
		// satyr-s390x-3.10-warning-will_oops_init
		{"Krnl PSW : 0704f00180000000 000003ff8086d03a (will_oops_init+0x3a/0x1000 [will_oops])", ArchS390, "will_oops_init+0x3a/0x1000 [will_oops]"},
		// arm64, before and after 4.16
		{"pc : mv88q2xxx_config_init+0x28/0x84 [marvell_88q2xxx]", ArchARM64, "mv88q2xxx_config_init+0x28/0x84 [marvell_88q2xxx]"},
		{"pc : [<c0123456>]    lr : [<c0123789>]    psr: 60000013", ArchARM, ""},
		{"PC is at chip_ready+0x12c/0x380", ArchARM, "chip_ready+0x12c/0x380"},
		// a symbolizer's bare name
		{"pc : bio_free", ArchARM64, "bio_free"},
	}
	for _, tt := range tests {
		r := newReport(KindOops, endTrace, "Oops [#1]", "Oops")
		if !r.archLine(tt.line) {
			t.Errorf("archLine(%q) did not take the line", tt.line)
			continue
		}
		if r.o.Arch != tt.arch || r.o.RIP != tt.rip {
			t.Errorf("archLine(%q): arch %q rip %q; want %q %q", tt.line, r.o.Arch, r.o.RIP, tt.arch, tt.rip)
		}
	}
}

func TestPCFrame(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vfs_read+0x7f/0x2e0", "vfs_read+0x7f/0x2e0"},
		{"f+0x1/0x2 [mod]", "f+0x1/0x2 [mod]"},
		// symbolized: the frame, its module and its file stay together
		{"will_oops_init+0x3a/0x1000 [will_oops] drivers/misc/will_oops.c:12", "will_oops_init+0x3a/0x1000 [will_oops] drivers/misc/will_oops.c:12"},
		{"80015808 setup_sigcontext+0x54/0x24c", "setup_sigcontext+0x54/0x24c"},
		{"c0a1b2c4 lab_read+0x1c/0x60 [chardev_unsafe]", "lab_read+0x1c/0x60 [chardev_unsafe]"},
		// 4.x arm64: the frame before the next register
		{"mas_walk+0x194/0x328 lr : mas_find+0x1c/0x90", "mas_walk+0x194/0x328"},
		{"edma_probe (drivers/dma/ti/edma.c:0)", "edma_probe (drivers/dma/ti/edma.c:0)"},
		{"bio_free", "bio_free"},
		{"0xa69d6cb0", ""},
		{"ffffffff80021eaa ra : ffffffff80021eaa", ""},
		{"f include/linux/x.h:12 [inline]", ""},
	}
	for _, tt := range tests {
		if got := pcFrame(tt.in); got != tt.want {
			t.Errorf("pcFrame(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// setArch keeps the first architecture a report showed, except that
// arm64 corrects arm (4.x arm64 printed arm's "PC is at" first).
func TestSetArch(t *testing.T) {
	r := newReport(KindOops, endTrace, "x", "x")
	r.setArch(ArchRISCV)
	r.setArch(ArchARM)
	if r.o.Arch != ArchRISCV {
		t.Errorf("riscv then arm: %q", r.o.Arch)
	}
	r.setArch(ArchARM64)
	if r.o.Arch != ArchRISCV {
		t.Errorf("riscv then arm64: %q", r.o.Arch)
	}
	r = newReport(KindOops, endTrace, "x", "x")
	r.setArch(ArchARM)
	r.setArch(ArchARM64)
	if r.o.Arch != ArchARM64 {
		t.Errorf("arm then arm64: %q", r.o.Arch)
	}
	r.setArch(ArchARM)
	if r.o.Arch != ArchARM64 {
		t.Errorf("arm64 then arm: %q", r.o.Arch)
	}
}

func TestIsARM64Reg(t *testing.T) {
	for _, l := range []string{
		"x29: ffff800088cabd50 x28: f2f0000005e50000 x27: 0000000000000000", // lkml-arm64-6.14-kernel-bug-patch_map
		"x2: 0000000000000000 x1: ffff0000c4169a40",
	} {
		if !isARM64Reg(l) {
			t.Errorf("isARM64Reg(%q) = false", l)
		}
	}
	for _, l := range []string{
		"x29: ffff8000",
		"X29: ffff800088cabd50 x28: f2f0000005e50000",
		"xa9: ffff800088cabd50 x28: f2f0000005e50000",
		"x299 ffff800088cabd50 x28: f2f0000005e50000",
	} {
		if isARM64Reg(l) {
			t.Errorf("isARM64Reg(%q) = true", l)
		}
	}
}

func TestIsArchRegLine(t *testing.T) {
	for _, l := range []string{
		"r10: c3cd2c10  r9 : c3c17a40  r8 : c3cd2c00",                       // arm, lkml-arm-4.19
		"r9 : 00000f84  r8 : c5c7829c",                                      // arm, one-digit name
		"gp : ffffffff817f49c0 tp : ff60000001d60000 t0 : 5f6f745f74726976", // riscv
		"a0 : 0000000000000000 a1 : 0000000000000000",                       // riscv
		"bee0: c0123456 c0123456 c0123456 c0123456",                         // arm stack dump
		"fp : 00000000",
		"zero: 0000000000000000", // any lowercase name of up to four
	} {
		if !isArchRegLine(l) {
			t.Errorf("isArchRegLine(%q) = false", l)
		}
	}
	for _, l := range []string{
		"ok",                      // a short word
		"ok ",                     // and a blank after it
		"ret",                     // a word of three letters
		"pid: 123",                // too few hex digits for a register
		"id: 42",                  // likewise
		"r10: c3cd2c1",            // seven
		"flags: 00000000deadbeef", // a name longer than a register's
		"Flags: nzCv  IRQs on",    // arm's flags line is not a register
		"r10 c3cd2c10",            // no colon
		": c3cd2c10",              // no name
	} {
		if isArchRegLine(l) {
			t.Errorf("isArchRegLine(%q) = true", l)
		}
	}
}

// archFrom knows each architecture by its syscall and interrupt entry
// frames, among the last six frames of a trace.
func TestArchFrom(t *testing.T) {
	tests := []struct{ frame, arch string }{
		{"entry_SYSCALL_64_after_hwframe+0x6e/0xd8", ArchAMD64},
		{"do_syscall_64+0x5d/0xb0", ArchAMD64},
		{"asm_exc_page_fault+0x22/0x30", ArchAMD64},
		{"asm_sysvec_apic_timer_interrupt+0x1a/0x20", ArchAMD64},
		{"system_call_fastpath+0x16/0x1b", ArchAMD64},
		{"entry_SYSCALL64_slow_path+0x25/0x25", ArchAMD64},
		{"tracesys+0xdd/0xe2", ArchAMD64},
		{"ret_from_fork_asm+0x1a/0x30", ArchAMD64},
		{"sysenter_do_call+0x12/0x28", Arch386},
		{"syscall_call+0x7/0xb", Arch386},
		{"sysenter_past_esp+0x40/0x6a", Arch386},
		{"entry_SYSENTER_32+0x4e/0x7c", Arch386},
		{"entry_INT80_32+0x2f/0x2f", Arch386},
		{"el0_svc+0x30/0xd0", ArchARM64},
		{"el0t_64_sync+0x190/0x198", ArchARM64},
		{"invoke_syscall+0x48/0x110", ArchARM64},
		{"el1h_64_irq+0x64/0x68", ArchARM64},
		{"ret_fast_syscall+0x0/0x1c", ArchARM},
		{"vector_swi+0x68/0x8c", ArchARM},
		{"__irq_svc+0x6c/0x90", ArchARM},
		{"system_call_exception+0x60/0x164", ArchPowerPC},
		{"system_call_common+0xec/0x250", ArchPowerPC},
		{"system_call_vectored_common+0xf0/0x280", ArchPowerPC},
		{"do_trap_ecall_u+0x1d8/0x1dc", ArchRISCV},
		{"handle_syscall+0xb8/0x158", ArchLoong},
		{"kthread+0xe8/0x120", ""},
		{"ret_from_fork+0x1f/0x30", ""},
	}
	for _, tt := range tests {
		if got := archFrom([]string{tt.frame}); got != tt.arch {
			t.Errorf("archFrom([%s]) = %q; want %q", tt.frame, got, tt.arch)
		}
	}
	// An interrupt taken in the idle loop: the entry frame is the sixth
	// from the end, under the idle task's own frames.
	idle := []string{
		"__sysvec_apic_timer_interrupt+0x5f/0x140",
		"sysvec_apic_timer_interrupt+0x6b/0x90",
		"asm_sysvec_apic_timer_interrupt+0x1a/0x20",
		"default_idle_call+0x2e/0xe0",
		"do_idle+0x1f4/0x260",
		"cpu_startup_entry+0x1d/0x20",
		"start_secondary+0x11c/0x140",
		"secondary_startup_64_no_verify+0xe5/0xeb",
	}
	if got := archFrom(idle); got != ArchAMD64 {
		t.Errorf("archFrom(idle) = %q; want amd64", got)
	}
	// Seven from the end is too far up to be an entry.
	deep := append([]string{"asm_sysvec_apic_timer_interrupt+0x1a/0x20"}, idle[3:]...)
	deep = append(deep, "kthread+0xe8/0x120")
	if got := archFrom(deep); got != "" {
		t.Errorf("archFrom(deep) = %q; want none", got)
	}
}

func TestFrameSuffix(t *testing.T) {
	tests := []struct {
		in, want   string
		unreliable bool
	}{
		// arm64 since 6.13 (lkml-arm64-6.16-list-corruption-ti_csi2rx_dma_callback)
		{"__list_del_entry_valid_or_report+0xdc/0x114 (P)", "__list_del_entry_valid_or_report+0xdc/0x114", false},
		{"default_idle_call+0x34/0xe0 (L)", "default_idle_call+0x34/0xe0", false},
		{"el0_svc+0x30/0xd0 (C)", "el0_svc+0x30/0xd0", false},
		{"el0_svc+0x30/0xd0 (T)", "el0_svc+0x30/0xd0", false},
		{"el0_svc+0x30/0xd0 (U)", "el0_svc+0x30/0xd0", false},
		// powerpc (satyr-ppc64-3.10-warning-eeh_dev_check_failure)
		{".eeh_dev_check_failure+0x278/0x390 (unreliable)", ".eeh_dev_check_failure+0x278/0x390", true},
		{"0x9000 (unreliable)", "0x9000", true},
		// a symbolizer's inline level
		{"refcount_dec include/linux/refcount.h:405 (inlined)", "refcount_dec include/linux/refcount.h:405 [inline]", false},
		{"ksys_read+0x6b/0xf0", "ksys_read+0x6b/0xf0", false},
		// any capital letter is a source note, as new ones come
		{"el0_svc+0x30/0xd0 (A)", "el0_svc+0x30/0xd0", false},
		{"el0_svc+0x30/0xd0 (Z)", "el0_svc+0x30/0xd0", false},
		{"f (p)", "f (p)", false},
		{"f ((P)", "f ((P)", false},
		{"f +(P)", "f +(P)", false},
		{"f (P]", "f (P]", false},
		{"f  P)", "f  P)", false},
		{"(P)", "(P)", false},
	}
	for _, tt := range tests {
		got, unrel := frameSuffix(tt.in)
		if got != tt.want || unrel != tt.unreliable {
			t.Errorf("frameSuffix(%q) = %q, %v; want %q, %v", tt.in, got, unrel, tt.want, tt.unreliable)
		}
	}
}

// arm's "Unhandled fault" banner (lkml-arm-5.5-oops-chip_ready) opens a
// report of its own with the faulting address.
func TestArchFaultHeaderUnhandled(t *testing.T) {
	r := archFaultHeader("Unhandled fault: imprecise external abort (0x1406) at 0x00000000")
	if r == nil {
		t.Fatal("no report")
	}
	if r.o.Address != "0x00000000" || r.o.Arch != ArchARM || r.o.Kind != KindOops {
		t.Errorf("got address %q arch %q kind %q", r.o.Address, r.o.Arch, r.o.Kind)
	}
	if archFaultHeader("Unable to handle kernel something odd") != nil {
		t.Error("a banner without an address opened a report")
	}
}
