package evidence

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Naming the addresses is internal/symbolize's: evidence reads which
// addresses a report printed raw (RawAddresses) and holds what they were
// named (Resolved), so that a report is one record.

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

var (
	hexAddr  = regexp.MustCompile(`^(?:0x)?(ffff[0-9a-f]{12})$`)
	rawFrame = regexp.MustCompile(`^(?:0x)?(ffff[0-9a-f]{12})\b`)
)

// RawAddress is one kernel address a report printed raw, and where.
type RawAddress struct {
	What string // "CR2", "address", "RIP", "RSI", "frame 2"
	Hex  string // as printed, lower case, without 0x: "ffffffffc04f3190"
	Addr uint64
}

// RawAddresses are the kernel addresses of o that the kernel printed raw,
// each place once, in this order: CR2 and the faulting address, RIP,
// every register holding a kernel address (by name), and call-trace
// frames without a symbol.
func (o *Report) RawAddresses() []RawAddress {
	var out []RawAddress
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
		out = append(out, RawAddress{what, m[1], a})
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
