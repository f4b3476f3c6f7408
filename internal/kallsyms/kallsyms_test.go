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

// TestResolveCore61 names addresses of a real debian-6.1 kallsyms (an
// excerpt, internal/kallsyms/testdata): of aliases at one address the
// first listed names it, _stext itself is the core kernel's, a symbol ends
// where the next one starts however many aliases that one has, and _end
// is past the core kernel.
func TestResolveCore61(t *testing.T) {
	text, err := os.ReadFile("testdata/core-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(bytes.NewReader(text), nil, []uint64{
		0xffffffff81000000, // _stext, after startup_64 at the same address
		0xffffffff8100006f, // the last byte before secondary_startup_64
		0xffffffff813669e0 + 0x8a,
		0xffffffff843fffff, // __start_bss_decrypted_unused's last byte, below four aliases
		0xffffffff84430000, // _end
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.KernelSymbol{
		{Address: 0xffffffff81000000, Start: 0xffffffff81000000, Size: 0x70, Name: "startup_64"},
		{Address: 0xffffffff8100006f, Start: 0xffffffff81000000, Size: 0x70, Name: "startup_64"},
		{Address: 0xffffffff813669e0 + 0x8a, Start: 0xffffffff813669e0, Size: 0x310, Name: "vfs_read"},
		{Address: 0xffffffff843fffff, Start: 0xffffffff84203000, Size: 0x1fd000, Name: "__start_bss_decrypted_unused"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Resolve = %+v\nwant %+v", got, want)
	}
}

// Lines that are not kallsyms lines (a blank line, a line cut short, a
// name after two spaces) name nothing and stop nothing; a one-letter name
// is a name.
func TestResolveOddLines(t *testing.T) {
	text := "ffffffffb6600000 T _stext\n\nffffffffb6e2 T\nffffffffb6e2a000 T  spaced\n" +
		"ffffffffb6e2a1c0 T x\nffffffffb6e2a4a0 T vfs_write\nffffffffb7983c00 B _end\n"
	got, err := Resolve(strings.NewReader(text), nil, []uint64{0xffffffffb6e2a010, 0xffffffffb6e2a1c8})
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.KernelSymbol{
		{Address: 0xffffffffb6e2a010, Start: 0xffffffffb6600000, Size: 0x82a1c0, Name: "_stext"},
		{Address: 0xffffffffb6e2a1c8, Start: 0xffffffffb6e2a1c0, Size: 0x2e0, Name: "x"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Resolve = %+v\nwant %+v", got, want)
	}
}

// ReadTextBase takes upper-case hex, and a read that fails before _stext
// is its error.
func TestReadTextBaseHexAndErrors(t *testing.T) {
	if base, err := ReadTextBase(strings.NewReader("0000000000000000 A fixed_percpu_data\nFFFFFFFFA0BCDEF0 T _stext\n")); err != nil || base != 0xffffffffa0bcdef0 {
		t.Errorf("ReadTextBase(upper case) = %#x, %v", base, err)
	}
	if _, err := ReadTextBase(strings.NewReader("ffffffffgg000000 T _stext\n")); err == nil {
		t.Errorf("a _stext that is not hex gave no error")
	}
	broken := errors.New("read failed")
	if _, err := ReadTextBase(iotest.ErrReader(broken)); err != broken {
		t.Errorf("ReadTextBase(failing reader) = %v; want %v", err, broken)
	}
	if _, err := ReadTextBase(strings.NewReader("ffffffff81000000 T _text\n")); err == nil || !strings.Contains(err.Error(), "no _stext") {
		t.Errorf("kallsyms without _stext: %v", err)
	}
}

// CopyCore keeps the core kernel's lines as they are and drops every
// module's; a read that fails is its error.
func TestCopyCore(t *testing.T) {
	text, err := os.ReadFile("testdata/core-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	in := string(text) + "ffffffffc0240010 t lab_proc_read\t[proc_forced]\nffffffffc0242060 d proc_ops\t[proc_forced]\n"
	if err := CopyCore(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(text) {
		t.Errorf("CopyCore changed the core kernel's lines or kept a module's:\n%s", out.String())
	}
	broken := errors.New("read failed")
	if err := CopyCore(io.Discard, iotest.ErrReader(broken)); err != broken {
		t.Errorf("CopyCore(failing reader) = %v; want %v", err, broken)
	}
}
