package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
)

// Where the real chardev-unsafe run (testdata) placed the module's
// sections.
const (
	chardevText   uint64 = 0xffffffffc04f2000
	chardevRodata uint64 = 0xffffffffc04f3180
	chardevStr18  uint64 = 0xffffffffc04f3088
	chardevBss    uint64 = 0xffffffffc04f43c0

	coreKallsyms61 = "../kallsyms/testdata/core-6.1.txt"
)

func runLayout(t *testing.T) results.ModuleLayout {
	t.Helper()
	var l results.ModuleLayout
	b, err := os.ReadFile("testdata/chardev_unsafe.layout.json")
	if err != nil || json.Unmarshal(b, &l) != nil {
		t.Fatalf("layout: %v", err)
	}
	return l
}

// systemMap writes the real debian-6.1 kallsyms excerpt as a System.map
// of size bytes (blank lines pad it), in dir.
func systemMap(t *testing.T, dir string, size int) string {
	t.Helper()
	text, err := os.ReadFile(coreKallsyms61)
	if err != nil {
		t.Fatal(err)
	}
	if len(text) > size {
		t.Fatalf("the excerpt has %d bytes, more than %d", len(text), size)
	}
	path := filepath.Join(dir, fmt.Sprintf("System.map-%d", size))
	if err := os.WriteFile(path, append(text, strings.Repeat("\n", size-len(text))...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNew builds the table from a run's sources: the System.map when it
// is a real one (Debian's placeholder is a few bytes), each module's
// latest layout (the unload, when there was one), a module without its
// .ko left out, and what the live kernel named; a .ko that is no object
// is an error.
func TestNew(t *testing.T) {
	dir := t.TempDir()
	l := runLayout(t)
	load, unload := l, l
	load.Event, unload.Event, unload.GoneAt = "load", "unload", 3.13
	src := Sources{
		SystemMap: systemMap(t, dir, 4097),
		Objects:   map[string]string{"chardev_unsafe": "testdata/chardev_unsafe.ko"},
		Layouts:   []results.ModuleLayout{load, {Name: "virtio_net", Event: "load", Sections: map[string]uint64{".text": 0xffffffffc0400000}}, unload},
		KernelSyms: []protocol.KernelSymbol{
			{Address: 0xffffffffc0401234, Start: 0xffffffffc0401200, Size: 0x100, Name: "virtnet_poll", Module: "virtio_net"},
			{Address: 0xffffffff82b83ae8, Start: 0xffffffff82b83ae0, Size: 0xc0, Name: "proc_root"},
			{Address: 0xffffffff90000000, Start: 0xffffffff90000000, Size: 0, Name: "sizeless"},
			{Address: 0xffffffff90001000, Start: 0xffffffff90001000, Size: 0x10, Name: ""},
			{Address: 0xffffffffc0409010, Start: 0xffffffffc0409000, Size: 0x40, Name: "virtnet_probe", Module: "virtio_net"},
		},
	}
	tab, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"ffffffff813669e0":                  "vfs_read",                     // System.map
		"ffffffff81000010":                  "_text+0x10",                   // of aliases, the last listed
		fmt.Sprintf("%x", chardevRodata+16): "chardev_unsafe:fops+0x10",     // the .ko at its layout
		"ffffffffc0401234":                  "virtio_net:virtnet_poll+0x34", // the live kernel's
		"ffffffffc0409010":                  "virtio_net:virtnet_probe+0x10",
		"ffffffff82b83ae8":                  "proc_root+0x8", // the live kernel's, smaller than System.map's
		"ffffffff90000000":                  "",              // a symbol of no size names nothing
		"ffffffff90001000":                  "",              // nor one of no name
		"ffffffffc0400010":                  "",              // virtio_net's .ko was never built
	} {
		if got := tab.Name(addr); got != want {
			t.Errorf("Name(%s) = %q; want %q", addr, got, want)
		}
	}
	b, err := os.ReadFile("testdata/debian-6.1-chardev-unsafe.console.log")
	if err != nil {
		t.Fatal(err)
	}
	o := evidence.ParseBytes(b)[0]
	tab.Annotate(&o)
	if len(o.Resolved) == 0 || o.Resolved[0].String() != fmt.Sprintf("CR2 %x = chardev_unsafe:fops+0x10 (module unloaded 0.05 s before)", chardevRodata+16) {
		t.Errorf("Annotate with the unload as the latest layout: %v", o.Resolved)
	}
	// The load alone: the module was there.
	src.Layouts = []results.ModuleLayout{load}
	if tab, err = New(src); err != nil {
		t.Fatal(err)
	}
	tab.Annotate(&o)
	if len(o.Resolved) == 0 || o.Resolved[0].Unloaded {
		t.Errorf("Annotate with the load as the latest layout: %v", o.Resolved)
	}

	// Debian's placeholder, 4096 bytes and less, and no System.map name
	// nothing of the kernel, and are no error.
	for _, path := range []string{systemMap(t, dir, 4096), filepath.Join(dir, "missing")} {
		src.SystemMap = path
		if tab, err = New(src); err != nil || tab.Name("ffffffff813669e0") != "" {
			t.Errorf("System.map %s: named %q, %v", path, tab.Name("ffffffff813669e0"), err)
		}
	}

	src.Objects["chardev_unsafe"] = "testdata/chardev_unsafe.layout.json"
	if _, err := New(src); err == nil || !strings.HasPrefix(err.Error(), "module chardev_unsafe: ") {
		t.Errorf("a .ko that is no object: %v", err)
	}
}

// TestName: QEMU's hex, as the hung-guest diagnosis passes it.
func TestName(t *testing.T) {
	s, _ := chardevUnsafe(t)
	for hex, want := range map[string]string{
		"ffffffff8130008a":                       "vfs_read+0x8a",
		fmt.Sprintf("%x", chardevText+0x70+0x1d): "chardev_unsafe:device_open+0x1d",
		fmt.Sprintf("%x", chardevRodata):         "chardev_unsafe:fops",
		"0xffffffff8130008a":                     "",
		"ffffffff7fffffff":                       "",
		"not hex":                                "",
		"":                                       "",
		fmt.Sprintf("%x", chardevStr18+8):        "chardev_unsafe:.rodata.str1.8+0x8",
		fmt.Sprintf("%x", chardevBss+8):          "chardev_unsafe:cls",
		fmt.Sprintf("%x", chardevBss+4):          "chardev_unsafe:.bss+0x4",
		"ffffffffc04f4600":                       "", // past every section
	} {
		if got := s.Name(hex); got != want {
			t.Errorf("Name(%q) = %q; want %q", hex, got, want)
		}
	}
}

// TestModuleObject reads the real .ko's symbol table: functions and
// variables at their sections' recorded addresses, smallest first (a
// variable over its section), sections where no symbol is.
func TestModuleObject(t *testing.T) {
	s, _ := chardevUnsafe(t)
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{chardevText + 0x70, "device_open"},
		{chardevText + 0x70 + 0x3d, "device_open+0x3d"},
		{chardevText + 0x60, "__pfx_device_open"},
		{chardevText + 0x28, ".text+0x28"}, // between functions
		{0xffffffffc04f4600, ""},           // past every section
		{chardevBss, "opens"},
		{chardevBss + 0x10, "major"},
		{chardevStr18, ".rodata.str1.8"},
	} {
		sym, m, ok := s.Lookup(tc.addr)
		if tc.want == "" {
			if ok {
				t.Errorf("Lookup(%#x) = %q; want nothing", tc.addr, sym)
			}
			continue
		}
		if !ok || sym != tc.want || m == nil || m.Name != "chardev_unsafe" {
			t.Errorf("Lookup(%#x) = %q, %v, %v; want chardev_unsafe:%s", tc.addr, sym, m, ok, tc.want)
		}
	}
}

// patched is the real .ko with its bytes changed by edit, given the
// object's section headers' offset.
func patched(t *testing.T, edit func(ko []byte, f *elf.File, shoff uint64)) []byte {
	t.Helper()
	ko, err := os.ReadFile("testdata/chardev_unsafe.ko")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), ko...)
	edit(out, f, binary.LittleEndian.Uint64(ko[0x28:]))
	return out
}

// A stripped module (no symbol table) still names its sections; a damaged
// symbol (its section index past the object's sections) is left out.
func TestModuleObjectDamaged(t *testing.T) {
	l := runLayout(t)
	read := func(ko []byte) *Table {
		t.Helper()
		tab, err := Read(nil, []Module{{Name: "chardev_unsafe", Sections: l.Sections, Object: bytes.NewReader(ko)}})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		return tab
	}
	stripped := patched(t, func(ko []byte, f *elf.File, shoff uint64) {
		for i, sec := range f.Sections {
			if sec.Type == elf.SHT_SYMTAB {
				binary.LittleEndian.PutUint32(ko[shoff+uint64(i)*64+4:], uint32(elf.SHT_PROGBITS))
			}
		}
	})
	if got := read(stripped).Name(fmt.Sprintf("%x", chardevRodata+16)); got != "chardev_unsafe:.rodata+0x10" {
		t.Errorf("stripped: fops+0x10 named %q", got)
	}
	damaged := patched(t, func(ko []byte, f *elf.File, shoff uint64) {
		symtab := f.SectionByType(elf.SHT_SYMTAB)
		syms, _ := f.Symbols()
		for i, s := range syms {
			if s.Name == "device_open" || s.Name == "__pfx_device_open" {
				// Symbols leaves out the null symbol: entry i+1.
				binary.LittleEndian.PutUint16(ko[symtab.Offset+uint64(i+1)*24+6:], uint16(len(f.Sections)))
			}
		}
	})
	tab := read(damaged)
	if got := tab.Name(fmt.Sprintf("%x", chardevText+0x70+0x1d)); got != "chardev_unsafe:.text+0x8d" {
		t.Errorf("damaged device_open: named %q", got)
	}
	if got := tab.Name(fmt.Sprintf("%x", chardevRodata+16)); got != "chardev_unsafe:fops+0x10" {
		t.Errorf("damaged: fops+0x10 named %q", got)
	}
}

// TestSystemMapSpans reads the real debian-6.1 kallsyms excerpt as a
// System.map: a symbol spans up to the next of its owner (__brk_dmi_alloc
// 0x10000 bytes), aliases at one address span alike and the last listed
// names it, and the lowest symbol names its own addresses.
func TestSystemMapSpans(t *testing.T) {
	text, err := os.ReadFile(coreKallsyms61)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Read(bytes.NewReader(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[uint64]string{
		0xffffffff84412000: "__brk_dmi_alloc+0x2000",
		0xffffffff84400010: "__end_of_kernel_reserve+0x10",
		0xffffffff8440f000: "__end_of_kernel_reserve+0xf000",
		0xffffffff81000010: "_text+0x10",
		0xffffffff81366a00: "vfs_read+0x20",
		0xffffffff84a00fff: "__init_scratch_end+0xfff", // the last symbol: a page
		0xffffffff84a01000: "",
		0x0000000000034050: "", // per-CPU offsets are no addresses
	} {
		if got, _, _ := s.Lookup(addr); got != want {
			t.Errorf("Lookup(%#x) = %q; want %q", addr, got, want)
		}
	}
	// The kernel half begins at 0xffff800000000000, a symbol there
	// included; the lowest symbol of a table names its own addresses.
	s, err = Read(strings.NewReader("ffff7fffffffffff D below_half\nffff800000000000 T at_half\nffff800000000100 T next\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Lookup(0xffff800000000010); got != "at_half+0x10" {
		t.Errorf("Lookup(kernel half+0x10) = %q; want at_half+0x10", got)
	}
	if got, _, ok := s.Lookup(0xffff7fffffffffff); ok {
		t.Errorf("a symbol below the kernel half named %q", got)
	}
}

// A symbol is looked for among the 64 that start nearest below the
// address: a big one with 63 small ones above it still names it, with 64
// it is out of sight.
func TestLookupWindow(t *testing.T) {
	const big = 0xffffffff90000000
	for _, tc := range []struct {
		small int
		want  string
	}{{63, "big+0x100"}, {64, ""}} {
		syms := []protocol.KernelSymbol{{Start: big, Size: 0x1000, Name: "big"}}
		for i := 0; i < tc.small; i++ {
			syms = append(syms, protocol.KernelSymbol{Start: big + 1 + uint64(i), Size: 1, Name: fmt.Sprintf("small%d", i)})
		}
		tab, err := New(Sources{KernelSyms: syms})
		if err != nil {
			t.Fatal(err)
		}
		if got, _, _ := tab.Lookup(big + 0x100); got != tc.want {
			t.Errorf("%d small symbols: Lookup = %q; want %q", tc.small, got, tc.want)
		}
	}
}

// TestAnnotateUnloadTimes: the real chardev-unsafe oops against the
// module's unload at different times. Printed at the unload's own time it
// is a use after unload; without a time it is one when the unload's time
// is known, but it cannot say how long before; with the unload's time
// unknown the kernel's "[last unloaded: chardev_unsafe]" decides, unless
// the module is still linked in; with the time known and later than the
// report, the time decides.
func TestAnnotateUnloadTimes(t *testing.T) {
	_, oopses := chardevUnsafe(t)
	ko, err := os.ReadFile("testdata/chardev_unsafe.ko")
	if err != nil {
		t.Fatal(err)
	}
	l := runLayout(t)
	report := oopses[0]
	noTime := report
	noTime.Time = 0
	linked := report
	linked.ModulesLinkedIn = append([]string{"chardev_unsafe"}, report.ModulesLinkedIn...)
	for _, tc := range []struct {
		name       string
		o          evidence.Report
		unloadedAt float64
		unloading  bool
		want       string
	}{
		{"at the unload", report, report.Time, true, "(module unloaded)"},
		{"no report time", noTime, 3.13, true, "(module unloaded)"},
		{"unload time unknown", report, 0, true, "(module unloaded)"},
		{"unload time unknown, still linked in", linked, 0, true, "fops+0x10"},
		{"unloaded after the report", report, report.Time + 1, true, "fops+0x10"},
		{"never unloaded", report, 0, false, "fops+0x10"},
	} {
		s, err := Read(nil, []Module{{Name: l.Name, Sections: l.Sections, Object: bytes.NewReader(ko), UnloadedAt: tc.unloadedAt, Unloading: tc.unloading}})
		if err != nil {
			t.Fatal(err)
		}
		o := tc.o
		s.Annotate(&o)
		if len(o.Resolved) == 0 || o.Resolved[0].What != "CR2" || !strings.HasSuffix(o.Resolved[0].String(), " = chardev_unsafe:"+tc.want) && !strings.HasSuffix(o.Resolved[0].String(), "fops+0x10 "+tc.want) {
			t.Errorf("%s: %v; want CR2 … %s", tc.name, o.Resolved, tc.want)
		}
		if len(o.Resolved) > 0 && o.Resolved[0].UnloadedBefore != 0 {
			t.Errorf("%s: unloaded %v s before", tc.name, o.Resolved[0].UnloadedBefore)
		}
	}
}
