package symbolize

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

// TestSymbolizeUseAfterUnloadARM64 checks the use-after-unload attribution
// on a real arm64 run: chardev-unsafe on Debian's 6.1 arm64 kernel under
// QEMU virt (results/20261204-193440-977972), through New as the runner
// calls it. The sources are that cell's: its console
// (evidence/testdata/real), the "modules" layouts of its result.json (load
// and unload, .rodata at ffffc725355f0110), the module's .ko of that run
// (sha256 10f710ed…, debug info stripped: the symbol table is what names
// addresses; fops is .rodata+0, 280 bytes) and the image's System.map,
// which is Debian's 83-byte placeholder, so only the module names
// anything. arm64 prints no CR2: the fault address is the banner's ("at
// virtual address X"), the report's "address", and no register dump is
// kept, so that address alone is resolved.
func TestSymbolizeUseAfterUnloadARM64(t *testing.T) {
	var layouts []results.ModuleLayout
	b, err := os.ReadFile("testdata/debian-6.1-arm64-chardev-unsafe.modules.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &layouts); err != nil {
		t.Fatal(err)
	}
	s, err := New(Sources{
		SystemMap: "testdata/debian-6.1-arm64.System.map",
		Objects:   map[string]string{"chardev_unsafe": "testdata/chardev_unsafe-arm64.ko"},
		Layouts:   layouts,
	})
	if err != nil {
		t.Fatal(err)
	}
	console, err := os.ReadFile(filepath.Join("..", "evidence", "testdata", "real", "debian-6.1-arm64-chardev-unsafe.console.log"))
	if err != nil {
		t.Fatal(err)
	}
	oopses := evidence.ParseBytes(console)
	if len(oopses) != 2 {
		t.Fatalf("ParseBytes(console) = %d reports; want 2", len(oopses))
	}
	// The unload returned at 2.978153 ("lab-agent: unloaded
	// chardev_unsafe", the layout's gone_at); vfs_read faulted at 3.056856
	// reading f_op->read (fops+0x10), filp_close at 3.078677 reading
	// f_op->flush (fops+0x78).
	for i, want := range []struct {
		addr, sym string
		before    float64
		line      string
	}{
		{"ffffc725355f0120", "fops+0x10", 3.056856 - 2.978153, "address ffffc725355f0120 = chardev_unsafe:fops+0x10 (module unloaded 0.08 s before)"},
		{"ffffc725355f0188", "fops+0x78", 3.078677 - 2.978153, "address ffffc725355f0188 = chardev_unsafe:fops+0x78 (module unloaded 0.10 s before)"},
	} {
		o := oopses[i]
		s.Annotate(&o)
		if len(o.Resolved) != 1 {
			t.Errorf("oops %d: resolved %v; want the fault address alone", i, o.Resolved)
			continue
		}
		r := o.Resolved[0]
		if r.What != "address" || r.Address != want.addr || r.Module != "chardev_unsafe" || r.Symbol != want.sym || !r.Unloaded || fmt.Sprintf("%.6f", r.UnloadedBefore) != fmt.Sprintf("%.6f", want.before) {
			t.Errorf("oops %d: resolved %+v; want address %s = chardev_unsafe:%s, unloaded %.6f s before", i, r, want.addr, want.sym, want.before)
		}
		if r.String() != want.line {
			t.Errorf("oops %d: %q; want %q", i, r.String(), want.line)
		}
	}
	// The same addresses while the module is loaded (its load layout
	// alone): named, but not a use after unload.
	live, err := New(Sources{
		Objects: map[string]string{"chardev_unsafe": "testdata/chardev_unsafe-arm64.ko"},
		Layouts: layouts[:1],
	})
	if err != nil {
		t.Fatal(err)
	}
	o := oopses[0]
	live.Annotate(&o)
	if len(o.Resolved) != 1 || o.Resolved[0].Symbol != "fops+0x10" || o.Resolved[0].Unloaded {
		t.Errorf("loaded module: resolved %v; want fops+0x10, not unloaded", o.Resolved)
	}
	// Nothing else in the module's memory is misnamed: its .text base
	// (ffffc725355ef000) is device_release, and a byte past fops's 280 is
	// not fops.
	for addr, want := range map[uint64]string{
		0xffffc725355ef000: "chardev_unsafe:device_release",
		0xffffc725355f0110: "chardev_unsafe:fops",
		0xffffc725355f0227: "chardev_unsafe:fops+0x117",
	} {
		if got := s.Name(fmt.Sprintf("%x", addr)); got != want {
			t.Errorf("Name(%x) = %q; want %q", addr, got, want)
		}
	}
	if got := s.Name("ffffc725355f0228"); got == "chardev_unsafe:fops+0x118" {
		t.Errorf("Name(ffffc725355f0228) = %q: past fops's end", got)
	}
}
