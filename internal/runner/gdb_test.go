package runner

import (
	"testing"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/results"
)

// TestGDBCommand: the printed command attaches to the stub and loads each
// module at its recorded .text, every other section with -s, sorted.
func TestGDBCommand(t *testing.T) {
	l := results.ModuleLayout{Name: "chardev_safe", Event: "load", Sections: map[string]uint64{
		".text": 0xffffffffc0200000, ".data": 0xffffffffc0202000, ".bss": 0xffffffffc0202400, ".rodata": 0xffffffffc0201000,
		".symtab": 0xffffffffc0203000, ".strtab": 0xffffffffc0203800, ".init.text": 0xffffffffc0100000,
	}}
	got := GDBCommand(arch.AMD64, 40123, []GDBModule{
		{Path: "/c/kmods/chardev_safe.ko", Layout: l},
		{Path: "/c/x.ko", Layout: results.ModuleLayout{Name: "x", Sections: map[string]uint64{".data": 1}}},
	})
	want := "gdb -ex 'target remote 127.0.0.1:40123' -ex 'add-symbol-file /c/kmods/chardev_safe.ko 0xffffffffc0200000 -s .bss 0xffffffffc0202400 -s .data 0xffffffffc0202000 -s .rodata 0xffffffffc0201000'"
	if got != want {
		t.Errorf("GDBCommand =\n%s\nwant\n%s", got, want)
	}
	if got := GDBCommand(arch.AMD64, 1, []GDBModule{{Path: "/it's.ko", Layout: results.ModuleLayout{Sections: map[string]uint64{".text": 16}}}}); got != `gdb -ex 'target remote 127.0.0.1:1' -ex 'add-symbol-file /it'\''s.ko 0x10'` {
		t.Errorf("GDBCommand quoting = %s", got)
	}
	// An arm64 guest on an amd64 host: Debian's gdb debugs amd64 only.
	if got := GDBCommand(arch.ARM64, 2, nil); got != `gdb-multiarch -ex 'set architecture aarch64' -ex 'target remote 127.0.0.1:2'` {
		t.Errorf("GDBCommand arm64 = %s", got)
	}
}

// TestLoadedModules: a module unloaded later is not offered to gdb; one
// loaded again is, at its latest layout.
func TestLoadedModules(t *testing.T) {
	s := &session{p: &Prepared{Modules: map[string]string{"a": "/a.ko", "b": "/b.ko"}}, r: &results.Result{Modules: []results.ModuleLayout{
		{Name: "a", Event: "load", Base: 1}, {Name: "b", Event: "load", Base: 2},
		{Name: "a", Event: "unload", Base: 1}, {Name: "a", Event: "load", Base: 3},
		{Name: "b", Event: "unload", Base: 2},
	}}}
	mods := s.loadedModules()
	if len(mods) != 1 || mods[0].Path != "/a.ko" || mods[0].Layout.Base != 3 {
		t.Errorf("loadedModules = %+v; want a at base 3 only", mods)
	}
}
