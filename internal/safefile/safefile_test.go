package safefile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two"} {
		if err := WriteAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("WriteAtomic(%q) left %q", content, b)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries; want only the file (no temporaries)", len(entries))
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "f"), nil); err == nil {
		t.Errorf("WriteAtomic into a missing directory succeeded")
	}
}

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l")
	unlock, err := Lock(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, p, nil); err == nil {
		t.Fatalf("second Lock while held succeeded")
	}
	unlock()
	unlock2, err := Lock(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2's example digest of "abc".
	if sum, err := SHA256(p); err != nil || sum != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("SHA256 = %q, %v", sum, err)
	}
	if _, err := SHA256(p + ".missing"); err == nil {
		t.Error("SHA256 of a missing file: no error")
	}
}

func TestSealed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	if Sealed(path) {
		t.Fatal("Sealed(missing) = true")
	}
	if err := WriteSealed(path, []byte("content")); err != nil {
		t.Fatal(err)
	}
	if !Sealed(path) {
		t.Fatal("Sealed after WriteSealed = false")
	}
	if err := os.WriteFile(path, []byte("conten"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Sealed(path) {
		t.Error("Sealed(truncated) = true")
	}
	if err := Seal(path); err != nil || !Sealed(path) {
		t.Errorf("Seal then Sealed: %v", err)
	}
}

// The seal's note lets a check skip hashing only while the file is as it
// was: a write that keeps the size and puts the modification time back
// still moves the change time, and the next check hashes and refuses it.
func TestSealedNote(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	if err := WriteSealed(path, []byte("content")); err != nil {
		t.Fatal(err)
	}
	if !Sealed(path) {
		t.Fatal("Sealed after WriteSealed = false")
	}
	seal, err := os.ReadFile(SealOf(path))
	if err != nil || !strings.Contains(string(seal), "\nchecked size 7 ") {
		t.Fatalf("seal after a check = %q, %v; want the hash and a note", seal, err)
	}
	if !Sealed(path) {
		t.Fatal("Sealed by the note = false")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a change time the write can move
	if err := os.WriteFile(path, []byte("CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if Sealed(path) {
		t.Error("Sealed(same size, same mtime, other content) = true")
	}
	// A seal without a note, as older labs wrote: checked by hashing.
	if err := Seal(path); err != nil || !Sealed(path) {
		t.Errorf("Seal then Sealed: %v", err)
	}
}

// BenchmarkSealed compares a check by the seal's note with one that
// hashes a 64 MiB entry (a vmlinux is 65 MB, a snapshot about 110 MB).
func BenchmarkSealed(b *testing.B) {
	path := filepath.Join(b.TempDir(), "entry")
	if err := WriteSealed(path, make([]byte, 64<<20)); err != nil {
		b.Fatal(err)
	}
	b.Run("hashed", func(b *testing.B) {
		for b.Loop() {
			if err := Seal(path); err != nil || !Sealed(path) {
				b.Fatal("not sealed")
			}
		}
	})
	b.Run("noted", func(b *testing.B) {
		for b.Loop() {
			if !Sealed(path) {
				b.Fatal("not sealed")
			}
		}
	})
}
