package runner

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/results"
)

// GDBModule is a loaded module for gdb: its object file and where it lies.
type GDBModule struct {
	Path   string
	Layout results.ModuleLayout
}

// GDBCommand is the gdb command line that attaches to QEMU's gdbstub on
// port and loads each module's symbols where the guest put its sections
// (modules without a .text address are left out: gdb needs one). A guest
// of another architecture than the host's takes gdb-multiarch (Debian's
// gdb debugs the host's architecture only), told the architecture.
func GDBCommand(a arch.Arch, port int, mods []GDBModule) string {
	parts := []string{"gdb"}
	if !a.Native() {
		parts = []string{"gdb-multiarch", "-ex", shellQuote("set architecture " + a.GDBArch)}
	}
	parts = append(parts, "-ex", shellQuote(fmt.Sprintf("target remote 127.0.0.1:%d", port)))
	for _, m := range mods {
		text, ok := m.Layout.Sections[".text"]
		if !ok {
			continue
		}
		var names []string
		for n := range m.Layout.Sections {
			if n != ".text" && !skipGDBSection(n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		c := fmt.Sprintf("add-symbol-file %s %#x", m.Path, text)
		for _, n := range names {
			c += fmt.Sprintf(" -s %s %#x", n, m.Layout.Sections[n])
		}
		parts = append(parts, "-ex", shellQuote(c))
	}
	return strings.Join(parts, " ")
}

// skipGDBSection leaves out what gdb cannot place or what is gone: the
// module's kallsyms copies of its symbol tables (not sections gdb loads)
// and the init sections, freed once the module's init returned.
func skipGDBSection(name string) bool {
	return name == ".symtab" || name == ".strtab" || strings.HasPrefix(name, ".init.")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// gdbCmdline adds nokaslr under --gdb: with KASLR the addresses in gdb's
// symbols (and in the printed add-symbol-file lines of later boots) would
// not be where the kernel runs.
func (s *session) gdbCmdline(cmdline string) string {
	if !s.o.GDB {
		return cmdline
	}
	return cmdline + " nokaslr"
}

// loadedModules are the modules loaded now, with their latest layouts.
func (s *session) loadedModules() []GDBModule {
	last := map[string]results.ModuleLayout{}
	var order []string
	for _, l := range s.r.Modules {
		if _, seen := last[l.Name]; !seen {
			order = append(order, l.Name)
		}
		last[l.Name] = l
	}
	var mods []GDBModule
	for _, n := range order {
		if l := last[n]; l.Event == "load" {
			mods = append(mods, GDBModule{Path: s.p.Modules[n], Layout: l})
		}
	}
	return mods
}

// gdbWait says how to attach and waits until the debugger lets the VM run
// again. where says where the VM is paused.
func (s *session) gdbWait(ctx context.Context, where string) error {
	w := s.progress()
	fmt.Fprintf(w, "lab: the VM is paused %s; QEMU's gdbstub listens on 127.0.0.1:%d. Attach with:\n", where, s.machine.gdbPort())
	fmt.Fprintf(w, "  %s\n", GDBCommand(s.p.Arch(), s.machine.gdbPort(), s.loadedModules()))
	fmt.Fprintf(w, "lab: waiting for the VM to run (type continue in gdb)\n")
	if err := s.machine.WaitRunning(ctx); err != nil {
		return fmt.Errorf("waiting for gdb to continue the VM: %w", err)
	}
	fmt.Fprintf(w, "lab: the VM runs again\n")
	return nil
}

// gdbAtStart waits for the debugger when the VM was started paused (-S).
func (s *session) gdbAtStart(ctx context.Context) error {
	if !s.o.GDB || s.o.GDBStep != 0 {
		return nil
	}
	return s.gdbWait(ctx, "before the kernel's first instruction")
}

// gdbBeforeStep pauses the VM before step n when --gdb-step names it.
func (s *session) gdbBeforeStep(ctx context.Context, n int) error {
	if !s.o.GDB || s.o.GDBStep != n {
		return nil
	}
	if err := s.machine.Pause(); err != nil {
		return fmt.Errorf("pause the VM before step %d: %w", n, err)
	}
	return s.gdbWait(ctx, fmt.Sprintf("before step %d", n))
}
