// Package pvh gives QEMU a kernel it can start without decompressing it.
//
// A Debian kernel is a bzImage: a real-mode setup and a decompressor with
// the kernel proper (vmlinux) packed inside, xz on 5.10 and 6.1, zstd on
// 6.12 and 7.2. Under TCG the guest's own decompression is slow: QEMU's
// start to the first kernel line took 3.1 s for debian-6.1, most of it
// unpacking xz one emulated instruction at a time. A vmlinux built with
// CONFIG_PVH has an entry point (the Xen PVH note) that QEMU's -kernel
// starts directly, so lab unpacks the vmlinux once on the host, caches it
// and boots that: the same kernel code, started from its PVH entry.
//
// What differs from a bzImage boot: the decompressor is what applies KASLR,
// so a PVH-started kernel runs at its link address (the module area and
// the direct map are still randomised by the kernel itself). Kernels
// without the PVH note, or packed in a format lab does not unpack, boot
// from their bzImage as before.
package pvh

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"github.com/kernel-lab/lab/internal/safefile"
)

// Kernel returns what QEMU should boot for the bzImage at path, whose
// sha256 is sum (the caller has it: a run records it as provenance): a
// cached vmlinux with a PVH entry under cacheDir, or path itself when the
// kernel has none (why is in the error, for a log line; path is still
// usable).
func Kernel(ctx context.Context, cacheDir, path, sum string) (string, error) {
	if len(sum) < 32 {
		return path, fmt.Errorf("%s: no sha256 to name its vmlinux by", path)
	}
	out := filepath.Join(cacheDir, "vmlinux", sum[:32]+".elf")
	if safefile.Sealed(out) {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return path, err
	}
	unlock, err := safefile.Lock(ctx, out+".lock", nil)
	if err != nil {
		return path, err
	}
	defer unlock()
	if safefile.Sealed(out) {
		return out, nil
	}
	bz, err := os.ReadFile(path)
	if err != nil {
		return path, err
	}
	vmlinux, err := Unpack(ctx, bz)
	if err != nil {
		return path, fmt.Errorf("%s: %w", path, err)
	}
	if err := HasEntry(vmlinux); err != nil {
		return path, fmt.Errorf("%s: %w", path, err)
	}
	if err := safefile.WriteSealed(out, vmlinux); err != nil {
		return path, err
	}
	return out, nil
}

// Unpack returns the vmlinux packed in a bzImage. The boot protocol's
// setup header (2.08 and later) says where the payload is; the build
// appends the unpacked size to it, which checks the result.
func Unpack(ctx context.Context, bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS setup header)")
	}
	if v := binary.LittleEndian.Uint16(bz[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x has no payload fields", v)
	}
	setupSects := int(bz[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[0x248:]))
	n := int(binary.LittleEndian.Uint32(bz[0x24c:]))
	if n < 4 || start < 0 || start+n > len(bz) {
		return nil, fmt.Errorf("payload %d+%d outside the %d-byte file", start, n, len(bz))
	}
	payload := bz[start : start+n]
	size := int(binary.LittleEndian.Uint32(payload[n-4:]))
	var out []byte
	var err error
	switch {
	case bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")):
		// The kernel's xz streams use the x86 BCJ filter, which Go's xz
		// package does not implement; xz-utils does (lab's setup installs it).
		cmd := exec.CommandContext(ctx, "xz", "--decompress", "--stdout", "--single-stream")
		cmd.Stdin = bytes.NewReader(payload)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			err = fmt.Errorf("xz: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
	case bytes.HasPrefix(payload, []byte("\x28\xb5\x2f\xfd")):
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<30)); err == nil {
			// The appended size is not a frame: decode the frame alone.
			out, err = d.DecodeAll(payload[:n-4], nil)
			d.Close()
		}
	case bytes.HasPrefix(payload, []byte("\x1f\x8b")):
		var r *gzip.Reader
		if r, err = gzip.NewReader(bytes.NewReader(payload)); err == nil {
			r.Multistream(false)
			out, err = io.ReadAll(r)
		}
	default:
		return nil, fmt.Errorf("payload packed in a format lab does not unpack (starts % x)", payload[:min(4, len(payload))])
	}
	if err != nil {
		return nil, err
	}
	if len(out) != size {
		return nil, fmt.Errorf("unpacked %d bytes; the bzImage says %d", len(out), size)
	}
	return out, nil
}

// xenPHYS32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the PVH entry note.
const xenPHYS32Entry = 18

// HasEntry says whether vmlinux is an ELF kernel with a PVH entry note.
func HasEntry(vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return fmt.Errorf("unpacked kernel: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return err
		}
		for len(b) >= 12 {
			nameLen := int(f.ByteOrder.Uint32(b))
			descLen := int(f.ByteOrder.Uint32(b[4:]))
			typ := f.ByteOrder.Uint32(b[8:])
			name := align4(nameLen)
			if 12+name+align4(descLen) > len(b) {
				break
			}
			if typ == xenPHYS32Entry && string(bytes.TrimRight(b[12:12+nameLen], "\x00")) == "Xen" {
				return nil
			}
			b = b[12+name+align4(descLen):]
		}
	}
	return errors.New("the kernel has no PVH entry (CONFIG_PVH is off)")
}

func align4(n int) int { return (n + 3) &^ 3 }
