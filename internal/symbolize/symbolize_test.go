package symbolize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/protocol"
)

// layout is the part of results.ModuleLayout the test data holds.
type layout struct {
	Name     string            `json:"name"`
	Sections map[string]uint64 `json:"sections"`
	Uptime   float64           `json:"uptime"`
}

func chardevUnsafe(t *testing.T) (*Table, []evidence.Report) {
	t.Helper()
	ko, err := os.ReadFile("testdata/chardev_unsafe.ko")
	if err != nil {
		t.Fatal(err)
	}
	var l layout
	b, err := os.ReadFile("testdata/chardev_unsafe.layout.json")
	if err != nil || json.Unmarshal(b, &l) != nil {
		t.Fatalf("layout: %v", err)
	}
	console, err := os.ReadFile("testdata/debian-6.1-chardev-unsafe.console.log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Read(strings.NewReader(testSystemMap), []Module{{Name: l.Name, Sections: l.Sections, Object: bytes.NewReader(ko), UnloadedAt: l.Uptime}})
	if err != nil {
		t.Fatal(err)
	}
	return s, evidence.ParseBytes(console)
}

// A few lines in System.map form, to check kernel symbols resolve too.
const testSystemMap = `ffffffff81000000 T _stext
ffffffff81300000 T vfs_read
ffffffff81300310 T vfs_write
ffffffff82000000 D some_data
`

// TestSymbolizeUseAfterUnload checks the real chardev-unsafe fault of Debian
// 6.1 (console log, recorded layout and the module's .ko from one run): the
// faulting address is the f_op->read slot of the freed module's fops.
func TestSymbolizeUseAfterUnload(t *testing.T) {
	s, oopses := chardevUnsafe(t)
	if len(oopses) < 2 {
		t.Fatalf("ParseBytes(console) = %d reports; want 2", len(oopses))
	}
	for i, want := range []string{"fops+0x10", "fops+0x78"} {
		o := oopses[i]
		s.Annotate(&o)
		var cr2 *evidence.Resolved
		for j := range o.Resolved {
			if o.Resolved[j].What == "CR2" {
				cr2 = &o.Resolved[j]
			}
		}
		if cr2 == nil || cr2.Module != "chardev_unsafe" || cr2.Symbol != want || !cr2.Unloaded || cr2.UnloadedBefore <= 0 || cr2.UnloadedBefore > 5 {
			t.Errorf("oops %d: CR2 resolved = %+v; want chardev_unsafe:%s of the unloaded module, unloaded shortly before", i, cr2, want)
			continue
		}
		if !strings.Contains(cr2.String(), "= chardev_unsafe:"+want+" (module unloaded ") {
			t.Errorf("Resolved.String() = %q", cr2.String())
		}
	}
}

func TestLookup(t *testing.T) {
	s, _ := chardevUnsafe(t)
	for _, tc := range []struct {
		addr uint64
		want string
		mod  string
		ok   bool
	}{
		{0xffffffff81300000, "vfs_read", "", true},
		{0xffffffff8130008a, "vfs_read+0x8a", "", true},
		{0xffffffff81300311, "vfs_write+0x1", "", true},
		{0x1000, "", "", false},
	} {
		sym, m, ok := s.Lookup(tc.addr)
		name := ""
		if m != nil {
			name = m.Name
		}
		if sym != tc.want || ok != tc.ok || name != tc.mod {
			t.Errorf("Lookup(%#x) = %q, %q, %v; want %q, %q, %v", tc.addr, sym, name, ok, tc.want, tc.mod, tc.ok)
		}
	}
}

func FuzzSymbolize(f *testing.F) {
	ko, err := os.ReadFile("testdata/chardev_unsafe.ko")
	if err != nil {
		f.Fatal(err) // without the module every input fails early: nothing fuzzed
	}
	// The seed must get past Read, or the fuzz body never runs.
	if _, err := Read(strings.NewReader(testSystemMap), []Module{{Name: "m", Sections: map[string]uint64{".rodata": 0xffffffffc04f3190, ".text": 0xffffffffc04f4190}, Object: bytes.NewReader(ko), UnloadedAt: 1}}); err != nil {
		f.Fatalf("the seed does not symbolize: %v", err)
	}
	f.Add([]byte(testSystemMap), uint64(0xffffffffc04f3190), "CR2: ffffffffc04f3190")
	f.Fuzz(func(t *testing.T, sysmap []byte, base uint64, text string) {
		s, err := Read(bytes.NewReader(sysmap), []Module{{Name: "m", Sections: map[string]uint64{".rodata": base, ".text": base + 0x1000}, Object: bytes.NewReader(ko), UnloadedAt: 1}})
		if err != nil {
			return
		}
		s.Lookup(base + 0x10)
		for _, o := range evidence.ParseBytes([]byte(text)) {
			s.Annotate(&o)
		}
		o := evidence.Report{CR2: text, RIP: text, Registers: map[string]string{"RAX": text}, CallTrace: []string{text}}
		s.Annotate(&o)
	})
}

// kallsyms text: per-CPU offsets below the kernel half, aliases at one
// address, a loaded module's symbols tagged [module] above the kernel.
const testKallsyms = `0000000000000000 A fixed_percpu_data
000000000001b000 D cpu_tss_rw
ffffffffb6600000 T _stext
ffffffffb6600000 T startup_64
ffffffffb6601000 T secondary_startup_64
ffffffffb7983c00 B _end
ffffffffc0240000 t lab_proc_exit	[proc_forced]
ffffffffc0242060 d proc_ops	[proc_forced]
`

func TestSystemMapOwners(t *testing.T) {
	s, err := Read(strings.NewReader(testKallsyms), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr      uint64
		want, mod string
		ok        bool
	}{
		{0xffffffffb6600010, "_stext+0x10|startup_64+0x10", "", true}, // either alias, not a page-sized one
		{0xffffffffb6601010, "secondary_startup_64+0x10", "", true},
		{0xffffffffb7983c10, "_end+0x10", "", true},
		{0xffffffffb7985000, "", "", false}, // past _end's page: nobody's
		{0xffff9d0b41a4e300, "", "", false}, // direct map, not cpu_tss_rw+huge
		{0xffffffffc0240008, "lab_proc_exit+0x8", "proc_forced", true},
		{0xffffffffc0242068, "proc_ops+0x8", "proc_forced", true},
		{0xffffffffc05b3198, "", "", false}, // beyond the module's last page
	} {
		sym, m, ok := s.Lookup(tc.addr)
		name := ""
		if m != nil {
			name = m.Name
		}
		if ok != tc.ok || name != tc.mod || !slices.Contains(strings.Split(tc.want, "|"), sym) {
			t.Errorf("Lookup(%#x) = %q, %q, %v; want %q, %q, %v", tc.addr, sym, name, ok, tc.want, tc.mod, tc.ok)
		}
	}
}

// Addresses no symbol source names are asked of the running kernel; what
// it answers names them.
func TestUnresolvedAndAddSymbols(t *testing.T) {
	oopses := evidence.ParseBytes([]byte(`[    3.002228] WARNING: CPU: 0 PID: 92 at fs/proc/generic.c:726 remove_proc_entry+0x123/0x1b0
[    3.003447] CPU: 0 PID: 92 Comm: rmmod Tainted: G           OE      6.1.0-56-amd64 #1  Debian 6.1.192-2
[    3.004167] RIP: 0010:remove_proc_entry+0x123/0x1b0
[    3.005334] RAX: 0000000000000000 RBX: ff3057b29fe770c0 RCX: 0000000000000027
[    3.005739] RBP: ffffffffc0242060 R08: 0000000000000000 R09: ff82f12b00647aa8
[    3.005979] R10: 0000000000000003 R11: ffffffffb78d4448 R12: ffffffffb7983ae0
[    3.006870] CR2: 0000023f75aac000 CR3: 000000000276c000 CR4: 0000000000751ef0
`))
	if len(oopses) != 1 {
		t.Fatalf("parsed %d reports", len(oopses))
	}
	s, err := Read(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Unresolved(oopses)
	want := []uint64{0xffffffffb78d4448, 0xffffffffb7983ae0, 0xffffffffc0242060}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Unresolved = %x; want %x (the kernel-half addresses, once each)", got, want)
	}
	s.addKernelSymbols([]protocol.KernelSymbol{
		{Start: 0xffffffffb78d4400, Size: 0xc0, Name: "proc_root"},
		{Start: 0xffffffffc0242060, Size: 0xa0, Name: "proc_ops", Module: "proc_forced"},
	})
	s.Annotate(&oopses[0])
	var lines []string
	for _, r := range oopses[0].Resolved {
		lines = append(lines, r.String())
	}
	wantLines := []string{"R11 ffffffffb78d4448 = proc_root+0x48", "RBP ffffffffc0242060 = proc_forced:proc_ops"}
	if fmt.Sprint(lines) != fmt.Sprint(wantLines) {
		t.Errorf("resolved %q; want %q", lines, wantLines)
	}
	if rest := s.Unresolved(oopses); len(rest) != 1 || rest[0] != 0xffffffffb7983ae0 {
		t.Errorf("still unresolved %x; want only ffffffffb7983ae0", rest)
	}
}

// TestGoneByTheKernelsWord: workqueue-unsafe on debian-6.1 (a real run)
// panicked in the timer softirq before the agent could log when
// delete_module returned, so the unload's time is unknown; the kernel's
// own "[last unloaded: workqueue_unsafe(OE)]", with the module no longer
// linked in, says it was gone. proc-forced's WARNINGs come from its exit
// function, while it is still linked in ("proc_forced(OE-)"): not gone.
func TestGoneByTheKernelsWord(t *testing.T) {
	read := func(name string) []evidence.Report {
		b, err := os.ReadFile(filepath.Join("..", "evidence", "testdata", "real", name))
		if err != nil {
			t.Fatal(err)
		}
		return evidence.ParseBytes(b)
	}
	wq := read("debian-6.1-workqueue-unsafe.console.log")
	if len(wq) == 0 || !goneBy(&wq[0], "workqueue_unsafe") || goneBy(&wq[0], "virtio_net") {
		t.Errorf("workqueue-unsafe's page fault: goneBy(workqueue_unsafe) false or goneBy(virtio_net) true: %+v", wq)
	}
	for _, o := range read("debian-6.1-proc-forced.console.log") {
		if o.Kind == evidence.KindWarning && goneBy(&o, "proc_forced") {
			t.Errorf("proc-forced's WARNING from its exit function counts the module as gone: %s", o.Title)
		}
	}
}

// TestNoUseAfterUnloadBeforeTheUnload: the same real fault, but the module
// unloaded only after the report was printed (its time later than the
// report's): the address is the live module's, not a use after unload; and
// with no unload at all, neither.
func TestNoUseAfterUnloadBeforeTheUnload(t *testing.T) {
	_, oopses := chardevUnsafe(t)
	ko, _ := os.ReadFile("testdata/chardev_unsafe.ko")
	var l layout
	b, _ := os.ReadFile("testdata/chardev_unsafe.layout.json")
	json.Unmarshal(b, &l)
	for _, unloadedAt := range []float64{oopses[0].Time + 1, 0} {
		s, err := Read(strings.NewReader(testSystemMap), []Module{{Name: l.Name, Sections: l.Sections, Object: bytes.NewReader(ko), UnloadedAt: unloadedAt}})
		if err != nil {
			t.Fatal(err)
		}
		o := oopses[0]
		s.Annotate(&o)
		named := false
		for _, r := range o.Resolved {
			named = named || r.Module == "chardev_unsafe"
			if r.Unloaded {
				t.Errorf("unloaded at %v, report at %v: %s is marked a use after unload", unloadedAt, o.Time, r)
			}
		}
		if !named {
			t.Errorf("unloaded at %v: no address named in the module", unloadedAt)
		}
	}
}
