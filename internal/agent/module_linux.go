package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"lab/internal/guest"
)

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// loadModule loads a .ko file by finit_module. Compressed modules (.ko.xz,
// .ko.zst on 6.12+) are handed to the kernel to decompress.
func loadModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if n := len(path); n > 3 && (path[n-3:] == ".xz" || path[n-4:] == ".zst") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

// deleteModule unloads a module the way rmmod does: O_NONBLOCK, so a module
// in use fails with EWOULDBLOCK instead of waiting.
func deleteModule(name string) error {
	if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("delete_module %s: %w", name, err)
	}
	return nil
}

// moduleLayout records where a loaded module lies, before it is unloaded.
// It needs root (the section files are 0400) and kptr_restrict below 2.
func moduleLayout(name string) (*guest.ModuleLayout, error) {
	l := &guest.ModuleLayout{Name: name, Sections: map[string]uint64{}}
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(mods), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == name {
			l.Size, _ = strconv.ParseUint(f[1], 10, 64)
			l.Base, _ = strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 64)
		}
	}
	secs, _ := filepath.Glob(filepath.Join("/sys/module", name, "sections", ".*"))
	for _, p := range secs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if a, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 64); err == nil && a != 0 {
			l.Sections[filepath.Base(p)] = a
		}
	}
	if l.Base == 0 && len(l.Sections) == 0 {
		return nil, fmt.Errorf("module %s is not loaded", name)
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			l.Uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return l, nil
}
