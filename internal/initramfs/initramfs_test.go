package initramfs

import (
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/safefile"

	"github.com/u-root/u-root/pkg/cpio"
)

// TestWithKeys checks that the run's keys go into a segment of their own
// after the cached image, which the kernel unpacks last.
func TestWithKeys(t *testing.T) {
	dir := t.TempDir()
	var base bytes.Buffer
	if err := writeSegment(&base, []cpio.Record{cpio.StaticFile("init", "agent", 0o755)}); err != nil {
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
	if err := safefile.WriteSealed(path, bytes.Repeat([]byte("cpio"), 1000)); err != nil {
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

// TestLabFilesStripped: the experiment modules go in without their debug
// sections but with their code (the host keeps the full .ko to name
// addresses).
func TestLabFilesStripped(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	os.WriteFile(src, []byte("int lab_fn(int x) { return x + 1; }\n"), 0o644)
	ko := filepath.Join(dir, "m.ko")
	if out, err := exec.Command("gcc", "-g", "-c", "-o", ko, src).CombinedOutput(); err != nil {
		t.Skipf("no gcc to make a module stand-in: %v\n%s", err, out)
	}
	if !hasSection(t, ko, ".debug_info") {
		t.Fatalf("the stand-in module has no .debug_info to strip")
	}
	agentBin := filepath.Join(dir, "agent")
	os.WriteFile(agentBin, []byte("AGENT"), 0o755)
	files, err := labFiles(context.Background(), labBinaries{agent: agentBin, holder: agentBin, init: agentBin}, Options{Modules: map[string]string{"m": ko}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var m *cpio.Record
	for i := range files {
		if files[i].Name == "lab/modules/m.ko" {
			m = &files[i]
		}
	}
	if m == nil {
		t.Fatalf("no lab/modules/m.ko in %v", files)
	}
	packed := filepath.Join(dir, "packed.ko")
	b, _ := io.ReadAll(io.NewSectionReader(m.ReaderAt, 0, int64(m.FileSize)))
	os.WriteFile(packed, b, 0o644)
	if hasSection(t, packed, ".debug_info") || !hasSection(t, packed, ".text") {
		t.Errorf("packed module: want .text and no .debug_info")
	}
	if !hasSection(t, ko, ".debug_info") {
		t.Errorf("the host's .ko lost its debug sections")
	}
}

func hasSection(t *testing.T, path, name string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Section(name) != nil
}

// TestCorePathFollowsModuleGraph: u-root's commands are built from the
// checkout's go.mod and go.sum, so the cached archive's name changes with
// them (a dependency fix must not be hidden by an old archive) and only
// with them.
func TestCorePathFollowsModuleGraph(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example\n")
	write("go.sum", "github.com/charmbracelet/bubbletea v0.24.1 h1:x=\n")
	before := corePath("/cache", root, arch.AMD64)
	if again := corePath("/cache", root, arch.AMD64); again != before {
		t.Errorf("corePath changed with nothing changed: %s, then %s", before, again)
	}
	write("go.sum", "github.com/charmbracelet/bubbletea v0.25.0 h1:y=\n")
	if after := corePath("/cache", root, arch.AMD64); after == before {
		t.Errorf("corePath = %s before and after go.sum changed", after)
	}
}
