package agent

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"

	"lab/internal/guest"
)

// moduleExtent is a loaded module's place from /proc/modules.
type moduleExtent struct {
	name       string
	base, size uint64
}

// parseProcModules reads /proc/modules lines:
// "chardev_unsafe 16384 1 - Live 0xffffffffc05b1000 (OE)".
func parseProcModules(text string) []moduleExtent {
	var mods []moduleExtent
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
		mods = append(mods, moduleExtent{f[0], base, size})
	}
	return mods
}

type ksym struct {
	addr uint64
	name string
}

// resolveKallsyms names each address that lies in the kernel image (from
// _stext to _end) or inside a loaded module, from /proc/kallsyms text. A
// symbol ends where the next one of the same owner starts; an address
// outside both (the direct map, a freed module's memory) is not named:
// the nearest symbol below it would be a lie.
func resolveKallsyms(r io.Reader, mods []moduleExtent, addrs []uint64) ([]guest.KernelSymbol, error) {
	var kernel []ksym
	modSyms := map[string][]ksym{}
	marks := map[string]uint64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || len(f[1]) != 1 {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a == 0 {
			continue // zeros: kallsyms hides addresses from this reader
		}
		switch f[2] {
		case "_stext", "_text", "_end", "__bss_stop":
			marks[f[2]] = a
		}
		if !strings.ContainsRune("tTdDrRbBwW", rune(f[1][0])) {
			continue
		}
		if len(f) >= 4 && strings.HasPrefix(f[3], "[") {
			m := strings.Trim(f[3], "[]")
			modSyms[m] = append(modSyms[m], ksym{a, f[2]})
			continue
		}
		kernel = append(kernel, ksym{a, f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	lo, hi := marks["_stext"], marks["_end"]
	if lo == 0 {
		lo = marks["_text"]
	}
	if hi == 0 {
		hi = marks["__bss_stop"]
	}
	byAddr := func(s []ksym) {
		sort.SliceStable(s, func(i, j int) bool { return s[i].addr < s[j].addr })
	}
	byAddr(kernel)
	for _, s := range modSyms {
		byAddr(s)
	}
	var out []guest.KernelSymbol
	for _, a := range addrs {
		if lo != 0 && hi > lo && a >= lo && a < hi {
			if ks, ok := holder(kernel, a, hi); ok {
				out = append(out, guest.KernelSymbol{Address: a, Start: ks.addr, Size: ks.size, Name: ks.name})
			}
			continue
		}
		for _, m := range mods {
			if a < m.base || a >= m.base+m.size {
				continue
			}
			if ks, ok := holder(modSyms[m.name], a, m.base+m.size); ok {
				out = append(out, guest.KernelSymbol{Address: a, Start: ks.addr, Size: ks.size, Name: ks.name, Module: m.name})
			}
			break
		}
	}
	return out, nil
}

type held struct {
	ksym
	size uint64
}

// holder finds the last symbol at or below a in sorted syms; it ends at the
// next symbol above it, or at end.
func holder(syms []ksym, a, end uint64) (held, bool) {
	i := sort.Search(len(syms), func(i int) bool { return syms[i].addr > a })
	if i == 0 {
		return held{}, false
	}
	s := syms[i-1]
	next := end
	if i < len(syms) && syms[i].addr < end {
		next = syms[i].addr
	}
	if next <= s.addr {
		return held{}, false
	}
	return held{s, next - s.addr}, true
}
