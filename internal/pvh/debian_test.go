package pvh

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// debianKernels returns one cached Debian bzImage per image (debian-5.10,
// debian-6.1 …) under lab's cache ($LAB_CACHE, else the user's cache
// directory's lab/), where `lab` has fetched them.
func debianKernels(t *testing.T) map[string]string {
	t.Helper()
	cache := os.Getenv("LAB_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Skip("no cache directory")
		}
		cache = filepath.Join(d, "lab")
	}
	paths, _ := filepath.Glob(filepath.Join(cache, "images", "debian-*", "*", "root", "boot", "vmlinuz-*"))
	out := map[string]string{}
	for _, p := range paths {
		if strings.HasSuffix(p, "-arm64") {
			continue // an arm64 kernel is an Image, no bzImage: QEMU boots it as it is
		}
		image := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(p)))))
		if _, ok := out[image]; !ok {
			out[image] = p
		}
	}
	if len(out) == 0 {
		t.Skip("no Debian kernel in lab's cache (lab fetches them on a first run)")
	}
	return out
}

// TestDebianKernels checks the synthetic bzImages of the other tests
// against real ones: each cached Debian kernel has the setup header they
// build (boot protocol 2.08 or later, the payload inside the file, packed
// with xz or zstd, its unpacked size appended), and unpacks to an x86-64
// ELF vmlinux with the PVH entry note. Unpacking takes seconds a kernel:
// not with -short.
func TestDebianKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("unpacks real kernels: seconds each")
	}
	for image, path := range debianKernels(t) {
		t.Run(image, func(t *testing.T) {
			bz, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			le := binary.LittleEndian
			if string(bz[0x202:0x206]) != "HdrS" || le.Uint16(bz[0x206:]) < 0x208 {
				t.Fatalf("%s: setup header %q, protocol %#x", path, bz[0x202:0x206], le.Uint16(bz[0x206:]))
			}
			sects := int(bz[0x1f1])
			start := (sects+1)*512 + int(le.Uint32(bz[0x248:]))
			n := int(le.Uint32(bz[0x24c:]))
			if start+n > len(bz) {
				t.Fatalf("%s: payload %d+%d past the end (%d)", path, start, n, len(bz))
			}
			payload := bz[start : start+n]
			if !bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")) && !bytes.HasPrefix(payload, []byte("\x28\xb5\x2f\xfd")) {
				t.Errorf("%s: payload starts % x; want xz or zstd", path, payload[:4])
			}
			vmlinux, err := Unpack(context.Background(), bz)
			if err != nil {
				t.Fatalf("Unpack(%s): %v", path, err)
			}
			if len(vmlinux) != int(le.Uint32(payload[n-4:])) {
				t.Errorf("%s: %d bytes unpacked; the bzImage says %d", path, len(vmlinux), le.Uint32(payload[n-4:]))
			}
			f, err := elf.NewFile(bytes.NewReader(vmlinux))
			if err != nil || f.Machine != elf.EM_X86_64 {
				t.Fatalf("%s: unpacked vmlinux is not an x86-64 ELF: %v", path, err)
			}
			if err := HasEntry(vmlinux); err != nil {
				t.Errorf("%s: %v (Debian builds with CONFIG_PVH)", path, err)
			}
		})
	}
}
