package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/symbolize"
)

// Naming the raw addresses of a run's reports: the core kernel's kallsyms
// is the same for every boot of one build up to KASLR's single offset, so
// lab keeps it per kernel build (the bzImage's sha256) in the cache, asked
// of the first guest that needs it. Later runs ask the guest only where it
// put the core kernel and which modules are loaded (milliseconds), instead
// of having it format and scan its whole /proc/kallsyms (0.45-0.7 s under
// TCG, on every run with a report). What names an address is
// internal/symbolize's; this file keeps the cache and the questions to the
// guest, the part that needs a VM.

// KallsymsDir is where the core kernels' kallsyms live in the cache.
func KallsymsDir(cacheDir string) string { return filepath.Join(cacheDir, "kallsyms") }

// parsedCores keeps the core kallsyms this process read (by path), so a
// matrix parses each build's once.
var parsedCores sync.Map

// coreKallsyms is the core kernel's kallsyms of the run's build: from the
// cache, else from the guest (and then cached, sealed).
func (s *session) coreKallsyms(ctx context.Context) (*symbolize.Core, error) {
	if s.p.KernelSHA256 == "" {
		return nil, errors.New("the kernel's sha256 is unknown")
	}
	path := filepath.Join(KallsymsDir(s.o.CacheDir), s.p.KernelSHA256[:32]+".txt")
	if c, ok := parsedCores.Load(path); ok {
		return c.(*symbolize.Core), nil
	}
	if text, err := safefile.ReadSealed(path); err == nil {
		if c, err := symbolize.ParseCore(text); err == nil {
			parsedCores.Store(path, c)
			return c, nil
		}
	}
	rep, err := s.client.Do(ctx, protocol.Request{Action: protocol.ActionCoreSymbols})
	if err != nil {
		return nil, err
	}
	if !rep.OK {
		return nil, errors.New(rep.Error)
	}
	c, err := symbolize.ParseCore([]byte(rep.Kallsyms))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
		if err := safefile.WriteSealed(path, []byte(rep.Kallsyms)); err != nil {
			s.o.Log.Warn("keep the kernel's kallsyms", "path", path, "err", err)
		}
	}
	parsedCores.Store(path, c)
	return c, nil
}

// nameKernelAddresses names the addresses it can of addrs as the running
// guest placed them: the core kernel's from the build's kallsyms, those in
// a loaded module from the guest's own kallsyms; the rest (the direct map,
// stacks, a freed module's memory) have no symbol to name them.
func (s *session) nameKernelAddresses(ctx context.Context, addrs []uint64) ([]protocol.KernelSymbol, error) {
	place, err := s.client.Do(ctx, protocol.Request{Action: protocol.ActionKernelPlace})
	if err == nil && !place.OK {
		err = errors.New(place.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("where the kernel lies: %w", err)
	}
	core, err := s.coreKallsyms(ctx)
	if err != nil {
		return nil, fmt.Errorf("the kernel's kallsyms: %w", err)
	}
	named, inModules := core.NameLive(place.TextBase, place.Loaded, addrs)
	if len(inModules) == 0 {
		return named, nil
	}
	rep, err := s.client.Do(ctx, protocol.Request{Action: protocol.ActionSymbols, Addresses: inModules})
	if err == nil && !rep.OK {
		err = errors.New(rep.Error)
	}
	if err != nil {
		return named, fmt.Errorf("the guest's kallsyms: %w", err)
	}
	return append(named, rep.Symbols...), nil
}

// nameAddress is " = module:symbol+off" for a hex address (a hung guest's
// RIP, as QEMU gives it) that the run's sources name, else "".
func (s *session) nameAddress(hexAddr string) string {
	t, err := symbolize.New(s.sources())
	if err != nil {
		return ""
	}
	if name := t.Name(hexAddr); name != "" {
		return " = " + name
	}
	return ""
}
