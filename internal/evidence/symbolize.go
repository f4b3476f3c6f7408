package evidence

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Resolved is one address of a report and what it belonged to.
type Resolved struct {
	// What names where the address appeared: "CR2", "RSI", "RIP", "frame 2".
	What    string `json:"what"`
	Address string `json:"address"`
	// Symbol is "fops+0x10" (module symbols) or "vfs_read+0x8a".
	Symbol string `json:"symbol"`
	Module string `json:"module,omitempty"`
	// Unloaded is set when the address lies in a module that had been
	// unloaded when the kernel printed the report: a use after unload.
	Unloaded bool `json:"unloaded,omitempty"`
	// UnloadedBefore is how long before the report the module went, in
	// seconds (when known).
	UnloadedBefore float64 `json:"unloaded_before_s,omitempty"`
}

// String is the line a person reads:
// "CR2 ffffffffc0483190 = chardev_unsafe:fops+0x10 (module unloaded 0.04 s before)".
func (r Resolved) String() string {
	s := fmt.Sprintf("%s %s = ", r.What, r.Address)
	if r.Module != "" {
		s += r.Module + ":"
	}
	s += r.Symbol
	switch {
	case r.Unloaded && r.UnloadedBefore > 0:
		s += fmt.Sprintf(" (module unloaded %.2f s before)", r.UnloadedBefore)
	case r.Unloaded:
		s += " (module unloaded)"
	}
	return s
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

// Symbolizer resolves kernel addresses against the kernel's symbols (a
// System.map or /proc/kallsyms text) and the symbols of modules at their
// recorded addresses, unloaded ones included.
type Symbolizer struct {
	syms []symbol // sorted by addr
}

// NewSymbolizer builds a symbolizer. kernel may be nil; modules may be
// empty.
func NewSymbolizer(kernel io.Reader, modules []Module) (*Symbolizer, error) {
	s := &Symbolizer{}
	if kernel != nil {
		if err := s.addSystemMap(kernel); err != nil {
			return nil, err
		}
	}
	for i := range modules {
		if err := s.addModule(&modules[i]); err != nil {
			return nil, fmt.Errorf("module %s: %w", modules[i].Name, err)
		}
	}
	sort.SliceStable(s.syms, func(i, j int) bool { return s.syms[i].addr < s.syms[j].addr })
	return s, nil
}

// addSystemMap reads "ffffffff81000000 T _stext" lines (System.map and
// /proc/kallsyms share the form; kallsyms adds "[module]").
func (s *Symbolizer) addSystemMap(r io.Reader) error {
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
	s.syms = append(s.syms, kernel...)
	return nil
}

// kernelHalf is where x86-64's kernel half of the address space begins.
const kernelHalf = 0xffff800000000000

// addModule places the module's ELF symbols at their sections' recorded
// addresses. A section is also covered as a whole, so an address between
// symbols still names the section.
func (s *Symbolizer) addModule(m *Module) error {
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
		t := elf.ST_TYPE(sym.Info)
		if t != elf.STT_FUNC && t != elf.STT_OBJECT {
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
		s.syms = append(s.syms, symbol{addr: base + sym.Value, size: size, name: sym.Name, module: m})
	}
	for _, sec := range f.Sections {
		if base, ok := m.Sections[sec.Name]; ok && sec.Size > 0 {
			s.syms = append(s.syms, symbol{addr: base, size: sec.Size, name: sec.Name, module: m, section: true})
		}
	}
	return nil
}

// Lookup resolves one address, preferring the smallest symbol that holds it
// (a variable over its whole section).
func (s *Symbolizer) Lookup(addr uint64) (sym string, m *Module, ok bool) {
	i := sort.Search(len(s.syms), func(i int) bool { return s.syms[i].addr > addr })
	var best *symbol
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		c := &s.syms[j]
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

var (
	hexAddr  = regexp.MustCompile(`^(?:0x)?(ffff[0-9a-f]{12})$`)
	rawFrame = regexp.MustCompile(`^(?:0x)?(ffff[0-9a-f]{12})\b`)
)

// rawAddress is one address the kernel printed raw, and where.
type rawAddress struct {
	what string // "CR2", "RSI", "frame 2"
	hex  string
	addr uint64
}

// rawAddresses are the addresses of o that the kernel printed raw: CR2 and
// the faulting address, RIP, every register holding a kernel address, and
// call-trace frames without a symbol.
func (o *Report) rawAddresses() []rawAddress {
	var out []rawAddress
	seen := map[string]bool{}
	add := func(what, text string) {
		m := hexAddr.FindStringSubmatch(strings.ToLower(strings.TrimSpace(text)))
		if m == nil {
			m = rawFrame.FindStringSubmatch(strings.ToLower(strings.TrimSpace(text)))
		}
		if m == nil || seen[what+m[1]] {
			return
		}
		a, err := strconv.ParseUint(m[1], 16, 64)
		if err != nil {
			return
		}
		seen[what+m[1]] = true
		out = append(out, rawAddress{what, m[1], a})
	}
	add("CR2", o.CR2)
	if o.Address != o.CR2 {
		add("address", o.Address)
	}
	add("RIP", o.RIP)
	regs := make([]string, 0, len(o.Registers))
	for k := range o.Registers {
		regs = append(regs, k)
	}
	sort.Strings(regs)
	for _, k := range regs {
		add(k, o.Registers[k])
	}
	for i, f := range o.CallTrace {
		add(fmt.Sprintf("frame %d", i), f)
	}
	return out
}

// Unresolved lists, once each and sorted, the raw kernel addresses of the
// reports that s cannot name: what to ask a live kernel's kallsyms about.
func (s *Symbolizer) Unresolved(oopses []Report) []uint64 {
	set := map[uint64]bool{}
	for i := range oopses {
		for _, r := range oopses[i].rawAddresses() {
			if _, _, ok := s.Lookup(r.addr); !ok {
				set[r.addr] = true
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

// KernelSymbol is a symbol of a running kernel, as its kallsyms placed it.
type KernelSymbol struct {
	Start, Size uint64
	Name        string
	Module      string // a loaded module's name; "" for the kernel
}

// AddSymbols adds symbols learned from a running kernel (its kallsyms,
// asked about the addresses Unresolved returned).
func (s *Symbolizer) AddSymbols(syms []KernelSymbol) {
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
		s.syms = append(s.syms, sym)
	}
	sort.SliceStable(s.syms, func(i, j int) bool { return s.syms[i].addr < s.syms[j].addr })
}

// Annotate fills o.Resolved for the addresses of o that the kernel printed
// raw (see rawAddresses). An address inside an unloaded module is flagged;
// with its unload time known it says how long before the report the module
// went.
func (s *Symbolizer) Annotate(o *Report) {
	o.Resolved = nil
	for _, raw := range o.rawAddresses() {
		sym, mod, ok := s.Lookup(raw.addr)
		if !ok {
			continue
		}
		r := Resolved{What: raw.what, Address: raw.hex, Symbol: sym}
		if mod != nil {
			r.Module = mod.Name
			switch {
			case mod.UnloadedAt > 0 && (o.Time == 0 || o.Time >= mod.UnloadedAt):
				r.Unloaded = true
				if o.Time > 0 {
					r.UnloadedBefore = o.Time - mod.UnloadedAt
				}
			case mod.UnloadedAt == 0 && mod.Unloading && o.goneBy(mod.Name):
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
func (o *Report) goneBy(name string) bool {
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
