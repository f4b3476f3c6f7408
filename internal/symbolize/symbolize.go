// Package symbolize names kernel addresses: the one place lab does it.
// A Table is built from what can name an address (Sources: the image's
// System.map, each module's .ko placed at the sections lab recorded when it
// was loaded, and symbols the running kernel's kallsyms gave) and names
// the raw addresses of the evidence package's reports, marking an address
// in a module that was unloaded by then: a use after unload. A Core is the
// core kernel's kallsyms of one build, kept in the cache: it names the
// core kernel's addresses on any boot of that build, so the runner asks a
// live guest only about its loaded modules.
//
// It is the host's half: the guest's half, reading /proc/kallsyms and
// /proc/modules where they are, is internal/kallsyms, which the agent
// imports (this package's imports, the evidence parser and the result
// types, have no business in the guest's binary).
package symbolize

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
)

// Sources are what names addresses: the image's System.map (used when it
// is a real one: Debian ships a placeholder and keeps the real one in the
// -dbg package), the built .ko of each module by name, the recorded
// layouts, and symbols the running kernel named (kallsyms).
type Sources struct {
	SystemMap  string
	Objects    map[string]string
	Layouts    []results.ModuleLayout
	KernelSyms []protocol.KernelSymbol
}

// placeholderSize is the size up to which a System.map is Debian's
// placeholder ("ffffffffffffffff B The real System.map is in the
// linux-image-<version>-dbg package"), not a table.
const placeholderSize = 4096

// New builds the table that names addresses from src: the latest layout
// per module, so that a module unloaded before a report makes its
// addresses a use after unload. A file that cannot be opened is left out
// (a module never built, an image without System.map); a .ko that is not
// an ELF object is an error. It reads what it needs and closes the files
// before it returns.
func New(src Sources) (*Table, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	latest := map[string]results.ModuleLayout{}
	var order []string
	for _, l := range src.Layouts {
		if _, seen := latest[l.Name]; !seen {
			order = append(order, l.Name)
		}
		latest[l.Name] = l
	}
	var mods []Module
	for _, name := range order {
		l := latest[name]
		f, err := os.Open(src.Objects[name])
		if err != nil {
			continue
		}
		files = append(files, f)
		m := Module{Name: name, Sections: l.Sections, Object: f}
		if l.Event == "unload" {
			m.UnloadedAt, m.Unloading = l.GoneAt, true
		}
		mods = append(mods, m)
	}
	var kernel io.Reader
	if f, err := os.Open(src.SystemMap); err == nil {
		files = append(files, f)
		if st, err := f.Stat(); err == nil && st.Size() > placeholderSize {
			kernel = f
		}
	}
	t, err := Read(kernel, mods)
	if err != nil {
		return nil, err
	}
	t.addKernelSymbols(src.KernelSyms)
	return t, nil
}

// Module is a module's recorded place in memory and its object file.
type Module struct {
	Name string
	// Sections maps section names to load addresses (from
	// /sys/module/NAME/sections, recorded by lab before the unload).
	Sections map[string]uint64
	// Object is the module's .ko: its symbol table names the addresses.
	Object io.ReaderAt
	// UnloadedAt is the kernel time (s) of the unload; 0 if never unloaded.
	UnloadedAt float64
	// Unloading says an unload of the module was asked for, whether or not
	// its time is known: a report can come before the line that says when
	// delete_module returned (a timer firing on the freed module at once
	// panics the kernel first).
	Unloading bool
}

type symbol struct {
	addr, size uint64
	name       string
	module     *Module
	section    bool // a whole section, named only when no symbol holds the address
}

// Table resolves kernel addresses against the kernel's symbols (a
// System.map or /proc/kallsyms text), the symbols of modules at their
// recorded addresses, unloaded ones included, and symbols a running
// kernel named.
type Table struct {
	syms []symbol // sorted by addr
}

// Read builds a table from readers: kernel is System.map or /proc/kallsyms
// text (nil for none) and each module's Object is read as it is placed.
// New reads a run's Sources through it; lab evidence reads the files a
// person named.
func Read(kernel io.Reader, modules []Module) (*Table, error) {
	t := &Table{}
	if kernel != nil {
		if err := t.addSystemMap(kernel); err != nil {
			return nil, err
		}
	}
	for i := range modules {
		if err := t.addModule(&modules[i]); err != nil {
			return nil, fmt.Errorf("module %s: %w", modules[i].Name, err)
		}
	}
	sort.SliceStable(t.syms, func(i, j int) bool { return t.syms[i].addr < t.syms[j].addr })
	return t, nil
}

// addSystemMap reads "ffffffff81000000 T _stext" lines (System.map and
// /proc/kallsyms share the form; kallsyms adds "[module]").
func (t *Table) addSystemMap(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var kernel []symbol
	mods := map[string]*Module{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f[1]) != 1 {
			continue
		}
		switch f[1][0] {
		case 't', 'T', 'd', 'D', 'r', 'R', 'b', 'B', 'w', 'W':
		default:
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		// Below the kernel half are per-CPU offsets, not addresses: taken
		// as symbols they would swallow the whole direct map.
		if err != nil || a < kernelHalf {
			continue
		}
		sym := symbol{addr: a, name: f[2]}
		if len(f) >= 4 && strings.HasPrefix(f[3], "[") {
			name := strings.Trim(f[3], "[]")
			if mods[name] == nil {
				mods[name] = &Module{Name: name}
			}
			sym.module = mods[name]
		}
		kernel = append(kernel, sym)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	// A symbol ends where the next one of the same owner (the kernel, or
	// one module) starts; the last one of each gets a page, not the gap
	// up to someone else's memory.
	sort.SliceStable(kernel, func(i, j int) bool { return kernel[i].addr < kernel[j].addr })
	type bound struct{ addr, above uint64 } // an owner's lowest address so far, and the one above it
	seen := map[*Module]bound{}
	for i := len(kernel) - 1; i >= 0; i-- {
		k := &kernel[i]
		b, ok := seen[k.module]
		if ok && b.addr > k.addr {
			b = bound{k.addr, b.addr}
		} else if !ok {
			b = bound{k.addr, 0}
		}
		seen[k.module] = b
		if b.above > k.addr {
			k.size = b.above - k.addr
		} else {
			k.size = 1 << 12
		}
	}
	t.syms = append(t.syms, kernel...)
	return nil
}

// kernelHalf is where x86-64's kernel half of the address space begins.
const kernelHalf = 0xffff800000000000

// addModule places the module's ELF symbols at their sections' recorded
// addresses. A section is also covered as a whole, so an address between
// symbols still names the section.
func (t *Table) addModule(m *Module) error {
	f, err := elf.NewFile(m.Object)
	if err != nil {
		return err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil && err != elf.ErrNoSymbols {
		return err
	}
	for _, sym := range syms {
		if sym.Section == elf.SHN_UNDEF || sym.Section >= elf.SHN_LORESERVE || int(sym.Section) >= len(f.Sections) {
			continue
		}
		typ := elf.ST_TYPE(sym.Info)
		if typ != elf.STT_FUNC && typ != elf.STT_OBJECT {
			continue
		}
		sec := f.Sections[sym.Section]
		base, ok := m.Sections[sec.Name]
		if !ok {
			continue
		}
		size := sym.Size
		if size == 0 {
			size = 1
		}
		t.syms = append(t.syms, symbol{addr: base + sym.Value, size: size, name: sym.Name, module: m})
	}
	for _, sec := range f.Sections {
		if base, ok := m.Sections[sec.Name]; ok && sec.Size > 0 {
			t.syms = append(t.syms, symbol{addr: base, size: sec.Size, name: sec.Name, module: m, section: true})
		}
	}
	return nil
}

// addKernelSymbols adds symbols learned from a running kernel (its
// kallsyms, asked about the addresses Unresolved returned).
func (t *Table) addKernelSymbols(syms []protocol.KernelSymbol) {
	mods := map[string]*Module{}
	for _, k := range syms {
		if k.Size == 0 || k.Name == "" {
			continue
		}
		sym := symbol{addr: k.Start, size: k.Size, name: k.Name}
		if k.Module != "" {
			if mods[k.Module] == nil {
				mods[k.Module] = &Module{Name: k.Module}
			}
			sym.module = mods[k.Module]
		}
		t.syms = append(t.syms, sym)
	}
	sort.SliceStable(t.syms, func(i, j int) bool { return t.syms[i].addr < t.syms[j].addr })
}

// Lookup resolves one address, preferring the smallest symbol that holds it
// (a variable over its whole section).
func (t *Table) Lookup(addr uint64) (sym string, m *Module, ok bool) {
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr > addr })
	var best *symbol
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		c := &t.syms[j]
		if addr >= c.addr && addr < c.addr+c.size && (best == nil || c.size < best.size || c.size == best.size && best.section && !c.section) {
			best = c
		}
	}
	if best == nil {
		return "", nil, false
	}
	name := best.name
	if off := addr - best.addr; off > 0 {
		name += fmt.Sprintf("+%#x", off)
	}
	return name, best.module, true
}

// Name is "module:symbol+off" (or "symbol+off") for an address written in
// hex without 0x, as QEMU gives a hung guest's RIP; "" when it is not hex
// or the table cannot name it.
func (t *Table) Name(hexAddr string) string {
	a, err := strconv.ParseUint(hexAddr, 16, 64)
	if err != nil {
		return ""
	}
	name, m, ok := t.Lookup(a)
	if !ok {
		return ""
	}
	if m != nil {
		name = m.Name + ":" + name
	}
	return name
}

// Unresolved lists, once each and sorted, the raw kernel addresses of the
// reports that t cannot name: what to ask a live kernel's kallsyms about.
func (t *Table) Unresolved(reports []evidence.Report) []uint64 {
	set := map[uint64]bool{}
	for i := range reports {
		for _, r := range reports[i].RawAddresses() {
			if _, _, ok := t.Lookup(r.Addr); !ok {
				set[r.Addr] = true
			}
		}
	}
	out := make([]uint64, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Annotate fills o.Resolved for the addresses of o that the kernel printed
// raw (evidence's RawAddresses). An address inside an unloaded module is
// flagged; with its unload time known it says how long before the report
// the module went.
func (t *Table) Annotate(o *evidence.Report) {
	o.Resolved = nil
	for _, raw := range o.RawAddresses() {
		sym, mod, ok := t.Lookup(raw.Addr)
		if !ok {
			continue
		}
		r := evidence.Resolved{What: raw.What, Address: raw.Hex, Symbol: sym}
		if mod != nil {
			r.Module = mod.Name
			// if, not a tagless switch: gremlins cannot mutate a case's
			// condition (docs/testing.md).
			if mod.UnloadedAt > 0 && (o.Time == 0 || o.Time >= mod.UnloadedAt) {
				r.Unloaded = true
				if o.Time > 0 {
					r.UnloadedBefore = o.Time - mod.UnloadedAt
				}
			} else if mod.UnloadedAt == 0 && mod.Unloading && goneBy(o, mod.Name) {
				r.Unloaded = true
			}
		}
		o.Resolved = append(o.Resolved, r)
	}
}

// goneBy says the kernel itself reports module name as unloaded when it
// printed o: "[last unloaded: NAME]" is written by delete_module once the
// module's exit function has returned, just before its memory is freed,
// and the module is no longer among "Modules linked in". A report from the
// exit function (a WARNING while tearing down) has neither.
func goneBy(o *evidence.Report, name string) bool {
	last, _, _ := strings.Cut(o.LastUnloaded, "(")
	if strings.TrimSpace(last) != name {
		return false
	}
	for _, m := range o.ModulesLinkedIn {
		if m == name {
			return false
		}
	}
	return true
}
