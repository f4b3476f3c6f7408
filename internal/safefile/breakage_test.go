package safefile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadSealedRefusesChangedContent: a sealed entry whose bytes changed
// (same size) is refused by ReadSealed, which must hash what it read.
func TestReadSealedRefusesChangedContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	if err := WriteSealed(path, []byte("content")); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadSealed(path); err != nil || string(b) != "content" {
		t.Fatalf("ReadSealed = %q, %v", b, err)
	}
	if err := os.WriteFile(path, []byte("CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadSealed(path); err == nil {
		t.Errorf("ReadSealed of changed content = %q; want it refused", b)
	}
	if _, err := ReadSealed(filepath.Join(t.TempDir(), "unsealed")); err == nil {
		t.Error("ReadSealed of a file without a seal succeeded")
	}
}

// TestWriteAtomicReplaces: a reader that opened the old file keeps reading
// the old bytes (the new file is another inode, renamed over), and a
// failed write leaves the old file whole with no temporary file beside.
func TestWriteAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "result.json")
	if err := os.WriteFile(path, []byte("old result"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var before syscall.Stat_t
	syscall.Stat(path, &before)
	if err := WriteAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	var after syscall.Stat_t
	syscall.Stat(path, &after)
	buf := make([]byte, 64)
	n, _ := old.ReadAt(buf, 0)
	if string(buf[:n]) != "old result" || before.Ino == after.Ino {
		t.Errorf("the open old file reads %q after WriteAtomic (inode %d → %d); want the old bytes in another inode", buf[:n], before.Ino, after.Ino)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("path holds %q; want new", b)
	}
	// A directory that cannot take the temporary file: the write fails and
	// the file is untouched.
	if os.Geteuid() != 0 {
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if err := WriteAtomic(path, []byte("lost")); err == nil {
			t.Error("WriteAtomic into a read-only directory succeeded")
		}
		if b, _ := os.ReadFile(path); string(b) != "new" {
			t.Errorf("after a failed write path holds %q", b)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries; want only the file", len(entries))
	}
}

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "console.log"), filepath.Join(dir, "copy.log")
	os.WriteFile(src, []byte("kernel said\n"), 0o600)
	os.WriteFile(dst, []byte("old"), 0o600)
	if err := Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "kernel said\n" {
		t.Errorf("copy holds %q", b)
	}
	if err := Copy(dst, filepath.Join(dir, "missing")); err == nil {
		t.Error("Copy of a missing file succeeded")
	}
	if b, _ := os.ReadFile(dst); string(b) != "kernel said\n" {
		t.Errorf("a failed copy changed the destination: %q", b)
	}
	if err := Copy(filepath.Join(dir, "no", "such", "dir"), src); err == nil {
		t.Error("Copy into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d entries after the copies; want the two files, no temporary one", len(entries))
	}
	if _, err := SHA256(filepath.Join(dir, "missing")); err == nil {
		t.Error("SHA256 of a missing file succeeded")
	}
}
