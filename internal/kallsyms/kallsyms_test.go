package kallsyms

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kernel-lab/lab/internal/protocol"
)

// The shape of a 6.1 guest's /proc/kallsyms read by root (KASLR applied):
// kernel text and data between _stext and _end, percpu symbols near 0,
// module symbols tagged [module].
const kallsymsText = `0000000000000000 A fixed_percpu_data
000000000001b000 A cpu_tss_rw
ffffffffb6600000 T _stext
ffffffffb6600000 T startup_64
ffffffffb6e2a1c0 T vfs_read
ffffffffb6e2a4a0 T vfs_write
ffffffffb78d4400 D proc_root
ffffffffb78d44c0 d proc_dir_operations
ffffffffb7983ae0 b printk_rb_dynamic
ffffffffb7983c00 B _end
ffffffffc0240000 t lab_proc_exit	[proc_forced]
ffffffffc0240010 t lab_proc_read	[proc_forced]
ffffffffc0242060 d proc_ops	[proc_forced]
ffffffffc0242100 d __this_module	[proc_forced]
`

func TestResolveKallsyms(t *testing.T) {
	mods := ParseProcModules("proc_forced 16384 1 - Live 0xffffffffc0240000 (OE)\nvirtio_net 61440 0 - Live 0xffffffffc0400000\n")
	if len(mods) != 2 || mods[0].Name != "proc_forced" || mods[0].Base != 0xffffffffc0240000 || mods[0].Size != 16384 {
		t.Fatalf("ParseProcModules = %+v", mods)
	}
	addrs := []uint64{
		0xffffffffb6e2a23f, // vfs_read+0x7f
		0xffffffffb78d4448, // proc_root+0x48
		0xffffffffb7983ae0, // printk_rb_dynamic, up to _end
		0xffffffffc0242068, // proc_ops+0x8 of the loaded module
		0xffffffffc0243ff0, // __this_module+…, bounded by the module's end
		0xffff9d0b41a4e300, // direct map: no symbol
		0xffffffffc05b3198, // outside every loaded module: no symbol
		0x000000000001b010, // percpu offset: no symbol
	}
	got, err := Resolve(strings.NewReader(kallsymsText), mods, addrs)
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.KernelSymbol{
		{Address: 0xffffffffb6e2a23f, Start: 0xffffffffb6e2a1c0, Size: 0x2e0, Name: "vfs_read"},
		{Address: 0xffffffffb78d4448, Start: 0xffffffffb78d4400, Size: 0xc0, Name: "proc_root"},
		{Address: 0xffffffffb7983ae0, Start: 0xffffffffb7983ae0, Size: 0x120, Name: "printk_rb_dynamic"},
		{Address: 0xffffffffc0242068, Start: 0xffffffffc0242060, Size: 0xa0, Name: "proc_ops", Module: "proc_forced"},
		{Address: 0xffffffffc0243ff0, Start: 0xffffffffc0242100, Size: 0x1f00, Name: "__this_module", Module: "proc_forced"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d symbols %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("symbol %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A reader without CAP_SYSLOG sees zeros: nothing is named.
func TestResolveKallsymsHidden(t *testing.T) {
	hidden := regexp.MustCompile(`(?m)^[0-9a-f]{16}`).ReplaceAllString(kallsymsText, "0000000000000000")
	got, err := Resolve(strings.NewReader(hidden), nil, []uint64{0xffffffffb6e2a23f})
	if err != nil || len(got) != 0 {
		t.Errorf("hidden kallsyms named %+v, %v", got, err)
	}
}

func FuzzResolveKallsyms(f *testing.F) {
	f.Add(kallsymsText, "proc_forced 16384 1 - Live 0xffffffffc0240000 (OE)\n", uint64(0xffffffffc0243ff0))
	f.Fuzz(func(t *testing.T, kallsyms, modules string, addr uint64) {
		syms, err := Resolve(strings.NewReader(kallsyms), ParseProcModules(modules), []uint64{addr, addr + 1})
		if err != nil {
			return
		}
		for _, s := range syms {
			if s.Size == 0 || addr < s.Start && s.Address == addr || s.Address-s.Start >= s.Size {
				t.Fatalf("symbol %+v does not hold its address", s)
			}
		}
	})
}

// BenchmarkResolveKallsyms measures the host-side share of a symbols step:
// parsing a kallsyms the size of a Debian 6.1 guest's (about 150,000
// lines) and naming 30 addresses.
func BenchmarkResolveKallsyms(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("ffffffff81000000 T _stext\n")
	const n = 150000
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "%016x t some_kernel_function_%d\n", 0xffffffff81000000+uint64(i)*0x100, i)
	}
	fmt.Fprintf(&sb, "%016x B _end\n", 0xffffffff81000000+uint64(n)*0x100)
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sb, "%016x t mod_function_%d\t[some_module]\n", 0xffffffffc0000000+uint64(i)*0x40, i)
	}
	text := sb.String()
	mods := ParseProcModules("some_module 16384 0 - Live 0xffffffffc0000000\n")
	addrs := make([]uint64, 30)
	for i := range addrs {
		addrs[i] = 0xffffffff81000000 + uint64(i)*0x10000 + 7
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if syms, err := Resolve(strings.NewReader(text), mods, addrs); err != nil || len(syms) != len(addrs) {
			b.Fatalf("named %d of %d: %v", len(syms), len(addrs), err)
		}
	}
}

// A real debian-6.1 core kallsyms (an excerpt), taken on a boot that put
// _stext at its link address, names the addresses of a boot that KASLR
// moved by one offset, as that boot placed them.
func TestCoreNamesAnotherBoot(t *testing.T) {
	text, err := os.ReadFile("testdata/core-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	var core bytes.Buffer
	if err := CopyCore(&core, strings.NewReader(string(text)+"ffffffffc0240010 t lab_proc_read\t[proc_forced]\n")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(core.String(), "proc_forced") {
		t.Fatalf("CopyCore kept a module's line")
	}
	c, err := ParseCore(core.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	const live = 0xffffffff9e000000 // where the other boot put _stext
	const delta = live - 0xffffffff81000000
	addrs := []uint64{
		0xffffffff813669e0 + delta + 0x8a, // vfs_read+0x8a
		0xffffffff82b83ae0 + delta,        // proc_root
		0xffffffff84420000 + delta + 0x10, // __brk_early_pgt_alloc, up to _end
		0xffffffff84430000 + delta,        // _end: past the core kernel
		0xffffffff813669e0 + 0x8a,         // the link address: not this boot's
		0xffff88801fc75300,                // the direct map
		0xffffffffc02311a0,                // a module
	}
	named, outside := c.Name(live, addrs)
	want := []protocol.KernelSymbol{
		{Address: addrs[0], Start: 0xffffffff813669e0 + delta, Size: 0x310, Name: "vfs_read"},
		{Address: addrs[1], Start: 0xffffffff82b83ae0 + delta, Size: 0xc0, Name: "proc_root"},
		{Address: addrs[2], Start: 0xffffffff84420000 + delta, Size: 0x10000, Name: "__brk_early_pgt_alloc"},
	}
	if !slices.Equal(named, want) {
		t.Errorf("named %+v\nwant  %+v", named, want)
	}
	if !slices.Equal(outside, addrs[3:]) {
		t.Errorf("outside = %x, want %x", outside, addrs[3:])
	}
}

// ReadTextBase stops at _stext: the guest's kernel formats /proc/kallsyms
// as it is read, and the 94,000 lines after it cost half a second.
func TestReadTextBaseStopsEarly(t *testing.T) {
	text, err := os.ReadFile("testdata/core-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	head := text[:bytes.Index(text, []byte("_stext\n"))+len("_stext\n")]
	r := io.MultiReader(bytes.NewReader(head), iotest.ErrReader(errors.New("read past _stext")))
	base, err := ReadTextBase(r)
	if err != nil || base != 0xffffffff81000000 {
		t.Errorf("ReadTextBase = %#x, %v; want 0xffffffff81000000", base, err)
	}
	if _, err := ReadTextBase(strings.NewReader("0000000000000000 T _stext\n")); err == nil {
		t.Errorf("a hidden _stext gave no error")
	}
	if _, err := ParseCore([]byte("ffffffff81000000 T _stext\n")); err == nil {
		t.Errorf("a core without _end parsed")
	}
}

// TestHoldingBounds: a module holds [base, base+size): its last byte is
// its own, the byte after it is the next module's or nobody's.
func TestHoldingBounds(t *testing.T) {
	mods := []protocol.ModuleExtent{{Name: "a", Base: 0xffffffffc0000000, Size: 0x3000}, {Name: "b", Base: 0xffffffffc0003000, Size: 0x1000}}
	for addr, want := range map[uint64]string{
		0xffffffffc0000000: "a", 0xffffffffc0002fff: "a", 0xffffffffc0003000: "b", 0xffffffffc0003fff: "b",
		0xffffffffc0004000: "", 0xffffffffbfffffff: "",
	} {
		m, ok := Holding(mods, addr)
		if (want == "") == ok || m.Name != want {
			t.Errorf("Holding(%#x) = %q, %v; want %q", addr, m.Name, ok, want)
		}
	}
}
