package evidence

import (
	"strings"
	"testing"
)

// TestRegisterCutLines: a register dump line a capture or a mailer cut
// anywhere still reads what it holds, and no more.
func TestRegisterCutLines(t *testing.T) {
	for _, tc := range []struct {
		s         string
		name, val string
		n         int
	}{
		{"RSP: 0018:ffffaf2d40177ed8 EFLAGS: 00000287", "RSP", "ffffaf2d40177ed8", 26},
		{"RSP: 0018", "RSP", "0018", 9},  // cut after the selector's digits
		{"RSP: 0018:", "RSP", "0018", 9}, // cut after its colon
		{"RCX", "", "", 0},               // a wrapped line's last name
		{"RAX:", "", "", 0},
		{"EFLAGS: 00010246", "EFLAGS", "00010246", 16},
	} {
		name, val, n := register(tc.s)
		if name != tc.name || val != tc.val || n != tc.n {
			t.Errorf("register(%q) = %q, %q, %d; want %q, %q, %d", tc.s, name, val, n, tc.name, tc.val, tc.n)
		}
	}
	// A dump line a mailer wrapped after a register's name.
	var r report
	r.registers("RAX: ffffffffffffffda RBX: 00007ffd4e3e1f30 RCX")
	if len(r.o.Registers) != 2 || r.o.Registers["RBX"] != "00007ffd4e3e1f30" {
		t.Errorf("registers(wrapped line) = %v; want RAX and RBX", r.o.Registers)
	}
}

// TestWordBytes: the bytes of C identifiers, at the edges of each range.
func TestWordBytes(t *testing.T) {
	for _, c := range []byte("azAZ09_mQ") {
		if !isWordByte(c) {
			t.Errorf("isWordByte(%q) = false", c)
		}
	}
	for _, c := range []byte("@[`{/:.- ") {
		if isWordByte(c) {
			t.Errorf("isWordByte(%q) = true", c)
		}
	}
	// Bare names a symbolizer that drops offsets prints.
	for _, s := range []string{"zap_pte_range", "LZ4_decompress_safe", "ZSTD_decompressStream", "ACPI_FREE", "Zz"} {
		if !isIdent(s) {
			t.Errorf("isIdent(%q) = false", s)
		}
	}
	// An unsymbolized return address is no name.
	for _, s := range []string{"ffffffffa0001234", "deadbeef", "cafe", "fa", "af"} {
		if isIdent(s) {
			t.Errorf("isIdent(%q) = true", s)
		}
	}
}

// TestIsFrameFastPathNoFalseFrames: frames cut or mangled where the fast
// path looks are not frames, as reFrame says.
func TestIsFrameFastPathNoFalseFrames(t *testing.T) {
	for _, s := range []string{
		"f+0x1f/0x", "vfs_read+0x7f/0x", "f+0x1/0x2 xy]", "device_read+0x1d/0x60 [chardev",
		"vfs_read+0x7F/0x2e0", "vfs_read+0x7f/0x2E0", "vfs_read+0x7f/0x2e0 chardev]",
	} {
		if isFrame(s) || reFrame.MatchString(s) {
			t.Errorf("isFrame(%q) = %v, reFrame %v; want false", s, isFrame(s), reFrame.MatchString(s))
		}
	}
	for _, s := range []string{"zap_pte_range+0xa/0xf", "Zfunc+0xaf/0xfa [zram]", "ZSTD_decompressStream+0x1f/0x90"} {
		if !isFrame(s) {
			t.Errorf("isFrame(%q) = false", s)
		}
	}
}

// TestIsArchRegLineHex: riscv's and arm's dump lines are told by their
// hex values, 'a' through 'f' included.
func TestIsArchRegLineHex(t *testing.T) {
	for _, l := range []string{" ra : ffffffff80a3c2f8 sp : ff20000000b3bd30", "bee0: aaaaaaaa c0123456", "s1 : fafafafa"} {
		if !isArchRegLine(strings.TrimSpace(l)) {
			t.Errorf("isArchRegLine(%q) = false", l)
		}
	}
}
