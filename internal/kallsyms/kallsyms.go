// Package kallsyms reads the text of a kernel's /proc/kallsyms and
// /proc/modules where they are, in the guest: the agent names addresses
// from them, finds where KASLR put the core kernel, and copies the core
// kernel's part for the host to keep per kernel build, so that later runs
// of that kernel name its addresses without reading the guest's kallsyms
// again (about 0.5 s under TCG). Naming addresses on the host is
// internal/symbolize's (its Core reads that copy); this package stays
// small, for the agent's binary.
//
// Conditions are if chains, not tagless switches: gremlins cannot mutate
// a case's condition (docs/testing.md).
package kallsyms

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kernel-lab/lab/internal/protocol"
)

// ParseProcModules reads /proc/modules lines:
// "chardev_unsafe 16384 1 - Live 0xffffffffc05b1000 (OE)".
func ParseProcModules(text string) []protocol.ModuleExtent {
	var mods []protocol.ModuleExtent
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		size, err1 := strconv.ParseUint(f[1], 10, 64)
		base, err2 := strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 64)
		if err1 != nil || err2 != nil || base == 0 {
			continue
		}
		mods = append(mods, protocol.ModuleExtent{Name: f[0], Base: base, Size: size})
	}
	return mods
}

// Holding returns the module of mods that address a lies in.
func Holding(mods []protocol.ModuleExtent, a uint64) (protocol.ModuleExtent, bool) {
	for _, m := range mods {
		if a >= m.Base && a < m.Base+m.Size {
			return m, true
		}
	}
	return protocol.ModuleExtent{}, false
}

// neighbours are, for one asked address and one owner (the kernel, or the
// module holding the address), the nearest symbol at or below it and the
// nearest symbol start above it. The name is kept as offsets into the
// kallsyms text, so that a guest's 150,000 lines cost no allocation each.
type neighbours struct {
	below, above       uint64
	hasBelow, hasAbove bool
	nameLo, nameHi     int
}

func (n *neighbours) see(a, sym uint64, lo, hi int) {
	if sym <= a {
		// Of aliases at one address, the first listed wins.
		if !n.hasBelow || sym > n.below {
			n.below, n.hasBelow, n.nameLo, n.nameHi = sym, true, lo, hi
		}
	} else if !n.hasAbove || sym < n.above {
		n.above, n.hasAbove = sym, true
	}
}

// Resolve names each address that lies in the kernel image (from
// _stext to _end) or inside a loaded module, from /proc/kallsyms text. A
// symbol ends where the next one of the same owner starts; an address
// outside both (the direct map, a freed module's memory) is not named:
// the nearest symbol below it would be a lie. One pass keeps only each
// address's neighbours: under TCG the guest runs Go at a tenth of the
// host's speed, and building a whole symbol table there took a second.
func Resolve(r io.Reader, mods []protocol.ModuleExtent, addrs []uint64) ([]protocol.KernelSymbol, error) {
	buf, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	// The loaded module each address lies in, if any.
	inModule := make([]protocol.ModuleExtent, len(addrs))
	for i, a := range addrs {
		inModule[i], _ = Holding(mods, a)
	}
	kernel := make([]neighbours, len(addrs))
	module := make([]neighbours, len(addrs))
	var stext, textStart, end, bssStop uint64
	for pos := 0; pos < len(buf); {
		eol := bytes.IndexByte(buf[pos:], '\n')
		if eol < 0 {
			eol = len(buf)
		} else {
			eol += pos
		}
		line, lineAt := buf[pos:eol], pos
		pos = eol + 1
		// "ffffffffb6e2a1c0 T vfs_read" or "... t lab_read\t[proc_forced]"
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || len(line) < sp+4 || line[sp+2] != ' ' {
			continue
		}
		a, ok := parseHex(line[:sp])
		if !ok || a == 0 {
			continue // zeros: kallsyms hides addresses from this reader
		}
		typ := line[sp+1]
		lo, hi := lineAt+sp+3, lineAt+len(line)
		var mod []byte
		if t := bytes.IndexAny(buf[lo:hi], "\t "); t >= 0 {
			mod = bytes.Trim(bytes.TrimSpace(buf[lo+t:hi]), "[]")
			hi = lo + t
		}
		if hi == lo {
			continue
		}
		if len(mod) == 0 {
			switch string(buf[lo:hi]) { // compared in place, not allocated
			case "_stext":
				stext = a
			case "_text":
				textStart = a
			case "_end":
				end = a
			case "__bss_stop":
				bssStop = a
			}
		}
		if !strings.ContainsRune("tTdDrRbBwW", rune(typ)) {
			continue
		}
		for i, addr := range addrs {
			if len(mod) == 0 {
				kernel[i].see(addr, a, lo, hi)
			} else if inModule[i].Name != "" && string(mod) == inModule[i].Name {
				module[i].see(addr, a, lo, hi)
			}
		}
	}
	start := stext
	if start == 0 {
		start = textStart
	}
	if end == 0 {
		end = bssStop
	}
	var out []protocol.KernelSymbol
	for i, a := range addrs {
		n, limit, owner := kernel[i], end, ""
		if inCore := start != 0 && end > start && a >= start && a < end; !inCore {
			if inModule[i].Name == "" {
				continue
			}
			n, limit, owner = module[i], inModule[i].Base+inModule[i].Size, inModule[i].Name
		}
		if !n.hasBelow {
			continue
		}
		if n.hasAbove && n.above < limit {
			limit = n.above
		}
		if limit <= n.below {
			continue
		}
		out = append(out, protocol.KernelSymbol{Address: a, Start: n.below, Size: limit - n.below, Name: string(buf[n.nameLo:n.nameHi]), Module: owner})
	}
	return out, nil
}

// parseHex is strconv.ParseUint(s, 16, 64) without turning s into a string.
func parseHex(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c >= '0' && c <= '9' {
			c -= '0'
		} else if c >= 'a' && c <= 'f' {
			c -= 'a' - 10
		} else if c >= 'A' && c <= 'F' {
			c -= 'A' - 10
		} else {
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// TextBase is the symbol whose address a kernel's kallsyms is measured from:
// KASLR moves the whole core kernel by one offset, so the core symbols of
// one build sit at the same distance from it on every boot.
const TextBase = "_stext"

// ReadTextBase returns the address of TextBase from kallsyms text, reading
// no further than its line: the kernel lists symbols by address, and the
// core kernel's start comes after a few hundred per-CPU symbols, so a guest
// answers in milliseconds instead of formatting all 150,000 lines.
func ReadTextBase(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == TextBase {
			a, ok := parseHex([]byte(f[0]))
			if !ok || a == 0 {
				return 0, fmt.Errorf("kallsyms: %s is hidden (%q)", TextBase, f[0])
			}
			return a, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("kallsyms: no %s", TextBase)
}

// CopyCore copies the core kernel's lines of kallsyms text (those of no
// module) from r to w: what the host keeps per kernel build.
func CopyCore(w io.Writer, r io.Reader) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.IndexByte(line, '[') >= 0 {
			continue // "... t lab_read\t[proc_forced]"
		}
		bw.Write(line)
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}
