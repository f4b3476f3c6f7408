package initramfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// TestWithKeys checks that the run's keys go into a segment of their own
// after the cached image, which the kernel unpacks last.
func TestWithKeys(t *testing.T) {
	dir := t.TempDir()
	var base bytes.Buffer
	if err := writeSegment(&base, []cpio.Record{cpio.StaticFile("bin/uinit", "agent", 0o755)}); err != nil {
		t.Fatal(err)
	}
	img := &Image{Path: filepath.Join(dir, "lab.cpio")}
	os.WriteFile(img.Path, base.Bytes(), 0o644)
	out := filepath.Join(dir, "run.cpio")
	sum, err := WithKeys(img, out, []byte("PRIVATE"), []byte("ssh-ed25519 AAAA"))
	if err != nil || len(sum) != 64 {
		t.Fatalf("WithKeys = %q, %v", sum, err)
	}
	b, _ := os.ReadFile(out)
	if !bytes.HasPrefix(b, base.Bytes()) {
		t.Fatalf("run initramfs does not start with the cached image")
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b[base.Len():])))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, r := range recs {
		got[r.Name] = r.Mode
	}
	if got["lab/keys/host_key"]&0o777 != 0o600 || got["lab/keys/authorized_key"] == 0 {
		t.Errorf("keys segment = %v; want lab/keys/host_key (0600) and lab/keys/authorized_key", got)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("run initramfs mode = %v; want 0600 (it holds a private key)", st.Mode().Perm())
	}
}

// TestDamagedCacheEntry checks that a truncated cache entry is noticed by
// its hash and dropped, so it gets built again.
func TestDamagedCacheEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab-x.cpio")
	if err := writeSealed(path, bytes.Repeat([]byte("cpio"), 1000)); err != nil {
		t.Fatal(err)
	}
	if !intact(path, nil) {
		t.Fatalf("intact(fresh entry) = false; want true")
	}
	os.Truncate(path, 100)
	if intact(path, nil) {
		t.Errorf("intact(truncated entry) = true; want false")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("truncated entry still there: %v", err)
	}
}
