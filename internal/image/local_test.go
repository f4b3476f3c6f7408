package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree lays out what a built kernel tree has.
func fakeTree(t *testing.T, release, cc string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "Linux 6.1 (mine)")
	for rel, content := range map[string]string{
		"arch/x86/boot/bzImage":         "kernel",
		"System.map":                    "ffffffff81000000 T _text\n",
		"Module.symvers":                "0x00000000\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n",
		"include/config/kernel.release": release + "\n",
		"Makefile":                      "# top\n",
		".config":                       "CONFIG_X=y\nCONFIG_CC_VERSION_TEXT=\"" + cc + "\"\n",
		"modules.builtin":               "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/net/virtio_net.ko\n",
	} {
		mustWrite(t, filepath.Join(dir, rel), content)
	}
	return dir
}

func TestLocalTree(t *testing.T) {
	dir := fakeTree(t, "6.1.192-lab", "gcc (Debian 12.2.0-14+deb12u1) 12.2.0")
	s, err := LocalSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "tree-linux-6.1-mine" || s.Tree != dir {
		t.Errorf("LocalSpec(%s) = name %q tree %q; want tree-linux-6.1-mine", dir, s.Name, s.Tree)
	}
	img, err := Fetch(t.Context(), s, FetchOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if img.Spec.Release != "6.1.192-lab" || img.Spec.Compiler != "gcc" || img.Resolution.Followed {
		t.Errorf("tree image: release %q compiler %q", img.Spec.Release, img.Spec.Compiler)
	}
	for got, want := range map[string]string{
		img.KernelPath():    filepath.Join(dir, "arch/x86/boot/bzImage"),
		img.SystemMapPath(): filepath.Join(dir, "System.map"),
		img.HeadersDir():    dir,
		img.ModulesDir():    dir,
	} {
		if got != want {
			t.Errorf("path %s; want %s", got, want)
		}
	}
	// A rebuilt tree is another build for the module cache.
	key := img.BuildKey()
	mustWrite(t, filepath.Join(dir, "System.map"), "ffffffff81000000 T _text\nffffffff81000010 T more\n")
	if img.BuildKey() == key {
		t.Error("BuildKey did not change with System.map")
	}

	clang := fakeTree(t, "6.1.0", "Debian clang version 16.0.6 (15)")
	if s, err := LocalSpec(clang); err != nil {
		t.Fatal(err)
	} else if img, err := localImage(s); err != nil || img.Spec.Compiler != "clang" {
		t.Errorf("clang tree: %v, %v", img, err)
	}

	unbuilt := fakeTree(t, "6.1.0", "gcc 12")
	os.Remove(filepath.Join(unbuilt, "arch/x86/boot/bzImage"))
	os.Remove(filepath.Join(unbuilt, "Module.symvers"))
	_, err = LocalSpec(unbuilt)
	for _, want := range []string{"is not built: it lacks arch/x86/boot/bzImage (the kernel lab boots), Module.symvers", "run make bzImage modules in it"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unbuilt tree: %v; want %q", err, want)
		}
	}
}

func TestLocalTreeSpec(t *testing.T) {
	dir := fakeTree(t, "6.1.192-lab", "gcc 12")
	f := writeSpec(t, "mine", "name: mine\ntree: "+dir+"\nboot_modules: [virtio_net]\n")
	s, err := LoadSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := Fetch(t.Context(), s, FetchOptions{CacheDir: t.TempDir()}); err != nil || img.Spec.Release != "6.1.192-lab" {
		t.Errorf("tree spec: %v, %v", img, err)
	}
	checkSpecErrors(t, []specErrorCase{{"tree with a suite", "name: test-1\ntree: " + dir + "\nsuite: sid\n",
		[]string{`:3: suite makes no sense for a local tree`}}})
}
