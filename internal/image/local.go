package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kernel-lab/lab/internal/safefile"
)

// A local image is a kernel build tree (`make bzImage modules` done in it):
// its bzImage boots, its System.map names addresses without the guest's
// help, its Module.symvers and its own compiler build modules against it
// (make -C TREE M=...). Nothing is fetched and nothing locked: the tree is
// the user's.

// treeFiles are what a built tree must have, and why.
var treeFiles = []struct{ rel, why string }{
	{"arch/x86/boot/bzImage", "the kernel lab boots"},
	{"System.map", "the kernel's symbols"},
	{"Module.symvers", "what modules link against (make modules, or modules_prepare)"},
	{"include/config/kernel.release", "the release string"},
	{"Makefile", "what module builds run (make -C TREE M=DIR)"},
}

var unsafeNameRe = regexp.MustCompile(`[^a-z0-9._-]+`)

// LocalSpec is the spec of a kernel build tree named on the command line
// (lab run --kernel-tree PATH): image "tree-<directory name>".
func LocalSpec(tree string) (*Spec, error) {
	abs, err := filepath.Abs(tree)
	if err != nil {
		return nil, err
	}
	name := "tree-" + strings.Trim(unsafeNameRe.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-.")
	s := &Spec{Name: name, Description: "local kernel tree " + abs, Tree: abs, BootModules: []string{"virtio_pci", "virtio_net"}}
	if _, err := localImage(s); err != nil {
		return nil, err
	}
	return s, nil
}

// treeDir is the spec's tree, relative paths taken from the spec file.
func (s *Spec) treeDir() string {
	if filepath.IsAbs(s.Tree) || s.File == "" {
		return s.Tree
	}
	return filepath.Join(filepath.Dir(s.File), s.Tree)
}

// localImage checks that the tree is built and returns its image, with
// the release and compiler read from the tree.
func localImage(spec *Spec) (*Image, error) {
	dir, err := filepath.Abs(spec.treeDir())
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range treeFiles {
		if _, err := os.Stat(filepath.Join(dir, f.rel)); err != nil {
			missing = append(missing, f.rel+" ("+f.why+")")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("kernel tree %s is not built: it lacks %s; run make bzImage modules in it", dir, strings.Join(missing, ", "))
	}
	b, err := os.ReadFile(filepath.Join(dir, "include/config/kernel.release"))
	if err != nil {
		return nil, err
	}
	s := *spec
	s.Tree = dir
	s.Release = strings.TrimSpace(string(b))
	if s.Compiler == "" {
		if s.Compiler, err = treeCompiler(dir); err != nil {
			return nil, err
		}
	}
	return &Image{Spec: &s, Root: dir}, nil
}

// treeCompiler is the compiler that built the tree, from its .config
// (CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"): modules must be
// built with the same one.
func treeCompiler(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, ".config"))
	if err != nil {
		return "", fmt.Errorf("kernel tree %s: %w", dir, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CONFIG_CC_VERSION_TEXT=")
		if !ok {
			continue
		}
		switch text := strings.Trim(v, `"`); {
		case strings.Contains(text, "clang"):
			return "clang", nil
		case strings.HasPrefix(text, "gcc"):
			return "gcc", nil
		default:
			return "", fmt.Errorf("kernel tree %s: built with %q; name the compiler (compiler: in the spec)", dir, v)
		}
	}
	return "", errors.New("kernel tree " + dir + ": its .config names no compiler (CONFIG_CC_VERSION_TEXT)")
}

// BuildKey identifies the build of the image for caches of what is built
// against it: the package version of a Debian kernel, the hashes of a
// tree's System.map and Module.symvers (a rebuilt tree gets new modules).
func (img *Image) BuildKey() string {
	if img.Spec.Tree == "" {
		return img.Spec.Name + " " + img.Spec.PackageVersion()
	}
	key := img.Spec.Name + " tree " + img.Spec.Release
	for _, f := range []string{"System.map", "Module.symvers"} {
		sum, _ := safefile.SHA256(filepath.Join(img.Root, f))
		key += " " + f + "=" + sum
	}
	return key
}

// DownloadPackage fetches the newest version of a linux-* package that
// suite serves (linux-source-6.1, to build a tree from) into lab's deb
// cache, verified against the archive's index, and returns its path.
func DownloadPackage(ctx context.Context, suite, name string, opts FetchOptions) (string, error) {
	spec := &Spec{Name: "package-" + name, Suite: suite}
	opts, err := opts.withDefaults()
	if err != nil {
		return "", err
	}
	ix, err := indexOf(ctx, spec, opts, false)
	if err != nil {
		return "", err
	}
	p, ok := ix.newest(name)
	if !ok {
		return "", fmt.Errorf("%s does not serve %s", suite, name)
	}
	spec.Packages = []Package{{Name: p.Name, Version: p.Version, SHA256: p.SHA256, Suite: suite, Arch: lockArch(p.Arch)}}
	debs, err := fetchDebs(ctx, spec, opts, opts.Log)
	if err != nil {
		return "", err
	}
	return debs[name], nil
}
