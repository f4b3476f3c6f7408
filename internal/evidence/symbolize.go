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
		if err != nil || a == 0 {
			continue
		}
		kernel = append(kernel, symbol{addr: a, name: f[2]})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	// A kernel symbol ends where the next one starts.
	sort.Slice(kernel, func(i, j int) bool { return kernel[i].addr < kernel[j].addr })
	for i := range kernel {
		if i+1 < len(kernel) {
			kernel[i].size = kernel[i+1].addr - kernel[i].addr
		} else {
			kernel[i].size = 1 << 12
		}
	}
	s.syms = append(s.syms, kernel...)
	return nil
}

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

// Annotate fills o.Resolved for the addresses of o that the kernel printed
// raw: CR2 and the faulting address, every register holding a kernel
// address, and RIP or call-trace frames without a symbol. An address inside
// an unloaded module is flagged; with its unload time known it says how
// long before the report the module went.
func (s *Symbolizer) Annotate(o *Oops) {
	o.Resolved = nil
	seen := map[string]bool{}
	try := func(what, text string) {
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
		sym, mod, ok := s.Lookup(a)
		if !ok {
			return
		}
		seen[what+m[1]] = true
		r := Resolved{What: what, Address: m[1], Symbol: sym}
		if mod != nil {
			r.Module = mod.Name
			if mod.UnloadedAt > 0 && (o.Time == 0 || o.Time >= mod.UnloadedAt) {
				r.Unloaded = true
				if o.Time > 0 {
					r.UnloadedBefore = o.Time - mod.UnloadedAt
				}
			}
		}
		o.Resolved = append(o.Resolved, r)
	}
	try("CR2", o.CR2)
	if o.Address != o.CR2 {
		try("address", o.Address)
	}
	try("RIP", o.RIP)
	regs := make([]string, 0, len(o.Registers))
	for k := range o.Registers {
		regs = append(regs, k)
	}
	sort.Strings(regs)
	for _, k := range regs {
		try(k, o.Registers[k])
	}
	for i, f := range o.CallTrace {
		try(fmt.Sprintf("frame %d", i), f)
	}
}
