package kmod

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/kernel-lab/lab/internal/image"
)

// fakeModule is the smallest ELF file ModInfo accepts as a module: a
// relocatable x86-64 object whose .modinfo section holds fields
// ("name=x", "depends=a,b" ...). withModinfo false leaves the section out.
func fakeModule(t *testing.T, withModinfo bool, fields ...string) []byte {
	t.Helper()
	modinfo := ""
	for _, f := range fields {
		modinfo += f + "\x00"
	}
	const shstr = "\x00.modinfo\x00.shstrtab\x00" // names at 1 and 10
	const ehsize, shentsize = 64, 64
	modOff := ehsize
	strOff := modOff + len(modinfo)
	shOff := (strOff + len(shstr) + 7) &^ 7
	secs := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: uint64(modOff), Size: uint64(len(modinfo)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: uint64(strOff), Size: uint64(len(shstr)), Addralign: 1},
	}
	if !withModinfo {
		secs[1].Name = 10 // two .shstrtab sections, no .modinfo
		secs[1].Type = uint32(elf.SHT_NOTE)
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(shOff), Ehsize: ehsize, Shentsize: shentsize, Shnum: uint16(len(secs)), Shstrndx: 2,
	}
	copy(hdr.Ident[:], []byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)})
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, hdr)
	b.WriteString(modinfo)
	b.WriteString(shstr)
	b.Write(make([]byte, shOff-b.Len()))
	for _, s := range secs {
		binary.Write(&b, binary.LittleEndian, s)
	}
	return b.Bytes()
}

// xzGo compresses with the Go library (its defaults: CRC64 check).
func xzGo(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// xzTool compresses the way kbuild does (scripts/Makefile.modinst:
// xz --check=crc32 --lzma2=dict=1MiB), with the xz program.
func xzTool(t *testing.T, data []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz program on this host")
	}
	cmd := exec.Command("xz", "--check=crc32", "--lzma2=dict=1MiB", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeBytes(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fetchedImage fetches images/<name>.yaml into lab's cache ($LAB_CACHE or
// the default), which the rest of the suite and lab itself share: it
// downloads only what the cache lacks. Skipped with -short.
func fetchedImage(t *testing.T, name string) *image.Image {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real " + name + " kernel packages; skipped with -short")
	}
	fetched.Lock()
	defer fetched.Unlock()
	if img := fetched.m[name]; img != nil {
		return img
	}
	spec, err := image.LoadSpec(filepath.Join("..", "..", "images", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := image.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	img, err := image.Fetch(ctx, spec, image.FetchOptions{CacheDir: cache})
	if err != nil {
		t.Fatalf("fetching %s (needs the network the first time): %v", name, err)
	}
	if fetched.m == nil {
		fetched.m = map[string]*image.Image{}
	}
	fetched.m[name] = img
	return img
}

var fetched struct {
	sync.Mutex
	m map[string]*image.Image
}

func TestModInfoCompressed(t *testing.T) {
	mod := fakeModule(t, true, "name=fake_mod", "license=GPL", "depends=virtio,virtio_ring", "alias=a1", "alias=a2", "vermagic=6.12.115+deb12-amd64 SMP preempt mod_unload modversions ")
	noInfo := fakeModule(t, false)
	tests := []struct {
		name string
		file func(t *testing.T, dir string) string
		want map[string]string
		// releaseOf, for the real modules: the image whose release vermagic names.
		releaseOf string // the image whose release the vermagic names
		err       string
	}{
		{name: "plain .ko", file: func(t *testing.T, dir string) string {
			return writeBytes(t, filepath.Join(dir, "fake_mod.ko"), mod)
		}},
		{name: ".ko.xz as kbuild makes it", file: func(t *testing.T, dir string) string {
			return writeBytes(t, filepath.Join(dir, "fake_mod.ko.xz"), xzTool(t, mod))
		}},
		{name: ".ko.xz with a CRC64 check", file: func(t *testing.T, dir string) string {
			return writeBytes(t, filepath.Join(dir, "fake_mod.ko.xz"), xzGo(t, mod))
		}},
		{name: "two concatenated xz streams", file: func(t *testing.T, dir string) string {
			half := len(mod) / 2
			return writeBytes(t, filepath.Join(dir, "fake_mod.ko.xz"), append(xzGo(t, mod[:half]), xzGo(t, mod[half:])...))
		}},
		{name: "real 6.12 virtio_net.ko.xz", file: func(t *testing.T, dir string) string {
			img := fetchedImage(t, "debian-6.12")
			return filepath.Join(img.ModulesDir(), "kernel", "drivers", "net", "virtio_net.ko.xz")
		}, want: map[string]string{"name": "virtio_net", "depends": "net_failover", "license": "GPL", "intree": "Y"}, releaseOf: "debian-6.12"},
		{name: "real 7.2 failover.ko.xz", file: func(t *testing.T, dir string) string {
			img := fetchedImage(t, "debian-7.2")
			return filepath.Join(img.ModulesDir(), "kernel", "net", "core", "failover.ko.xz")
		}, want: map[string]string{"name": "failover", "depends": "", "license": "GPL v2", "intree": "Y"}, releaseOf: "debian-7.2"},
		{name: "not xz", file: func(t *testing.T, dir string) string {
			return writeBytes(t, filepath.Join(dir, "m.ko.xz"), mod)
		}, err: "xz: "},
		{name: "truncated xz", file: func(t *testing.T, dir string) string {
			c := xzGo(t, mod)
			return writeBytes(t, filepath.Join(dir, "m.ko.xz"), c[:len(c)-20])
		}, err: "xz: "},
		{name: "corrupt xz", file: func(t *testing.T, dir string) string {
			c := xzGo(t, mod)
			c[len(c)/2] ^= 0xff
			return writeBytes(t, filepath.Join(dir, "m.ko.xz"), c)
		}, err: "xz: "},
		{name: "xz of something else", file: func(t *testing.T, dir string) string {
			return writeBytes(t, filepath.Join(dir, "m.ko.xz"), xzGo(t, []byte("not an ELF file at all\n")))
		}, err: "bad magic"},
		{name: "xz of ELF without modinfo", file: func(t *testing.T, dir string) string {
			return writeBytes(t, filepath.Join(dir, "m.ko.xz"), xzGo(t, noInfo))
		}, err: "no .modinfo section"},
		{name: "missing .ko.xz", file: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "nope.ko.xz")
		}, err: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file(t, t.TempDir())
			info, err := ModInfo(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "modinfo "+path) {
					t.Fatalf("got %v, %v; want an error about %s containing %q", info, err, path, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == nil {
				want = map[string]string{"name": "fake_mod", "license": "GPL", "depends": "virtio,virtio_ring", "alias": "a1\na2"}
			}
			for k, v := range want {
				if got, ok := info[k]; !ok || got != v {
					t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			// The release of the build the image resolved to today (the
			// lock, or the build it followed), never a literal that goes stale.
			if tc.releaseOf != "" {
				if rel := fetchedImage(t, tc.releaseOf).Spec.Release; !strings.HasPrefix(info["vermagic"], rel+" ") {
					t.Errorf("vermagic %q, want release %s", info["vermagic"], rel)
				}
			}
		})
	}
}

func TestLoadOrder(t *testing.T) {
	tree := t.TempDir()
	mod := func(rel string, compress bool, depends string) {
		data := fakeModule(t, true, "name="+canonical(strings.TrimSuffix(filepath.Base(rel), ".ko")), "depends="+depends)
		if compress {
			data = xzGo(t, data)
			rel += ".xz"
		}
		writeBytes(t, filepath.Join(tree, rel), data)
	}
	// virtio_net's chain as on 6.1, compressed and not, mixed.
	mod("kernel/drivers/virtio/virtio.ko", true, "")
	mod("kernel/drivers/virtio/virtio_ring.ko", false, "virtio")
	mod("kernel/drivers/virtio/virtio_pci.ko", true, "virtio_ring,virtio,virtio_pci_modern_dev")
	mod("kernel/drivers/virtio/virtio_pci_modern_dev.ko", true, "")
	mod("kernel/net/core/failover.ko", true, "")
	mod("kernel/drivers/net/net_failover.ko", false, "failover")
	mod("kernel/drivers/net/virtio-net.ko", true, "net_failover,virtio_ring") // file name with a dash
	mod("kernel/both/dup.ko", false, "")
	mod("kernel/both/dup.ko", true, "")
	mod("kernel/loop/loop_a.ko", true, "loop_b")
	mod("kernel/loop/loop_b.ko", true, "loop_a")
	mod("kernel/broken/needs_ghost.ko", true, "ghost")
	writeBytes(t, filepath.Join(tree, "kernel/notes/readme.ko.txt"), []byte("not a module"))
	// As Debian's modules.builtin lists them: built-in boot modules (virtio_pci
	// since 6.12) have nothing to load; a dependency never is built in.
	writeBytes(t, filepath.Join(tree, "modules.builtin"), []byte("kernel/drivers/virtio/virtio-mmio.ko\nkernel/net/core/ghost.ko\n"))
	writeBytes(t, filepath.Join(tree, "kernel/bad/garbage.ko.xz"), []byte("not xz"))

	rel := func(paths []string) string {
		var out []string
		for _, p := range paths {
			r, _ := filepath.Rel(tree, p)
			out = append(out, filepath.Base(r))
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		names     []string
		want, err string
	}{
		{names: []string{"virtio_net"}, want: "failover.ko.xz net_failover.ko virtio.ko.xz virtio_ring.ko virtio-net.ko.xz"},
		{names: []string{"virtio_pci", "virtio-net"}, want: "virtio.ko.xz virtio_ring.ko virtio_pci_modern_dev.ko.xz virtio_pci.ko.xz failover.ko.xz net_failover.ko virtio-net.ko.xz"},
		{names: []string{"virtio_net", "virtio_net", "failover"}, want: "failover.ko.xz net_failover.ko virtio.ko.xz virtio_ring.ko virtio-net.ko.xz"},
		{names: []string{"dup"}, want: "dup.ko"},
		{names: nil, want: ""},
		{names: []string{"virtio_mmio", "virtio_net"}, want: "failover.ko.xz net_failover.ko virtio.ko.xz virtio_ring.ko virtio-net.ko.xz"},
		{names: []string{"virtio_blk"}, err: "module virtio_blk is not in " + tree + " (built in, or misspelt?)"},
		{names: []string{"needs_ghost"}, err: "module ghost (needed by needs_ghost) is not in"},
		{names: []string{"loop_a"}, err: "module dependency loop at loop_a"},
		{names: []string{"garbage"}, err: "garbage.ko.xz: xz: "},
		{names: []string{"readme"}, err: "module readme is not in"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.names, ","), func(t *testing.T) {
			got, err := LoadOrder(tree, tc.names)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", rel(got), err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rel(got) != tc.want {
				t.Errorf("got %q, want %q", rel(got), tc.want)
			}
		})
	}
}

// The boot modules of the real kernels whose modules are .ko.xz.
func TestLoadOrderReal(t *testing.T) {
	for _, tc := range []struct{ image, want string }{
		{"debian-6.12", "failover.ko.xz net_failover.ko.xz virtio_net.ko.xz"},
		{"debian-7.2", "failover.ko.xz net_failover.ko.xz virtio_net.ko.xz"},
	} {
		t.Run(tc.image, func(t *testing.T) {
			img := fetchedImage(t, tc.image)
			got, err := LoadOrder(img.ModulesDir(), img.Spec.BootModules)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, filepath.Base(p))
			}
			if strings.Join(names, " ") != tc.want {
				t.Errorf("got %v, want %s", names, tc.want)
			}
			// virtio_pci is built in there (modules.builtin says so):
			// nothing to load, no error; a module that is neither is one.
			if got, err := LoadOrder(img.ModulesDir(), []string{"virtio_pci"}); err != nil || len(got) != 0 {
				t.Errorf("LoadOrder(virtio_pci) = %v, %v; want nothing to load", got, err)
			}
			if _, err := LoadOrder(img.ModulesDir(), []string{"no_such_mod"}); err == nil || !strings.Contains(err.Error(), "built in, or misspelt?") {
				t.Errorf("LoadOrder(no_such_mod): %v", err)
			}
		})
	}
}

func TestModuleFileName(t *testing.T) {
	for in, want := range map[string]string{
		"virtio_net.ko": "virtio_net", "virtio-net.ko.xz": "virtio-net",
		"x.ko.zst": "", "x.ko.gz": "", "x.o": "", ".ko": "", ".ko.xz": "", "ko": "",
	} {
		got, ok := moduleFileName(in)
		if got != want || ok != (want != "") {
			t.Errorf("moduleFileName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
