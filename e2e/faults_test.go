package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/runner"
)

// Each test here breaks something for real (a guest that stops, an agent
// killed by the kernel, a panic, a QEMU that dies or never starts, a KVM
// that boots nothing, Ctrl-C) and checks that lab classifies it, keeps the
// console log and leaves no QEMU behind.

func faultRun(t *testing.T, file string, extra ...string) (int, *results.Result, string) {
	t.Helper()
	args := append([]string{"run"}, extra...)
	args = append(args, filepath.Join("testdata", file+".yaml"))
	code, _, dir := runLab(t, args...)
	file = filepath.Base(file)
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("qemu processes left behind: %v", left)
	}
	cell := filepath.Join(dir, "latest", "debian-6.1", file)
	r := readResultFile(t, filepath.Join(cell, "result.json"))
	return code, r, cell
}

func TestGuestHang(t *testing.T) {
	needVM(t)
	code, r, cell := faultRun(t, "fault-hang", "--dump")
	if code != cli.ExitError || r.Verdict != results.Error || r.ErrorKind != results.KindGuestHang {
		t.Fatalf("fault-hang = exit %d, %s/%s (%s); want exit 2, error guest-hang", code, r.Verdict, r.ErrorKind, r.Error)
	}
	if !strings.Contains(r.Error, "hanging this CPU") {
		t.Errorf("error %q does not carry the last console lines", r.Error)
	}
	if regs, err := os.ReadFile(filepath.Join(cell, "registers.txt")); err != nil || !strings.Contains(string(regs), "RIP=") {
		t.Errorf("registers.txt from QMP: %v", err)
	}
	// --dump: the guest's memory (512 MiB) in ELF core format, for crash(8).
	if st, err := os.Stat(filepath.Join(cell, "memory.dump")); err != nil || st.Size() < 256<<20 {
		t.Errorf("memory.dump: %v; want the guest's memory", err)
	} else if f, err := os.Open(filepath.Join(cell, "memory.dump")); err == nil {
		magic := make([]byte, 4)
		f.Read(magic)
		f.Close()
		if string(magic) != "\x7fELF" {
			t.Errorf("memory.dump starts %q; want an ELF core", magic)
		}
	}
	// The spinning RIP lies in the loaded module: named from the layout
	// recorded at load time (gcc may name it fault_read.cold).
	if !strings.Contains(r.Error, "= fault_inject:fault_read") {
		t.Errorf("error %q does not name the RIP's function in fault_inject", r.Error)
	}
	if b, err := os.ReadFile(filepath.Join(cell, "console.log")); err != nil || !strings.Contains(string(b), "fault_inject: hanging this CPU") {
		t.Errorf("console.log not kept: %v", err)
	}
}

func TestAgentLost(t *testing.T) {
	needVM(t)
	code, r, _ := faultRun(t, "fault-agent-lost")
	if code != cli.ExitError || r.ErrorKind != results.KindAgentLost {
		t.Fatalf("fault-agent-lost = exit %d, %s/%s (%s); want exit 2, error agent-lost", code, r.Verdict, r.ErrorKind, r.Error)
	}
}

func TestPanicExpected(t *testing.T) {
	needVM(t)
	code, r, _ := faultRun(t, "fault-panic")
	if code != cli.ExitPass || r.Verdict != results.Pass {
		t.Fatalf("fault-panic = exit %d, %s (%s %s); want pass: the experiment expects the panic", code, r.Verdict, r.Reason, r.Error)
	}
	if !strings.Contains(r.Panic, "Kernel panic - not syncing") || r.ErrorKind != results.KindKernelPanic {
		t.Errorf("panic = %q, kind %q; want the kernel's panic line and kind kernel-panic", r.Panic, r.ErrorKind)
	}
}

func TestPanicUnexpected(t *testing.T) {
	needVM(t)
	code, r, _ := faultRun(t, "fault-unexpected-panic")
	if code != cli.ExitError || r.Verdict != results.Error || r.ErrorKind != results.KindKernelPanic {
		t.Fatalf("fault-unexpected-panic = exit %d, %s/%s; want exit 2, error kernel-panic", code, r.Verdict, r.ErrorKind)
	}
	if !strings.Contains(r.Error, "Kernel panic - not syncing") {
		t.Errorf("error %q does not quote the panic", r.Error)
	}
}

// wrapper writes a shell script that stands in for QEMU.
func wrapper(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qemu-wrapper")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestQEMUFailsToStart(t *testing.T) {
	needVM(t)
	for _, tc := range []struct{ name, qemu, want string }{
		{"bad arguments", wrapper(t, `exec qemu-system-x86_64 -bogus-option "$@"`), "-bogus-option: invalid option"},
		{"missing firmware", wrapper(t, `exec qemu-system-x86_64 -bios /nonexistent/bios-256k.bin "$@"`), "could not load PC BIOS"},
		{"no binary", "/nonexistent/qemu-system-x86_64", "install qemu-system-x86"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, r, cell := faultRun(t, "../../experiments/chardev-safe", "--qemu", tc.qemu)
			if code != cli.ExitError || r.ErrorKind != results.KindQEMUExited || !strings.Contains(r.Error, tc.want) {
				t.Errorf("%s = exit %d, %s: %q; want exit 2, qemu-exited, naming %q", tc.name, code, r.ErrorKind, r.Error, tc.want)
			}
			// A QEMU that started leaves its command line, to be run by hand.
			if tc.name != "no binary" {
				b, err := os.ReadFile(filepath.Join(cell, "qemu.cmdline"))
				if err != nil || !strings.HasPrefix(string(b), "'"+tc.qemu+"' '-nodefaults'") || !strings.Contains(strings.Join(r.Notes, "\n"), "qemu.cmdline") {
					t.Errorf("%s: qemu.cmdline %q (%v), notes %q; want the command line, named in a note", tc.name, b, err, r.Notes)
				}
			}
		})
	}
}

// TestUnusableKVM plays a host without a usable /dev/kvm: --accel kvm is
// refused with exit 2 before anything is prepared.
func TestUnusableKVM(t *testing.T) {
	present := accel.KVMPresent
	accel.KVMPresent = func() bool { return false }
	t.Cleanup(func() { accel.KVMPresent = present })
	var out, errb bytes.Buffer
	code := cli.Main([]string{"--root", "..", "run", "--results", t.TempDir(), "--accel", "kvm", "chardev-safe"}, &out, &errb)
	if code != cli.ExitError || !strings.Contains(errb.String(), "/dev/kvm is missing or not usable") || strings.Contains(errb.String(), "preparing") {
		t.Errorf("lab run --accel kvm without /dev/kvm = exit %d, %q; want 2 naming /dev/kvm, before preparing", code, errb.String())
	}
}

func TestQEMUKilled(t *testing.T) {
	needVM(t)
	dir := t.TempDir()
	exp := filepath.Join(dir, "sleepy.yaml")
	os.WriteFile(exp, []byte("name: sleepy\nsummary: waits while the test kills QEMU\nsteps:\n  - sleep: 20s\n  - exists: /dev/null\n"), 0o644)
	// While lab dials the agent: the wrapper points the port forward at a
	// guest port nobody listens on, so the dial keeps retrying, then kills
	// QEMU once the agent is ready, and itself, the process lab watches.
	dialing := wrapper(t, `for a in "$@"; do shift; set -- "$@" "$(printf %s "$a" | sed 's/-:22$/-:2222/')"; done
console=$(printf '%s\n' "$@" | sed -n 's/^file,id=console,path=//p')
[ -n "$console" ] || exec qemu-system-x86_64 "$@" # --version
# Without the rewrite this case is the "later" one: say so, never pass as it.
printf '%s\n' "$@" | grep -q -- '-:2222$' || { echo "dialing wrapper: no ssh port forward (-:22) to rewrite" >&2; exit 99; }
qemu-system-x86_64 "$@" & pid=$!
until grep -q "lab-agent: ready" "$console" 2>/dev/null; do sleep 0.1; done
sleep 2; kill -9 $pid; wait $pid; kill -9 $$`)
	// Killed by the test while the kernel boots, and later: in the boot,
	// the dial or the sleep step, wherever a slow machine has got to. Each
	// must be named as QEMU's death, at once, never as a lost agent.
	for _, tc := range []struct {
		name  string
		qemu  string
		after time.Duration // when the test kills the VM; 0: it does not
	}{
		{"while booting", "", 500 * time.Millisecond},
		{"later", "", 8 * time.Second},
		{"while dialing the agent", dialing, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				if tc.after == 0 {
					return
				}
				for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
					if pid := qemuVM(); pid > 0 {
						time.Sleep(tc.after)
						syscall.Kill(pid, syscall.SIGKILL)
						return
					}
				}
			}()
			// Cold: the kill lands in a boot, not in the making of a snapshot.
			args := []string{"run", "--cold", exp}
			if tc.qemu != "" {
				args = append(args, "--qemu", tc.qemu)
			}
			start := time.Now()
			code, _, results_ := runLab(t, args...)
			<-done
			r := readResultFile(t, filepath.Join(results_, "latest", "debian-6.1", "sleepy", "result.json"))
			if code != cli.ExitError || r.ErrorKind != results.KindQEMUExited || !strings.Contains(r.Error, "signal: killed") {
				t.Errorf("killed QEMU = exit %d, %s: %q; want exit 2, qemu-exited, signal: killed", code, r.ErrorKind, r.Error)
			}
			// Not after the 20 s sleep or the dial's 30 s deadline.
			if took := time.Since(start); took > tc.after+20*time.Second {
				t.Errorf("lab took %s to notice QEMU's death", took.Round(time.Second))
			}
			if left := qemuChildren(t); len(left) > 0 {
				t.Errorf("qemu processes left behind: %v", left)
			}
		})
	}
}

// TestBrokenKVMFallsBackToTCG plays hosts whose KVM passed the probe but
// whose cells still die under it before the kernel prints: a guest that
// never starts (seen on a real machine: the wrapper turns "-accel kvm" into
// a stopped TCG guest, -cpu host into max), and a QEMU that dies at once (the MSR shape). The
// invocation's choice is KVM, as a passed probe makes it. Auto accel must
// retry the cell with TCG and say so.
func TestBrokenKVMFallsBackToTCG(t *testing.T) {
	needVM(t)
	silent := wrapper(t, `broken=
for a do shift; case "$a" in kvm) broken=1; a=tcg;; host) a=max;; esac; set -- "$@" "$a"; done
if [ -n "$broken" ]; then exec qemu-system-x86_64 -S "$@"; fi
exec qemu-system-x86_64 "$@"`)
	dying, _ := msrWrapper(t)
	root, _ := filepath.Abs("..")
	cache, err := image.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := image.LoadSpec(filepath.Join(root, "images", "debian-6.1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := experiment.Load(filepath.Join(root, "experiments", "chardev-safe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, qemu, note string }{
		{"silent guest", silent, "KVM booted nothing"},
		{"QEMU dies at start", dying, "failed to set MSR 0x10a to 0x69"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := runner.Options{RepoRoot: root, CacheDir: cache, Accel: "auto", QEMU: tc.qemu,
				Choice: &accel.Choice{Accel: accel.KVM, Auto: true}, KernelOutputTimeout: 8 * time.Second, Progress: os.Stderr}
			p, err := runner.Prepare(context.Background(), o, spec)
			if err != nil {
				t.Fatal(err)
			}
			r := runner.Run(context.Background(), o, p, exp, "test", t.TempDir())
			if r.Verdict != results.Pass || r.Accel != "tcg" {
				t.Errorf("broken KVM run = %s on %s (%s %s); want pass on tcg", r.Verdict, r.Accel, r.Reason, r.Error)
			}
			if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "retried with TCG") || !strings.Contains(r.Notes[0], tc.note) {
				t.Errorf("notes = %q; want one saying %q and that TCG was used", r.Notes, tc.note)
			}
			if left := qemuChildren(t); len(left) > 0 {
				t.Errorf("qemu processes left behind: %v", left)
			}
		})
	}
}

// TestInterrupt sends SIGINT to a real lab process in the middle of a run:
// QEMU must be gone, the console log kept, and the result marked.
func TestInterrupt(t *testing.T) {
	needVM(t)
	bin := labBinary(t)
	resultsDir := t.TempDir()
	cmd := exec.Command(bin, "--root", "..", "run", "--cold", "--results", resultsDir, "chardev-unsafe")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "booted on") {
			break
		}
	}
	qemus := childrenOf(cmd.Process.Pid, "qemu-system")
	if len(qemus) == 0 {
		t.Fatalf("no QEMU child of lab found after boot")
	}
	cmd.Process.Signal(os.Interrupt)
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != cli.ExitError {
		t.Errorf("lab after SIGINT: %v; want exit status 2", err)
	}
	for _, pid := range qemus {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			t.Errorf("QEMU %d still runs after lab was interrupted", pid)
		}
	}
	cell := filepath.Join(resultsDir, "latest", "debian-6.1", "chardev-unsafe")
	r := readResultFile(t, filepath.Join(cell, "result.json"))
	if r.Verdict != results.Error || r.ErrorKind != results.KindInterrupted {
		t.Errorf("result after interrupt = %s/%s; want error/interrupted", r.Verdict, r.ErrorKind)
	}
	if b, err := os.ReadFile(filepath.Join(cell, "console.log")); err != nil || !strings.Contains(string(b), "lab-agent: ready") {
		t.Errorf("console.log not kept after interrupt: %v", err)
	}
	if run, _, err := results.LoadRun(filepath.Join(resultsDir, "latest")); err != nil || run.Complete {
		t.Errorf("run.json after interrupt: complete=%v, %v; want marked incomplete", run != nil && run.Complete, err)
	}
}

// TestFailVerdict runs an experiment whose expectations are wrong: the
// kernel behaves, the verdict is fail (exit 1), and the reason names each
// expectation that did not hold and what was seen instead.
func TestFailVerdict(t *testing.T) {
	needVM(t)
	code, r, _ := faultRun(t, "chardev-safe-wrong")
	if code != cli.ExitFail || r.Verdict != results.Fail {
		t.Fatalf("chardev-safe-wrong = exit %d, %s; want exit 1, fail", code, r.Verdict)
	}
	for _, want := range []string{
		"step 3: ok: want true, got false (EAGAIN)",
		`step 4: data contains: want "Goodbye", got "I already told you 0 times Hello world!\n"`,
		"run: crash: want a crash, got 0 crash reports",
	} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q lacks %q", r.Reason, want)
		}
	}
}

func childrenOf(parent int, commPrefix string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, _ := os.ReadFile(filepath.Join(d, "comm"))
		status, _ := os.ReadFile(filepath.Join(d, "status"))
		if strings.HasPrefix(string(comm), commPrefix) && strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(parent)+"\n") {
			pid, _ := strconv.Atoi(filepath.Base(d))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestConcurrentRuns runs two lab commands at once on the same checkout and
// cache: distinct run ids, ports and sockets, and both pass.
func TestConcurrentRuns(t *testing.T) {
	needVM(t)
	resultsDir := t.TempDir()
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errb strings.Builder
			codes[i] = cli.Main([]string{"--root", "..", "run", "--results", resultsDir, "chardev-safe"}, &out, &errb)
			t.Logf("run %d: exit %d\n%s%s", i, codes[i], out.String(), errb.String())
		}()
	}
	wg.Wait()
	runs, _ := filepath.Glob(filepath.Join(resultsDir, "2*", "debian-6.1", "chardev-safe", "result.json"))
	if codes[0] != 0 || codes[1] != 0 || len(runs) != 2 {
		t.Errorf("two concurrent runs = exits %v, %d results; want 0, 0 and 2 results", codes, len(runs))
	}
}
