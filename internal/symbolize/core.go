package symbolize

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/kernel-lab/lab/internal/kallsyms"
	"github.com/kernel-lab/lab/internal/protocol"
)

// Core is the core kernel's kallsyms of one build, read from the text
// kallsyms.CopyCore wrote in a guest: it names the core kernel's
// addresses on any boot of that build once told where that boot placed
// kallsyms.TextBase (KASLR moves the whole core kernel by one offset).
type Core struct {
	text []byte
	// start is TextBase's address in the text, end the core kernel's.
	start, end uint64
}

// ParseCore reads kallsyms.CopyCore's output.
func ParseCore(text []byte) (*Core, error) {
	c := &Core{text: text}
	for _, line := range bytes.Split(text, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 || len(f[0]) > 16 {
			continue
		}
		a, err := strconv.ParseUint(string(f[0]), 16, 64)
		if err != nil {
			continue
		}
		switch string(f[2]) {
		case kallsyms.TextBase:
			c.start = a
		case "_end":
			c.end = a
		case "__bss_stop":
			if c.end == 0 {
				c.end = a
			}
		}
	}
	if c.start == 0 || c.end <= c.start {
		return nil, errors.New("kallsyms: the core kernel's extent (_stext to _end) is missing")
	}
	return c, nil
}

// Name names the addresses that lie in the core kernel of a boot whose
// TextBase is at liveBase, as that boot placed their symbols; it returns
// those and the addresses outside the core kernel, which it cannot name.
func (c *Core) Name(liveBase uint64, addrs []uint64) (named []protocol.KernelSymbol, outside []uint64) {
	delta := liveBase - c.start // wraps for a lower base; the sums wrap back
	var inside []uint64
	for _, a := range addrs {
		if k := a - delta; k >= c.start && k < c.end {
			inside = append(inside, k)
		} else {
			outside = append(outside, a)
		}
	}
	if len(inside) == 0 {
		return nil, outside
	}
	syms, _ := kallsyms.Resolve(bytes.NewReader(c.text), nil, inside) // reads from memory
	for i := range syms {
		syms[i].Address += delta
		syms[i].Start += delta
	}
	return syms, outside
}

// NameLive names what it can of addrs on a live boot that put TextBase at
// liveBase and has the modules loaded: the core kernel's addresses from c,
// and it returns those in a loaded module, which only that boot's own
// kallsyms can name. The rest (the direct map, stacks, a freed module's
// memory) have no symbol to name them.
func (c *Core) NameLive(liveBase uint64, loaded []protocol.ModuleExtent, addrs []uint64) (named []protocol.KernelSymbol, inModules []uint64) {
	named, outside := c.Name(liveBase, addrs)
	for _, a := range outside {
		if _, ok := kallsyms.Holding(loaded, a); ok {
			inModules = append(inModules, a)
		}
	}
	return named, inModules
}
