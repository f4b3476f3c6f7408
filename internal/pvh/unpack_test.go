package pvh

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// note is one ELF note as the kernel's linker script lays it out: the
// owner's name with its NUL, the descriptor, each padded to 4 bytes.
func note(owner string, typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, uint32(len(owner)+1))
	b = le.AppendUint32(b, uint32(len(desc)))
	b = le.AppendUint32(b, typ)
	b = append(b, owner...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

type segment struct {
	typ  elf.ProgType
	data []byte
}

// elfWith is a little-endian x86-64 ELF executable with one program
// header per segment, the segments' bytes after the headers.
func elfWith(segs ...segment) []byte {
	le := binary.LittleEndian
	b := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 2)  // ET_EXEC
	b = le.AppendUint16(b, 62) // EM_X86_64
	b = le.AppendUint32(b, 1)
	b = le.AppendUint64(b, 0x1000000) // entry
	b = le.AppendUint64(b, 64)        // program headers follow this header
	b = le.AppendUint64(b, 0)         // no section headers
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 64)
	b = le.AppendUint16(b, 56)
	b = le.AppendUint16(b, uint16(len(segs)))
	b = le.AppendUint16(b, 64)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	off := uint64(64 + 56*len(segs))
	for _, s := range segs {
		b = le.AppendUint32(b, uint32(s.typ))
		b = le.AppendUint32(b, 4) // PF_R
		b = le.AppendUint64(b, off)
		b = le.AppendUint64(b, 0)
		b = le.AppendUint64(b, 0)
		b = le.AppendUint64(b, uint64(len(s.data)))
		b = le.AppendUint64(b, uint64(len(s.data)))
		b = le.AppendUint64(b, 4)
		off += uint64(len(s.data))
	}
	for _, s := range segs {
		b = append(b, s.data...)
	}
	return b
}

// kernelELF looks like a Debian vmlinux's notes: a text segment, then a
// note segment whose Linux and GNU notes (names and descriptors not a
// multiple of 4 long) come before Xen's PVH entry.
func kernelELF() []byte {
	notes := append(note("Linux", 6, []byte("6.1.0\x00")), note("GNU", 3, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})...)
	notes = append(notes, note("Xen", 6, []byte("linux\x00"))...)
	notes = append(notes, note("Xen", xenPHYS32Entry, []byte{0x60, 0x80, 0x00, 0x01})...)
	return elfWith(segment{elf.PT_LOAD, bytes.Repeat([]byte{0x90}, 300)}, segment{elf.PT_NOTE, notes})
}

// header is the part of a bzImage's setup header Unpack reads.
type header struct {
	setupSects byte   // 0 means 4, as the boot protocol says
	version    uint16 // the boot protocol, 0x208 and later have the payload fields
	offset     uint32 // payload_offset, from the protected-mode code's start
}

// bzImage lays packed (the compressed vmlinux) out as the kernel's build
// does: boot sector and setup sectors, then the protected-mode code with
// the payload at offset and its unpacked size appended, more code after.
func bzImage(h header, packed []byte, size uint32, trailing int) []byte {
	sects := int(h.setupSects)
	if sects == 0 {
		sects = 4
	}
	bz := make([]byte, (sects+1)*512)
	bz[0x1f1] = h.setupSects
	bz[0x1fe], bz[0x1ff] = 0x55, 0xaa
	copy(bz[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(bz[0x206:], h.version)
	payload := binary.LittleEndian.AppendUint32(append([]byte(nil), packed...), size)
	binary.LittleEndian.PutUint32(bz[0x248:], h.offset)
	binary.LittleEndian.PutUint32(bz[0x24c:], uint32(len(payload)))
	bz = append(bz, bytes.Repeat([]byte{0xcc}, int(h.offset))...) // the decompressor's code
	bz = append(bz, payload...)
	return append(bz, bytes.Repeat([]byte{0xcc}, trailing)...)
}

func gzipped(b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// xzed packs b as the kernel's build does (scripts/xz_wrap.sh: the x86
// BCJ filter, LZMA2, a CRC32 check), with xz-utils; the test is skipped
// where there is no xz.
func xzed(t *testing.T, b []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz on this machine")
	}
	cmd := exec.Command("xz", "--format=xz", "--check=crc32", "--x86", "--lzma2=preset=0", "--stdout")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return out
}

// TestUnpackEachFormat: a vmlinux packed with gzip, zstd (6.12 and 7.2)
// or xz (5.10 and 6.1) comes out byte for byte, wherever the setup header
// places the payload and whatever code follows it.
func TestUnpackEachFormat(t *testing.T) {
	ctx := context.Background()
	vmlinux := kernelELF()
	for _, tc := range []struct {
		name string
		pack func(*testing.T, []byte) []byte
	}{
		{"gzip", func(_ *testing.T, b []byte) []byte { return gzipped(b) }},
		{"zstd", zstded},
		{"xz", xzed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packed := tc.pack(t, vmlinux)
			for _, h := range []header{
				{setupSects: 1, version: 0x208, offset: 0},
				{setupSects: 0, version: 0x20f, offset: 0x3a5}, // 0: four setup sectors
				{setupSects: 27, version: 0x20f, offset: 0x1000},
			} {
				for _, trailing := range []int{0, 700} {
					bz := bzImage(h, packed, uint32(len(vmlinux)), trailing)
					got, err := Unpack(ctx, bz)
					if err != nil || !bytes.Equal(got, vmlinux) {
						t.Errorf("%+v, %d bytes after the payload: Unpack = %d bytes, %v; want the %d-byte vmlinux", h, trailing, len(got), err, len(vmlinux))
						continue
					}
					if err := HasEntry(got); err != nil {
						t.Errorf("%+v: HasEntry on the unpacked vmlinux: %v", h, err)
					}
				}
			}
			// The appended size checks what came out.
			if _, err := Unpack(ctx, bzImage(header{1, 0x20f, 16}, packed, uint32(len(vmlinux))-1, 0)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unpacked %d bytes; the bzImage says %d", len(vmlinux), len(vmlinux)-1)) {
				t.Errorf("a wrong appended size: %v", err)
			}
			// A payload torn in the middle is an error, not a short vmlinux.
			torn := append([]byte(nil), packed...)
			for i := len(torn) / 2; i < len(torn)/2+16; i++ {
				torn[i] ^= 0x5a
			}
			if got, err := Unpack(ctx, bzImage(header{1, 0x20f, 16}, torn, uint32(len(vmlinux)), 0)); err == nil {
				t.Errorf("a corrupt %s payload unpacks to %d bytes with no error", tc.name, len(got))
			} else if tc.name == "xz" && !strings.HasPrefix(err.Error(), "xz: ") {
				t.Errorf("a corrupt xz payload: %v; want xz's own complaint", err)
			}
		})
	}
}

// TestUnpackRefusesHeaders: what Unpack says of files that are not a
// bzImage it can read, each at the edge of what it takes.
func TestUnpackRefusesHeaders(t *testing.T) {
	ctx := context.Background()
	good := bzImage(header{1, 0x20f, 0}, gzipped(kernelELF()), uint32(len(kernelELF())), 0)
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	n := len(good) - 1024 // the payload's length, size included
	for _, tc := range []struct {
		name string
		bz   []byte
		want string
	}{
		{"empty", nil, "not a bzImage (no HdrS setup header)"},
		{"an ELF", kernelELF(), "not a bzImage"},
		{"no magic", with(func(b []byte) []byte { copy(b[0x202:], "HdrX"); return b }), "not a bzImage"},
		{"cut before the payload fields", good[:0x24f], "not a bzImage"},
		// 0x250 bytes hold the whole header: the payload is what is missing.
		{"only the header", good[:0x250], fmt.Sprintf("payload 1024+%d outside the 592-byte file", n)},
		{"boot protocol 2.07", with(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x206:], 0x207); return b }), "boot protocol 0x207 has no payload fields"},
		{"payload past the end", with(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[0x248:], 1); return b }), fmt.Sprintf("payload 1025+%d outside the %d-byte file", n, len(good))},
		{"payload one byte short", good[:len(good)-1], fmt.Sprintf("payload 1024+%d outside the %d-byte file", n, len(good)-1)},
		{"payload too short for its size", with(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[0x24c:], 3); return b }), "payload 1024+3 outside"},
		// Four bytes are only the size: nothing packed, in no format.
		{"payload of only its size", with(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[0x24c:], 4)
			copy(b[1024:], "\x07\x00\x00\x00")
			return b
		}), "payload packed in a format lab does not unpack (starts 07 00 00 00)"},
		{"lz4", with(func(b []byte) []byte { copy(b[1024:], "\x02\x21\x4c\x18"); return b }), "payload packed in a format lab does not unpack (starts 02 21 4c 18)"},
	} {
		got, err := Unpack(ctx, tc.bz)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Unpack = %d bytes, %v; want %q", tc.name, len(got), err, tc.want)
		}
	}
	// Boot protocol 2.08 is the first with the payload fields.
	old := with(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x206:], 0x208); return b })
	if _, err := Unpack(ctx, old); err != nil {
		t.Errorf("boot protocol 2.08: %v", err)
	}
}

// TestHasEntryReadsNotesOnly: the PVH entry is a note of owner Xen and
// type 18 in a PT_NOTE segment, found past notes of any length; the same
// bytes elsewhere, or a truncated note, are not an entry.
func TestHasEntryReadsNotesOnly(t *testing.T) {
	entry := note("Xen", xenPHYS32Entry, []byte{0, 0, 0, 1})
	linux := note("Linux", 6, []byte("6.1.0\x00"))
	for _, tc := range []struct {
		name  string
		elf   []byte
		entry bool
	}{
		{"a Debian-like vmlinux", kernelELF(), true},
		{"the entry after an odd-length note", elfWith(segment{elf.PT_NOTE, append(note("GNU", 1, []byte{1, 2, 3, 4, 5}), entry...)}), true},
		{"the entry in a second note segment", elfWith(segment{elf.PT_NOTE, linux}, segment{elf.PT_LOAD, []byte{1, 2, 3, 4}}, segment{elf.PT_NOTE, entry}), true},
		{"the entry's bytes in a load segment", elfWith(segment{elf.PT_LOAD, entry}, segment{elf.PT_NOTE, linux}), false},
		{"no notes", elfWith(segment{elf.PT_LOAD, make([]byte, 64)}), false},
		{"Xen's other notes", elfWith(segment{elf.PT_NOTE, append(note("Xen", 6, []byte("linux\x00")), note("Xen", 17, nil)...)}), false},
		{"type 18 of another owner", elfWith(segment{elf.PT_NOTE, note("Xenx", xenPHYS32Entry, []byte{0, 0, 0, 1})}), false},
		{"the entry cut short", elfWith(segment{elf.PT_NOTE, entry[:len(entry)-1]}), false},
		{"a note claiming more than the segment", elfWith(segment{elf.PT_NOTE, append(note("Linux", 6, make([]byte, 200))[:40], entry...)}), false},
	} {
		err := HasEntry(tc.elf)
		if tc.entry && err != nil {
			t.Errorf("%s: %v; want the entry found", tc.name, err)
		}
		if !tc.entry && (err == nil || err.Error() != "the kernel has no PVH entry (CONFIG_PVH is off)") {
			t.Errorf("%s: %v; want no PVH entry", tc.name, err)
		}
	}
	if err := HasEntry([]byte("MZ not an ELF file at all, but long enough to read a header from")); err == nil || !strings.HasPrefix(err.Error(), "unpacked kernel: ") {
		t.Errorf("HasEntry(not ELF) = %v; want it named the unpacked kernel", err)
	}
}

// TestKernelCache: Kernel names the cached vmlinux by the first 32 hex
// digits of the bzImage's sha256, keeps it, and needs the bzImage only
// once; without a sum, a readable file or a cache directory it gives back
// the bzImage and says why.
func TestKernelCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vmlinux := kernelELF()
	bz := filepath.Join(dir, "vmlinuz-6.1.0-56-amd64")
	if err := os.WriteFile(bz, bzImage(header{0, 0x20f, 0x200}, zstded(t, vmlinux), uint32(len(vmlinux)), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	sum := "0123456789abcdef0123456789abcdef" // exactly as many digits as the name takes
	got, err := Kernel(ctx, cache, bz, sum)
	if want := filepath.Join(cache, "vmlinux", sum+".elf"); got != want || err != nil {
		t.Fatalf("Kernel = %s, %v; want %s", got, err, want)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, vmlinux) {
		t.Errorf("the cached vmlinux is not the unpacked one")
	}
	// Once cached, the bzImage is not read again.
	if err := os.Remove(bz); err != nil {
		t.Fatal(err)
	}
	if again, err := Kernel(ctx, cache, bz, sum+"00"); again != got || err != nil {
		t.Errorf("Kernel with the vmlinux cached and the bzImage gone = %s, %v; want %s", again, err, got)
	}
	// The sum names the file: another sum needs the bzImage, which is gone.
	other := strings.Repeat("f", 64)
	if p, err := Kernel(ctx, cache, bz, other); p != bz || err == nil || !os.IsNotExist(err) {
		t.Errorf("Kernel(another kernel, its file gone) = %s, %v; want the path and not-exist", p, err)
	}
	if p, err := Kernel(ctx, cache, bz, sum[:31]); p != bz || err == nil || !strings.Contains(err.Error(), "no sha256") {
		t.Errorf("Kernel(31-digit sum) = %s, %v; want the path and no sha256", p, err)
	}
	notBz := filepath.Join(dir, "vmlinuz-broken")
	os.WriteFile(notBz, []byte("not a kernel"), 0o644)
	if p, err := Kernel(ctx, cache, notBz, other); p != notBz || err == nil || !strings.HasPrefix(err.Error(), notBz+": not a bzImage") {
		t.Errorf("Kernel(not a bzImage) = %s, %v; want the path and why", p, err)
	}
	// A file where the cache's folder should be.
	blocked := filepath.Join(dir, "blocked")
	os.WriteFile(blocked, nil, 0o644)
	if p, err := Kernel(ctx, blocked, notBz, other); p != notBz || err == nil {
		t.Errorf("Kernel(cache dir is a file) = %s, %v; want the path and an error", p, err)
	}
}
