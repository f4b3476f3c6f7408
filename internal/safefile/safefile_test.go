package safefile

import (
	"context"
	"os"
	"path/filepath"
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
