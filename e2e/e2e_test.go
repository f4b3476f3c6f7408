// Package e2e boots real Debian kernels in QEMU through lab's CLI and checks
// what the kernel really did. TCG is used when there is no KVM (CI), so a
// run takes a few minutes; -short skips these tests.
package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/schematest"
)

// runLab runs the lab CLI in-process against this checkout, with results in
// a temporary directory and the shared cache (so kernels are fetched once).
func runLab(t *testing.T, args ...string) (code int, out string, resultsDir string) {
	t.Helper()
	resultsDir = t.TempDir()
	var stdout, stderr bytes.Buffer
	full := append([]string{"--root", "..", "--results", resultsDir}, args...)
	code = cli.Main(full, &stdout, &stderr)
	t.Logf("lab %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return code, stdout.String(), resultsDir
}

// labBinary builds lab for a test that runs it as a separate process (to
// signal it, or to give it a terminal).
func labBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lab")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/lab").CombinedOutput(); err != nil {
		t.Fatalf("build lab: %v\n%s", err, out)
	}
	return bin
}

func readResult(t *testing.T, dir, kernel, exp string) *results.Result {
	t.Helper()
	return readResultFile(t, filepath.Join(dir, "latest", kernel, exp, "result.json"))
}

// readResultFile reads a result.json the run wrote, after checking it
// against schema/result.schema.json: every result an e2e test reads is
// one the schema promises.
func readResultFile(t *testing.T, path string) *results.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("result: %v", err)
	}
	if err := schematest.ValidateJSON(schematest.Result, b); err != nil {
		t.Fatalf("%s does not match schema/result.schema.json: %v", path, err)
	}
	r, err := results.Read(path)
	if err != nil {
		t.Fatalf("result %s: %v", path, err)
	}
	return r
}

// step returns step n (1-based) of r and checks its action and target
// (target "" checks none); a run that stopped short of it is a fatal
// failure with the steps it has, never an index out of range.
func step(t *testing.T, r *results.Result, n int, action, target string) *results.Step {
	t.Helper()
	if n < 1 || n > len(r.Steps) {
		t.Fatalf("%s on %s: only %d steps (verdict %s, %s %s); want step %d (%s %s)", r.Experiment, r.Kernel.Name, len(r.Steps), r.Verdict, r.ErrorKind, r.Error, n, action, target)
	}
	s := &r.Steps[n-1]
	if s.Action != action || (target != "" && s.Target != target) {
		t.Fatalf("%s: step %d = %s %s; want %s %s", r.Experiment, n, s.Action, s.Target, action, target)
	}
	return s
}

func needVM(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU; skipped with -short")
	}
}

// qemuChildren lists QEMU processes whose parent is this test process.
func qemuChildren(t *testing.T) []string {
	t.Helper()
	var left []string
	for _, pid := range childrenOf(os.Getpid(), "qemu-system") {
		left = append(left, filepath.Join("/proc", strconv.Itoa(pid)))
	}
	return left
}

// qemuVM is the PID of a QEMU child running a cell's guest (its command
// line has -kernel and -qmp), 0 when there is none: lab also runs
// "qemu-system-x86_64 --version" for the provenance and a KVM probe boot
// (-kernel without QMP), processes a test must not take for the VM.
func qemuVM() int {
	for _, pid := range childrenOf(os.Getpid(), "qemu-system") {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if bytes.Contains(cmdline, []byte("\x00-kernel\x00")) && bytes.Contains(cmdline, []byte("\x00-qmp\x00")) {
			return pid
		}
	}
	return 0
}

// TestChardev runs the three chardev experiments on Debian 6.1 in one boot
// each and checks the real evidence: the oops of the unsafe module and the
// state its holder is left in, and the refused rmmod of the safe ones.
func TestChardev(t *testing.T) {
	needVM(t)
	code, out, dir := runLab(t, "run", "chardev-unsafe", "chardev-safe", "chardev-getput")
	if code != cli.ExitPass {
		t.Errorf("lab run chardev-* = exit %d; want %d", code, cli.ExitPass)
	}
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("qemu processes left behind: %v", left)
	}

	t.Run("unsafe", func(t *testing.T) {
		r := readResult(t, dir, "debian-6.1", "chardev-unsafe")
		if r.Verdict != results.Pass {
			t.Errorf("verdict = %s (%s %s); want pass", r.Verdict, r.Reason, r.Error)
		}
		if !strings.HasPrefix(r.Kernel.Release, "6.1.") || r.Kernel.Release != resolvedRelease(t, r) || r.Accel == "" || r.TimingsMS["boot"] <= 0 || r.Provenance.KernelSHA256 == "" {
			t.Errorf("kernel/accel/timings/provenance = %+v %q %v %+v; want real values", r.Kernel, r.Accel, r.TimingsMS, r.Provenance)
		}
		if len(r.Oopses) < 2 {
			t.Fatalf("oopses = %d; want the read fault and the close fault", len(r.Oopses))
		}
		first, second := r.Oopses[0], r.Oopses[1]
		if !strings.Contains(first.Title, "page fault") || !strings.HasPrefix(first.RIP, "vfs_read+") {
			t.Errorf("first oops = %q at %q; want a page fault in vfs_read", first.Title, first.RIP)
		}
		if first.Comm != "holder-A" || first.LastUnloaded != "chardev_unsafe" {
			t.Errorf("first oops task %q, last unloaded %q; want holder-A and chardev_unsafe", first.Comm, first.LastUnloaded)
		}
		// The fault address is the read slot of the freed module's fops,
		// named from the layout lab recorded before the unload.
		var cr2 string
		for _, res := range first.Resolved {
			if res.What == "CR2" && res.Module == "chardev_unsafe" && res.Unloaded && strings.HasPrefix(res.Symbol, "fops+") {
				cr2 = res.String()
			}
		}
		if cr2 == "" {
			t.Errorf("first oops resolved = %+v; want CR2 in chardev_unsafe:fops of the unloaded module", first.Resolved)
		}
		var unloadLayout bool
		for _, l := range r.Modules {
			unloadLayout = unloadLayout || (l.Name == "chardev_unsafe" && l.Event == "unload" && l.Sections[".rodata"] != 0)
		}
		if !unloadLayout {
			t.Errorf("modules = %+v; want the layout of chardev_unsafe recorded before the unload", r.Modules)
		}
		if !strings.HasPrefix(second.RIP, "filp_close+") {
			t.Errorf("second oops RIP = %q; want filp_close (the dying task closing its files)", second.RIP)
		}
		recursive := false
		for _, o := range r.Oopses {
			recursive = recursive || o.RecursiveFault
		}
		if !recursive {
			t.Errorf("no oops marked recursive_fault; the kernel prints Fixing recursive fault")
		}
		if len(r.Steps) != 6 {
			t.Errorf("steps = %+v; want 6", r.Steps)
		}
		if unload, read := step(t, r, 4, "unload", "chardev_unsafe"), step(t, r, 5, "read", "A"); !unload.OK || !read.NoAnswer || len(read.Oopses) == 0 {
			t.Errorf("steps 4, 5 = %+v, %+v; want unload ok, then a read with no answer and an oops", unload, read)
		}
		if len(r.Processes) != 1 || !strings.HasPrefix(r.Processes[0].State, "X") || r.Processes[0].Comm != "holder-A" {
			t.Errorf("processes = %+v; want holder-A left X (dead) on 6.1", r.Processes)
		}
		console, err := os.ReadFile(filepath.Join(dir, "latest", "debian-6.1", "chardev-unsafe", "console.log"))
		if err != nil || !bytes.Contains(console, []byte("Fixing recursive fault but reboot is needed!")) {
			t.Errorf("console.log missing or without the recursive fault line: %v", err)
		}
		// The VM stops only once the console shows the agent's end line,
		// after every line the kernel logged before it.
		if end := bytes.Index(console, []byte(protocol.EndLine())); end < 0 || end < bytes.LastIndex(console, []byte("Fixing recursive fault")) {
			t.Errorf("console.log has no %q after the kernel's reports", protocol.EndLine())
		}
		if !strings.Contains(out, "= chardev_unsafe:fops+0x10 (module unloaded") {
			t.Errorf("terminal summary does not name the freed fops:\n%s", out)
		}
		if !strings.Contains(out, "vfs_read") {
			t.Errorf("terminal summary does not name vfs_read:\n%s", out)
		}
	})
	for _, exp := range []string{"chardev-safe", "chardev-getput"} {
		t.Run(exp, func(t *testing.T) {
			r := readResult(t, dir, "debian-6.1", exp)
			if r.Verdict != results.Pass {
				t.Errorf("verdict = %s (%s %s); want pass", r.Verdict, r.Reason, r.Error)
			}
			if s := step(t, r, 4, "unload", ""); s.OK || s.Errno != "EAGAIN" {
				t.Errorf("step 4 = %+v; want unload refused with EAGAIN (EWOULDBLOCK)", s)
			}
			if len(r.Oopses) != 0 {
				t.Errorf("oopses = %+v; want none", r.Oopses)
			}
		})
	}
}

// resolvedRelease is the release r should report: the lock's, or, when lab
// followed the series because the mirror dropped the locked build, the
// build it ran (the lock goes stale in days; the test must not).
func resolvedRelease(t *testing.T, r *results.Result) string {
	t.Helper()
	lp := r.Provenance.Lock
	if lp == nil {
		t.Fatalf("%s on %s: no lock provenance", r.Experiment, r.Kernel.Name)
	}
	if lp.Followed {
		return r.Kernel.Release
	}
	return lp.LockedRelease
}
