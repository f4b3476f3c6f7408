package runner

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// TestDefaultTimeouts: TCG gets longer boot waits, the rest are alike.
func TestDefaultTimeouts(t *testing.T) {
	kvm, tcg := DefaultTimeouts(vm.AccelKVM), DefaultTimeouts(vm.AccelTCG)
	want := Timeouts{
		KernelOutput: 20 * time.Second, AgentReady: 60 * time.Second, Dial: 30 * time.Second,
		StepGrace: 20 * time.Second, Guest: 20 * time.Second, Settle: 2 * time.Second,
		QMP: 5 * time.Second, Dump: 2 * time.Minute, ConsoleFlush: 300 * time.Millisecond, EndLine: 2 * time.Second,
	}
	if kvm != want {
		t.Errorf("kvm %+v\nwant %+v", kvm, want)
	}
	want.KernelOutput, want.AgentReady = 90*time.Second, 180*time.Second
	if tcg != want {
		t.Errorf("tcg %+v\nwant %+v", tcg, want)
	}
}

// TestTimeoutsOverrides: the boot timeout replaces the agent's wait on
// either accelerator; the test hook replaces everything.
func TestTimeoutsOverrides(t *testing.T) {
	o := Options{BootTimeout: 7 * time.Second}
	for _, acc := range []string{vm.AccelKVM, vm.AccelTCG} {
		got := o.timeouts(acc)
		if got.AgentReady != 7*time.Second || got.KernelOutput != DefaultTimeouts(acc).KernelOutput {
			t.Errorf("%s: %+v", acc, got)
		}
	}
	if got := (Options{}).timeouts(vm.AccelKVM); got != DefaultTimeouts(vm.AccelKVM) {
		t.Errorf("no overrides: %+v", got)
	}
	// A shorter kernel-output wait than KVM's default applies to KVM.
	if got := (Options{KernelOutputTimeout: time.Second}).timeouts(vm.AccelKVM).KernelOutput; got != time.Second {
		t.Errorf("kvm with 1s: %v", got)
	}
	// On TCG one just above the default applies; one below does not.
	if got := (Options{KernelOutputTimeout: 91 * time.Second}).timeouts(vm.AccelTCG).KernelOutput; got != 91*time.Second {
		t.Errorf("tcg with 91s: %v", got)
	}
	if got := (Options{KernelOutputTimeout: 89 * time.Second}).timeouts(vm.AccelTCG).KernelOutput; got != 90*time.Second {
		t.Errorf("tcg with 89s: %v", got)
	}
	w := Timeouts{Dial: time.Millisecond}
	if got := (Options{waits: &w, BootTimeout: time.Hour, KernelOutputTimeout: time.Hour}).timeouts(vm.AccelTCG); got != w {
		t.Errorf("waits hook: %+v", got)
	}
}

func TestRunTimeout(t *testing.T) {
	if got := (Options{}).runTimeout(); got != 10*time.Minute {
		t.Errorf("default %v", got)
	}
	if got := (Options{RunTimeout: time.Second}).runTimeout(); got != time.Second {
		t.Errorf("set %v", got)
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(5), 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(10, 2, 4, 8), 6 * time.Millisecond},
		{ms(1, 2), 1500 * time.Microsecond},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v; want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Median reordered its input: %v", tc.in)
		}
	}
}

func TestRepeatDir(t *testing.T) {
	if RepeatDir(1) != "repeat-01" || RepeatDir(12) != "repeat-12" || RepeatDir(100) != "repeat-100" {
		t.Errorf("%s %s %s", RepeatDir(1), RepeatDir(12), RepeatDir(100))
	}
}

// TestAggregate: a cell's record is repeat 1's, with every repeat's
// distribution, verdict and time, and a note naming their directories;
// repeat 1's own record is left as it was.
func TestAggregate(t *testing.T) {
	exp := &experiment.Spec{Name: "e"}
	rep := func(v string, total int64, notes ...string) *results.Result {
		return &results.Result{Experiment: "e", Kernel: results.Kernel{Name: "k"}, Verdict: v, Notes: notes,
			Steps: []results.Step{}, TimingsMS: map[string]int64{"total": total, "boot": 3}}
	}
	reps := []*results.Result{rep(results.Pass, 100, "first"), rep(results.Pass, 250), rep(results.Pass, 50)}
	agg := aggregate(exp, reps)
	if agg == reps[0] {
		t.Fatal("the aggregate is repeat 1's record itself")
	}
	if agg.Repeats == nil || agg.Repeats.N != 3 || agg.Repeats.Passed != 3 || agg.Verdict != results.Pass {
		t.Errorf("repeats %+v, verdict %s", agg.Repeats, agg.Verdict)
	}
	if agg.TimingsMS["repeats_total"] != 400 || agg.TimingsMS["total"] != 100 || agg.TimingsMS["boot"] != 3 {
		t.Errorf("timings %v", agg.TimingsMS)
	}
	if _, ok := reps[0].TimingsMS["repeats_total"]; ok || len(reps[0].Notes) != 1 {
		t.Errorf("repeat 1's record changed: %v %q", reps[0].TimingsMS, reps[0].Notes)
	}
	want := []string{"first", "3 repeats, each from a fresh restore: the steps and reports here are repeat 1's; every repeat's record is in repeat-01 … repeat-03"}
	if !slices.Equal(agg.Notes, want) {
		t.Errorf("notes %q", agg.Notes)
	}
	if reps[0].Repeats != nil {
		t.Errorf("repeat 1's record got the distribution")
	}
}

// TestWriteCell: the aggregate goes to the cell's directory; one that
// cannot be written says so in its notes.
func TestWriteCell(t *testing.T) {
	runDir := t.TempDir()
	agg := &results.Result{Experiment: "e", Kernel: results.Kernel{Name: "k"}, Verdict: results.Pass, TimingsMS: map[string]int64{}}
	os.MkdirAll(filepath.Join(runDir, "k", "e"), 0o700)
	writeCell(runDir, agg)
	if _, err := results.Read(filepath.Join(runDir, "k", "e", "result.json")); err != nil || len(agg.Notes) != 0 {
		t.Errorf("written: %v, notes %q", err, agg.Notes)
	}
	writeCell(filepath.Join(runDir, "k", "e", "result.json"), agg)
	if len(agg.Notes) != 1 || !strings.HasPrefix(agg.Notes[0], "writing the cell's record: ") {
		t.Errorf("notes %q", agg.Notes)
	}
}

// TestUnitDir: without repeats a unit writes in its cell's directory;
// with, in its repeat's, made.
func TestUnitDir(t *testing.T) {
	runDir := t.TempDir()
	p := &Prepared{Image: newFixture(t, script{}).p.Image}
	exp := &experiment.Spec{Name: "e"}
	dir, err := unitDir(runDir, p, exp, 0)
	if err != nil || dir != filepath.Join(runDir, "fake-6.1", "e") {
		t.Errorf("no repeat: %s, %v", dir, err)
	}
	dir, err = unitDir(runDir, p, exp, 3)
	if fi, serr := os.Stat(dir); err != nil || dir != filepath.Join(runDir, "fake-6.1", "e", "repeat-03") || serr != nil || !fi.IsDir() {
		t.Errorf("repeat 3: %s, %v", dir, err)
	}
	if _, err := unitDir("/dev/null", p, exp, 1); err == nil {
		t.Errorf("no error for an impossible directory")
	}
}

// TestChooseAccelGiven: a choice already made is the answer, without a
// probe.
func TestChooseAccelGiven(t *testing.T) {
	c := accel.Choice{Accel: vm.AccelKVM, Auto: true}
	got, err := (Options{Choice: &c, Accel: "tcg"}).chooseAccel(context.Background(), preparedOf("", "/no/kernel"))
	if err != nil || got != c {
		t.Errorf("%+v, %v", got, err)
	}
}

// TestChooseAccelTCG: --accel tcg needs no probe and says nothing.
func TestChooseAccelTCG(t *testing.T) {
	var progress syncBuffer
	got, err := (Options{Accel: "tcg", CacheDir: t.TempDir(), Progress: &progress}).chooseAccel(context.Background(), preparedOf("", "/no/kernel"))
	if err != nil || got.Accel != vm.AccelTCG || got.Probe != nil || progress.String() != "" {
		t.Errorf("%+v, %v, progress %q", got, err, progress.String())
	}
	if pr := (Options{QEMU: "q", CacheDir: "c"}).prober("k"); pr.QEMU != "q" || pr.Kernel != "k" || pr.CacheDir != "c" {
		t.Errorf("prober %+v", pr)
	}
}

// TestQEMUMachine: the real machine's addresses.
func TestQEMUMachine(t *testing.T) {
	m := qemuMachine{&vm.VM{HostPort: 40022, GDBPort: 41234}}
	if m.agentAddr() != "127.0.0.1:40022" || m.gdbPort() != 41234 {
		t.Errorf("%s %d", m.agentAddr(), m.gdbPort())
	}
	if _, ok := (Options{}).machines().(qemuBackend); !ok {
		t.Errorf("the default backend is not QEMU's")
	}
	b := &fakeBackend{}
	if (Options{backend: b}).machines() != b {
		t.Errorf("the test's backend is not used")
	}
	if (Options{QEMUVersion: "9.9"}).qemuVersion(arch.AMD64) != "9.9" {
		t.Errorf("qemuVersion does not use Matrix's answer")
	}
}

// TestKernelCmdline: lab's part first, the experiment's after.
func TestKernelCmdline(t *testing.T) {
	if got := kernelCmdline(arch.AMD64, ""); got != "console=ttyS0 panic=-1 acpi=noirq" {
		t.Errorf("%q", got)
	}
	if got := kernelCmdline(arch.AMD64, "quiet"); got != "console=ttyS0 panic=-1 acpi=noirq quiet" {
		t.Errorf("%q", got)
	}
	// virt's console is its PL011; it has no ACPI (a device tree boot).
	if got := kernelCmdline(arch.ARM64, "quiet"); got != "console=ttyAMA0 panic=-1 quiet" {
		t.Errorf("arm64: %q", got)
	}
}

// TestSkipGDBSection: what gdb cannot place is left out.
func TestSkipGDBSection(t *testing.T) {
	for name, skip := range map[string]bool{".symtab": true, ".strtab": true, ".init.text": true, ".init.data": true, ".text": false, ".data": false, ".exit.text": false, ".initx": false} {
		if skipGDBSection(name) != skip {
			t.Errorf("skipGDBSection(%q) = %v", name, !skip)
		}
	}
	if got := shellQuote("a'b"); got != `'a'\''b'` {
		t.Errorf("shellQuote = %s", got)
	}
}

// TestGuestPhasesFinalBeforeInit: a final-looking line before "Run /init"
// does not end the boot; the userspace phase starts at /init.
func TestGuestPhasesFinalBeforeInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	os.WriteFile(path, []byte("[    1.000000] lab-agent: ready\n[    2.000000] Run /init as init process\n[    3.500000] lab-agent: ready\n"), 0o600)
	ph, err := guestPhases(path, func(l string) bool { return strings.Contains(l, "lab-agent: ready") })
	if err != nil || ph.Kernel != 2*time.Second || ph.Userspace != 1500*time.Millisecond {
		t.Errorf("phases %+v, %v; want kernel 2s, userspace 1.5s", ph, err)
	}
}
