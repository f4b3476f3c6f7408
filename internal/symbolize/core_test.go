package symbolize

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/kallsyms"
	"github.com/kernel-lab/lab/internal/protocol"
)

// A real debian-6.1 core kallsyms (an excerpt), taken on a boot that put
// _stext at its link address, names the addresses of a boot that KASLR
// moved by one offset, as that boot placed them.
func TestCoreNamesAnotherBoot(t *testing.T) {
	text, err := os.ReadFile("../kallsyms/testdata/core-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	var core bytes.Buffer
	if err := kallsyms.CopyCore(&core, strings.NewReader(string(text)+"ffffffffc0240010 t lab_proc_read\t[proc_forced]\n")); err != nil {
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

// TestCoreEdges: the live boot's _stext itself is the core kernel's; a
// table without _end ends at __bss_stop; one whose end is not above
// _stext is no table. NameLive hands back, of what the core kernel's table
// cannot name, what lies in a module the boot has loaded: the guest's own
// kallsyms names those; the rest (the direct map, a freed module's memory)
// nobody names.
func TestCoreEdges(t *testing.T) {
	text, err := os.ReadFile("../kallsyms/testdata/core-6.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCore(text)
	if err != nil {
		t.Fatal(err)
	}
	const live = 0xffffffff9e000000
	const delta = live - 0xffffffff81000000
	loaded := []protocol.ModuleExtent{{Name: "chardev_unsafe", Base: 0xffffffffc04f2000, Size: 0x4000}}
	named, inModules := c.NameLive(live, loaded, []uint64{
		live,                           // _stext
		0xffffffffc04f3190,             // chardev_unsafe's fops+0x10
		0xffffffffc0500000,             // no module's
		0xffff88801fc75300,             // the direct map
		0xffffffff84430000 - 1 + delta, // the core kernel's last byte
	})
	want := []protocol.KernelSymbol{
		{Address: live, Start: live, Size: 0x70, Name: "startup_64"},
		{Address: 0xffffffff84430000 - 1 + delta, Start: 0xffffffff84420000 + delta, Size: 0x10000, Name: "__brk_early_pgt_alloc"},
	}
	if !slices.Equal(named, want) || !slices.Equal(inModules, []uint64{0xffffffffc04f3190}) {
		t.Errorf("NameLive = %+v, %x\nwant %+v, [ffffffffc04f3190]", named, inModules, want)
	}

	var noEnd []string
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasSuffix(line, " _end") {
			noEnd = append(noEnd, line)
		}
	}
	c, err = ParseCore([]byte(strings.Join(noEnd, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	named, outside := c.Name(0xffffffff81000000, []uint64{0xffffffff843fffff, 0xffffffff84400000})
	if len(named) != 1 || named[0].Name != "__start_bss_decrypted_unused" || !slices.Equal(outside, []uint64{0xffffffff84400000}) {
		t.Errorf("without _end: named %+v, outside %x; want up to __bss_stop", named, outside)
	}

	for _, bad := range []string{
		"ffffffff81000000 T _stext\n",
		"ffffffff81000000 T _stext\nffffffff81000000 B _end\n",
		"ffffffff81000000 T _stext\nffffffff80000000 B _end\n",
		"ffffffff84430000 B _end\n",
		"0ffffffff81000000 T _stext\nffffffff84430000 B _end\n",
	} {
		if _, err := ParseCore([]byte(bad)); err == nil {
			t.Errorf("ParseCore(%q) took it", bad)
		}
	}
	if _, err := ParseCore([]byte("FFFFFFFF81000000 T _stext\nffffffff84430000 B _end\n")); err != nil {
		t.Errorf("ParseCore(upper-case hex): %v", err)
	}
}
