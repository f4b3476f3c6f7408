package evidence

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRawAddresses: of the real chardev-unsafe oopses of debian-6.1, the
// kernel printed raw the faulting address (CR2, the same as the banner's,
// so once) and a register that points into the freed module; RIP and the
// frames have symbols. A RIP and frames in unknown memory are printed raw
// too, in upper case or with 0x at times; user addresses, the direct
// map's "ff..." below ffff and small numbers are no kernel address.
func TestRawAddresses(t *testing.T) {
	b, err := os.ReadFile("testdata/real/debian-6.1-chardev-unsafe.console.log")
	if err != nil {
		t.Fatal(err)
	}
	oopses := ParseBytes(b)
	if len(oopses) != 2 {
		t.Fatalf("%d reports; want 2", len(oopses))
	}
	for i, want := range []string{
		"CR2 ffffffffc0483190, RCX ffffffffc0483180",
		"CR2 ffffffffc04831f8, RSI ffffffffc0483180",
	} {
		if got := show(t, oopses[i].RawAddresses()); got != want {
			t.Errorf("oops %d: RawAddresses = %s; want %s", i, got, want)
		}
	}
	o := Report{
		CR2: "0000000000000010", Address: "0xFFFFFFFFC05B3000", RIP: "0xffffffffc05b3198",
		Registers: map[string]string{"RSI": "ffffffffc05b3198", "RAX": "00007ffd1aefa078", "RBX": "ff2ce88602418600"},
		CallTrace: []string{"0xffffffffc05b3198", "ksys_read+0x6f/0xf0", "ffffffffc05b31a0 [chardev]", "0xffffffffc05b3198"},
	}
	want := "address ffffffffc05b3000, RIP ffffffffc05b3198, RSI ffffffffc05b3198, frame 0 ffffffffc05b3198, frame 2 ffffffffc05b31a0, frame 3 ffffffffc05b3198"
	if got := show(t, o.RawAddresses()); got != want {
		t.Errorf("RawAddresses = %s\nwant %s", got, want)
	}
}

// show is "WHAT HEX, …", checking that each Addr is its Hex.
func show(t *testing.T, raw []RawAddress) string {
	var parts []string
	for _, r := range raw {
		if fmt.Sprintf("%x", r.Addr) != r.Hex {
			t.Errorf("%s: Addr %#x, Hex %s", r.What, r.Addr, r.Hex)
		}
		parts = append(parts, r.What+" "+r.Hex)
	}
	return strings.Join(parts, ", ")
}

func TestResolvedString(t *testing.T) {
	for _, tc := range []struct {
		r    Resolved
		want string
	}{
		{Resolved{What: "CR2", Address: "ffffffffc0483190", Symbol: "fops+0x10", Module: "chardev_unsafe", Unloaded: true, UnloadedBefore: 0.0412},
			"CR2 ffffffffc0483190 = chardev_unsafe:fops+0x10 (module unloaded 0.04 s before)"},
		{Resolved{What: "RCX", Address: "ffffffffc0483180", Symbol: "fops", Module: "chardev_unsafe", Unloaded: true},
			"RCX ffffffffc0483180 = chardev_unsafe:fops (module unloaded)"},
		{Resolved{What: "R11", Address: "ffffffffb78d4448", Symbol: "proc_root+0x48"},
			"R11 ffffffffb78d4448 = proc_root+0x48"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
	}
}
