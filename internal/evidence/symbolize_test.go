package evidence

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// layout is the part of guest.ModuleLayout the test data holds (evidence
// does not import the protocol package).
type layout struct {
	Name     string            `json:"name"`
	Sections map[string]uint64 `json:"sections"`
	Uptime   float64           `json:"uptime"`
}

func chardevUnsafe(t *testing.T) (*Symbolizer, []Oops) {
	t.Helper()
	ko, err := os.ReadFile("testdata/symbolize/chardev_unsafe.ko")
	if err != nil {
		t.Fatal(err)
	}
	var l layout
	b, err := os.ReadFile("testdata/symbolize/chardev_unsafe.layout.json")
	if err != nil || json.Unmarshal(b, &l) != nil {
		t.Fatalf("layout: %v", err)
	}
	console, err := os.ReadFile("testdata/symbolize/debian-6.1-chardev-unsafe.console.log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSymbolizer(strings.NewReader(testSystemMap), []Module{{Name: l.Name, Sections: l.Sections, Object: bytes.NewReader(ko), UnloadedAt: l.Uptime}})
	if err != nil {
		t.Fatal(err)
	}
	return s, ParseBytes(console)
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
		var cr2 *Resolved
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
	ko, _ := os.ReadFile("testdata/symbolize/chardev_unsafe.ko")
	f.Add([]byte(testSystemMap), uint64(0xffffffffc04f3190), "CR2: ffffffffc04f3190")
	f.Fuzz(func(t *testing.T, sysmap []byte, base uint64, text string) {
		s, err := NewSymbolizer(bytes.NewReader(sysmap), []Module{{Name: "m", Sections: map[string]uint64{".rodata": base, ".text": base + 0x1000}, Object: bytes.NewReader(ko), UnloadedAt: 1}})
		if err != nil {
			return
		}
		s.Lookup(base + 0x10)
		for _, o := range ParseBytes([]byte(text)) {
			s.Annotate(&o)
		}
		o := Oops{CR2: text, RIP: text, Registers: map[string]string{"RAX": text}, CallTrace: []string{text}}
		s.Annotate(&o)
	})
}
