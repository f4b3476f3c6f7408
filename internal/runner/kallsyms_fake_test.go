package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
)

// stubAgent answers the runner's kallsyms questions as told, and keeps
// what it was asked.
type stubAgent struct {
	mu      sync.Mutex
	replies map[protocol.Action]protocol.Reply
	errs    map[protocol.Action]error
	asked   []protocol.Request
}

func (a *stubAgent) Do(_ context.Context, req protocol.Request) (protocol.Reply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, req)
	if err := a.errs[req.Action]; err != nil {
		return protocol.Reply{}, err
	}
	return a.replies[req.Action], nil
}

func (a *stubAgent) Shell(io.Reader, io.Writer, string, agentclient.WinSize, <-chan agentclient.WinSize) (int, error) {
	return 0, nil
}
func (a *stubAgent) Close() error { return nil }

func (a *stubAgent) count(act protocol.Action) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, q := range a.asked {
		if q.Action == act {
			n++
		}
	}
	return n
}

// The build's core kallsyms as CopyCore writes it: _stext at
// ffffffff81000000; this boot put it 0x200000 higher.
const (
	coreText = "ffffffff81000000 T _stext\nffffffff81000100 T vfs_read\nffffffff81000200 T vfs_write\nffffffff82000000 B _end\n"
	liveBase = 0xffffffff81200000
	modAddr  = 0xffffffffc0000010
)

func kallsymsSession(t *testing.T, a *stubAgent) *session {
	t.Helper()
	sum := sha256.Sum256([]byte(t.Name())) // a build of this test's own: parsedCores is the process's
	sha := hex.EncodeToString(sum[:])
	return &session{
		o: Options{CacheDir: t.TempDir(), Log: logx.Or(nil)},
		p: &Prepared{KernelSHA256: sha, Image: newFixture(t, script{}).p.Image},
		r: &results.Result{TimingsMS: map[string]int64{}}, client: a,
	}
}

func goodAgent() *stubAgent {
	return &stubAgent{replies: map[protocol.Action]protocol.Reply{
		protocol.ActionKernelPlace: {OK: true, TextBase: liveBase, Loaded: []protocol.ModuleExtent{{Name: "m", Base: 0xffffffffc0000000, Size: 0x1000}}},
		protocol.ActionCoreSymbols: {OK: true, Kallsyms: coreText},
		protocol.ActionSymbols:     {OK: true, Symbols: []protocol.KernelSymbol{{Address: modAddr, Start: 0xffffffffc0000000, Size: 0x40, Name: "m_read", Module: "m"}}},
	}}
}

// TestNameKernelAddresses: the core kernel's addresses are named from
// the build's kallsyms, moved to where this boot put them; a loaded
// module's by the guest; the rest not at all.
func TestNameKernelAddresses(t *testing.T) {
	a := goodAgent()
	s := kallsymsSession(t, a)
	var log syncBuffer
	s.o.Log = slog.New(slog.NewTextHandler(&log, nil))
	addrs := []uint64{liveBase + 0x104, modAddr, 0xffff888000001000}
	named, err := s.nameKernelAddresses(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(named) != 2 || named[0].Name != "vfs_read" || named[0].Address != liveBase+0x104 || named[0].Start != liveBase+0x100 || named[1].Name != "m_read" {
		t.Errorf("named %+v", named)
	}
	var asked []uint64
	for _, q := range a.asked {
		if q.Action == protocol.ActionSymbols {
			asked = q.Addresses
		}
	}
	if len(asked) != 1 || asked[0] != modAddr {
		t.Errorf("the guest was asked about %x; want the module's address only", asked)
	}
	// The build's kallsyms is kept, sealed, and not asked for again.
	path := filepath.Join(KallsymsDir(s.o.CacheDir), s.p.KernelSHA256[:32]+".txt")
	if b, err := safefile.ReadSealed(path); err != nil || string(b) != coreText {
		t.Errorf("kept kallsyms %q, %v", b, err)
	}
	if strings.Contains(log.String(), "keep the kernel's kallsyms") {
		t.Errorf("a kept kallsyms logged a failure: %s", log.String())
	}
	if _, err := s.nameKernelAddresses(context.Background(), addrs[:1]); err != nil || a.count(protocol.ActionCoreSymbols) != 1 {
		t.Errorf("asked for the core kallsyms %d times (%v)", a.count(protocol.ActionCoreSymbols), err)
	}
	if a.count(protocol.ActionSymbols) != 1 {
		t.Errorf("the guest was asked about core addresses")
	}
	// Another process reads it from the cache.
	parsedCores.Delete(path)
	if c, err := s.coreKallsyms(context.Background()); err != nil || c == nil || a.count(protocol.ActionCoreSymbols) != 1 {
		t.Errorf("from the cache: %v, asked %d times", err, a.count(protocol.ActionCoreSymbols))
	}
	// A damaged cache is asked again.
	parsedCores.Delete(path)
	os.WriteFile(path, []byte("nonsense"), 0o600)
	if _, err := s.coreKallsyms(context.Background()); err != nil || a.count(protocol.ActionCoreSymbols) != 2 {
		t.Errorf("damaged cache: %v, asked %d times", err, a.count(protocol.ActionCoreSymbols))
	}
}

// TestNameKernelAddressesFailures: each question that fails says which.
func TestNameKernelAddressesFailures(t *testing.T) {
	tests := []struct {
		name   string
		tweak  func(*stubAgent, *session)
		err    string
		nNamed int
	}{
		{"no sha", func(_ *stubAgent, s *session) { s.p.KernelSHA256 = "" }, "the kernel's kallsyms: the kernel's sha256 is unknown", 0},
		{"place refused", func(a *stubAgent, _ *session) {
			a.replies[protocol.ActionKernelPlace] = protocol.Reply{Error: "no kallsyms"}
		}, "where the kernel lies: no kallsyms", 0},
		{"place lost", func(a *stubAgent, _ *session) {
			a.errs = map[protocol.Action]error{protocol.ActionKernelPlace: errors.New("EOF")}
		}, "where the kernel lies: EOF", 0},
		{"core refused", func(a *stubAgent, _ *session) {
			a.replies[protocol.ActionCoreSymbols] = protocol.Reply{Error: "EPERM"}
		}, "the kernel's kallsyms: EPERM", 0},
		{"core lost", func(a *stubAgent, _ *session) {
			a.errs = map[protocol.Action]error{protocol.ActionCoreSymbols: errors.New("EOF")}
		}, "the kernel's kallsyms: EOF", 0},
		{"core unreadable", func(a *stubAgent, _ *session) {
			a.replies[protocol.ActionCoreSymbols] = protocol.Reply{OK: true, Kallsyms: "ffffffff81000100 T vfs_read\n"}
		}, "the kernel's kallsyms: kallsyms: the core kernel's extent", 0},
		{"module refused", func(a *stubAgent, _ *session) {
			a.replies[protocol.ActionSymbols] = protocol.Reply{Error: "busy"}
		}, "the guest's kallsyms: busy", 1},
		{"module lost", func(a *stubAgent, _ *session) {
			a.errs = map[protocol.Action]error{protocol.ActionSymbols: errors.New("EOF")}
		}, "the guest's kallsyms: EOF", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := goodAgent()
			s := kallsymsSession(t, a)
			tc.tweak(a, s)
			named, err := s.nameKernelAddresses(context.Background(), []uint64{liveBase + 0x104, modAddr})
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) || len(named) != tc.nNamed {
				t.Errorf("%d named, %v; want %d, %q", len(named), err, tc.nNamed, tc.err)
			}
		})
	}
	// Without an address in a module the guest is asked nothing more.
	a := goodAgent()
	s := kallsymsSession(t, a)
	if named, err := s.nameKernelAddresses(context.Background(), []uint64{liveBase + 0x204}); err != nil || len(named) != 1 || named[0].Name != "vfs_write" || a.count(protocol.ActionSymbols) != 0 {
		t.Errorf("%+v, %v, asked %d", named, err, a.count(protocol.ActionSymbols))
	}
}

// TestNameAddress: a hung guest's RIP is named when the run's sources
// can name it.
func TestNameAddress(t *testing.T) {
	s := kallsymsSession(t, goodAgent())
	s.kernelSyms = []protocol.KernelSymbol{{Address: 0xffffffff81000104, Start: 0xffffffff81000100, Size: 0x100, Name: "vfs_read"}}
	if got := s.nameAddress("ffffffff81000104"); got != " = vfs_read+0x4" {
		t.Errorf("nameAddress = %q", got)
	}
	if got := s.nameAddress("ffffffff90000000"); got != "" {
		t.Errorf("an unknown address named %q", got)
	}
	if got := s.nameAddress("not hex"); got != "" {
		t.Errorf("not hex named %q", got)
	}
}

// oopsLines is a page fault report as a 6.1 guest prints it.
func oopsLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "oops-6.1.console"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// TestAskKernelSymbols: a run whose console holds a report with raw
// addresses asks the live guest to name them before the VM stops; one
// without a report asks nothing; one whose guest cannot say notes why.
func TestAskKernelSymbols(t *testing.T) {
	core := "ffffffff81000000 T _stext\nffffffff81000100 T vfs_read\nffffffff82000000 B _end\n"
	// No load step: the fake's m.ko is no ELF object to name from.
	exp := stepsOf("oops",
		experiment.Step{Action: protocol.ActionOpen, Target: "A", Path: "/dev/m"},
		experiment.Step{Action: protocol.ActionRead, Target: "A"})
	run := func(sc script) (*results.Result, *fakeBackend) {
		f := newFixture(t, sc)
		r, _ := f.run(exp)
		return r, f.b
	}
	sc := script{prints: map[int][]string{2: oopsLines(t)}, own: map[protocol.Action]protocol.Reply{
		protocol.ActionKernelPlace: {OK: true, TextBase: 0xffffffff81000000, Loaded: []protocol.ModuleExtent{{Name: "m", Base: 0xffffffffc05b3000, Size: 0x1000}}},
		protocol.ActionCoreSymbols: {OK: true, Kallsyms: core},
		protocol.ActionSymbols:     {OK: true, Symbols: []protocol.KernelSymbol{{Address: 0xffffffffc05b3198, Start: 0xffffffffc05b3180, Size: 0x40, Name: "m_fops", Module: "m"}}},
	}}
	r, b := run(sc)
	if r.ErrorKind != "" {
		t.Fatalf("run: %s", r.Error)
	}
	if len(r.Oopses) == 0 {
		t.Fatalf("no report parsed from the console")
	}
	if ownRequests(b, string(protocol.ActionKernelPlace)) != 1 || ownRequests(b, string(protocol.ActionSymbols)) != 1 {
		t.Errorf("requests %+v", b.requests())
	}
	if _, ok := r.TimingsMS["kallsyms"]; !ok || hasNote(r, "left unnamed") {
		t.Errorf("timings %v, notes %q", r.TimingsMS, r.Notes)
	}
	named := false
	for _, o := range r.Oopses {
		for _, res := range o.Resolved {
			named = named || strings.Contains(res.Symbol, "m_fops")
		}
	}
	if !named {
		t.Errorf("the guest's name is not in the reports: %+v", r.Oopses[0].Resolved)
	}

	// A guest that cannot say where its kernel lies.
	sc.own = map[protocol.Action]protocol.Reply{protocol.ActionKernelPlace: {Error: "no kallsyms"}}
	r, _ = run(sc)
	if !hasNote(r, "kernel addresses left unnamed: where the kernel lies: no kallsyms") {
		t.Errorf("notes %q", r.Notes)
	}
	// No report: nothing asked.
	_, b = run(script{})
	if ownRequests(b, string(protocol.ActionKernelPlace)) != 0 {
		t.Errorf("a run without a report asked where the kernel lies")
	}
}
