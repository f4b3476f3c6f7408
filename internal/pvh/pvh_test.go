package pvh

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/safefile"
)

// testELF is the smallest x86-64 ELF file with one PT_NOTE segment holding
// one note of the given owner and type (Xen's PVH entry is "Xen", 18).
func testELF(owner string, typ uint32) []byte {
	le := binary.LittleEndian
	name := append([]byte(owner), 0)
	for len(name)%4 != 0 {
		name = append(name, 0)
	}
	note := le.AppendUint32(nil, uint32(len(owner)+1))
	note = le.AppendUint32(note, 8)
	note = le.AppendUint32(note, typ)
	note = append(note, name...)
	note = le.AppendUint64(note, 0x1000000)
	b := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 2)  // ET_EXEC
	b = le.AppendUint16(b, 62) // EM_X86_64
	b = le.AppendUint32(b, 1)
	b = le.AppendUint64(b, 0)  // entry
	b = le.AppendUint64(b, 64) // program headers right after this header
	b = le.AppendUint64(b, 0)  // no section headers
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 64)
	b = le.AppendUint16(b, 56)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 64)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, 4) // PT_NOTE
	b = le.AppendUint32(b, 4)
	b = le.AppendUint64(b, 120) // the note follows the one program header
	b = le.AppendUint64(b, 0)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint64(b, uint64(len(note)))
	b = le.AppendUint64(b, uint64(len(note)))
	b = le.AppendUint64(b, 4)
	return append(b, note...)
}

// testBzImage packs vmlinux as a bzImage does (boot protocol 2.15): one
// setup sector after the boot sector, a gzip payload with the unpacked
// size appended, found through the setup header's payload fields.
func testBzImage(vmlinux []byte, size uint32) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(vmlinux)
	w.Close()
	payload := binary.LittleEndian.AppendUint32(z.Bytes(), size)
	bz := make([]byte, 2*512)
	bz[0x1f1] = 1
	copy(bz[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(bz[0x206:], 0x020f)
	binary.LittleEndian.PutUint32(bz[0x248:], 0)
	binary.LittleEndian.PutUint32(bz[0x24c:], uint32(len(payload)))
	return append(bz, payload...)
}

func TestUnpackAndEntry(t *testing.T) {
	ctx := context.Background()
	pvhELF := testELF("Xen", 18)
	got, err := Unpack(ctx, testBzImage(pvhELF, uint32(len(pvhELF))))
	if err != nil || !bytes.Equal(got, pvhELF) {
		t.Fatalf("Unpack = %d bytes, %v; want the %d-byte ELF", len(got), err, len(pvhELF))
	}
	if err := HasEntry(got); err != nil {
		t.Errorf("HasEntry on an ELF with the PVH note: %v", err)
	}
	for _, other := range [][]byte{testELF("Xen", 6), testELF("GNU", 18)} {
		if err := HasEntry(other); err == nil {
			t.Errorf("HasEntry accepts an ELF without Xen's PVH note")
		}
	}
	if _, err := Unpack(ctx, testBzImage(pvhELF, uint32(len(pvhELF))+1)); err == nil || !strings.Contains(err.Error(), "says") {
		t.Errorf("Unpack with a wrong appended size = %v; want it refused", err)
	}
	if _, err := Unpack(ctx, pvhELF); err == nil {
		t.Error("Unpack takes an ELF file for a bzImage")
	}
}

// TestKernelFallsBack: a kernel without the PVH entry boots from its
// bzImage (the path comes back with the reason); one with it is unpacked
// once into the cache, sealed.
func TestKernelFallsBack(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	noPVH := filepath.Join(dir, "vmlinuz-nopvh")
	os.WriteFile(noPVH, testBzImage(testELF("Xen", 6), uint32(len(testELF("Xen", 6)))), 0o644)
	if got, err := Kernel(ctx, filepath.Join(dir, "cache"), noPVH, sha(t, noPVH)); got != noPVH || err == nil {
		t.Errorf("Kernel(no PVH note) = %s, %v; want the bzImage and a reason", got, err)
	}
	withPVH := filepath.Join(dir, "vmlinuz")
	elf := testELF("Xen", 18)
	os.WriteFile(withPVH, testBzImage(elf, uint32(len(elf))), 0o644)
	got, err := Kernel(ctx, filepath.Join(dir, "cache"), withPVH, sha(t, withPVH))
	if err != nil || got == withPVH || !strings.HasPrefix(got, filepath.Join(dir, "cache", "vmlinux")) {
		t.Fatalf("Kernel(PVH) = %s, %v; want a vmlinux in the cache", got, err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, elf) {
		t.Errorf("cached vmlinux is not the unpacked ELF")
	}
	if again, err := Kernel(ctx, filepath.Join(dir, "cache"), withPVH, sha(t, withPVH)); again != got || err != nil {
		t.Errorf("second Kernel = %s, %v; want the cached %s", again, err, got)
	}
}

func sha(t *testing.T, path string) string {
	t.Helper()
	sum, err := safefile.SHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
