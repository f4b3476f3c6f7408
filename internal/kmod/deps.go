package kmod

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrder finds the named modules in a kernel's module tree (lib/modules/
// RELEASE) and returns their files with every dependency first, as modprobe
// would load them. It reads each module's own depends= field, so it needs no
// modules.dep (Debian's packages ship none). Modules may be .ko or .ko.xz
// files (Debian compresses them since 6.12); the paths returned are the
// files as they are, which the guest agent loads with
// MODULE_INIT_COMPRESSED_FILE.
func LoadOrder(modulesDir string, names []string) ([]string, error) {
	index := map[string]string{}
	err := filepath.WalkDir(modulesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		base, ok := moduleFileName(d.Name())
		if !ok {
			return nil
		}
		name := canonical(base)
		// Both forms of one module should not happen; when they do, the
		// plain file wins, whatever order the walk found them in.
		if old, dup := index[name]; dup && strings.HasSuffix(old, ".ko") {
			return nil
		}
		index[name] = path
		return nil
	})
	if err != nil {
		return nil, err
	}
	builtin := builtinModules(modulesDir)
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		name = canonical(name)
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency loop at %s", name)
		case 2:
			return nil
		}
		path, ok := index[name]
		if !ok && from == "" && builtin[name] {
			// Built into this kernel (virtio_pci since 6.12): nothing
			// to load.
			state[name] = 2
			return nil
		}
		if !ok {
			if from != "" {
				return fmt.Errorf("module %s (needed by %s) is not in %s", name, from, modulesDir)
			}
			return fmt.Errorf("module %s is not in %s (built in, or misspelt?)", name, modulesDir)
		}
		state[name] = 1
		info, err := ModInfo(path)
		if err != nil {
			return err
		}
		for _, d := range Depends(info) {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, path)
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleFileName returns the module file name without its .ko or .ko.xz
// suffix, and whether it is a module file at all.
func moduleFileName(file string) (string, bool) {
	for _, suf := range []string{".ko", ".ko.xz"} {
		if base, ok := strings.CutSuffix(file, suf); ok && base != "" {
			return base, true
		}
	}
	return "", false
}

// canonical treats - and _ in module names alike, as the kernel does.
func canonical(name string) string { return strings.ReplaceAll(name, "-", "_") }

// builtinModules are the modules built into the kernel, from its
// modules.builtin (kernel/drivers/virtio/virtio_pci.ko a line); none when
// the file is missing.
func builtinModules(modulesDir string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(modulesDir, "modules.builtin"))
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if base, ok := moduleFileName(filepath.Base(strings.TrimSpace(line))); ok {
			out[canonical(base)] = true
		}
	}
	return out
}
