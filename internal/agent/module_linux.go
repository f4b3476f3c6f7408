package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kernel-lab/lab/internal/kallsyms"
	"github.com/kernel-lab/lab/internal/protocol"
)

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

// moduleLayout records where a loaded module lies, before it is unloaded.
// It needs root (the section files are 0400) and kptr_restrict below 2.
func moduleLayout(name string) (*protocol.ModuleLayout, error) {
	l := &protocol.ModuleLayout{Name: name, Sections: map[string]uint64{}}
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		return nil, err
	}
	for _, m := range kallsyms.ParseProcModules(string(mods)) {
		if m.Name == name {
			l.Base, l.Size = m.Base, m.Size
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
	l.Uptime = uptime()
	return l, nil
}

// uptime is /proc/uptime's first field: seconds since boot. It is not the
// kernel log's clock (under TCG the two drift apart), so it only dates a
// layout; ordering against reports uses the agent's kernel log lines.
func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[0], 64)
	return u
}
