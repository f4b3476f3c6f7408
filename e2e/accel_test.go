package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/results"
)

// msrWrapper plays the host where QEMU 7.2 dies at once under -accel kvm
// with -cpu host or max (a /dev/kvm without vmx underneath): under KVM it
// prints QEMU's two lines and aborts, counting each such start in the file
// kvmStarts beside it; otherwise it is the real QEMU.
func msrWrapper(t *testing.T) (qemu, kvmStarts string) {
	qemu = wrapper(t, `kvm=
for a do case "$a" in kvm|accel=kvm) kvm=1;; esac; done
if [ -n "$kvm" ]; then
  echo x >> "$(dirname "$0")/kvm-starts"
  echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
  echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:2893: kvm_buf_set_msrs: Assertion 'ret == cpu->kvm_msr_buf->nmsrs' failed." >&2
  kill -ABRT $$
fi
exec qemu-system-x86_64 "$@"`)
	return qemu, filepath.Join(filepath.Dir(qemu), "kvm-starts")
}

// playKVMHost makes lab see a /dev/kvm that opens, so the probe runs on
// hosts without one too.
func playKVMHost(t *testing.T) {
	present := accel.KVMPresent
	accel.KVMPresent = func() bool { return true }
	t.Cleanup(func() { accel.KVMPresent = present })
}

func starts(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "x")
}

// TestMSRDeathRunsOnTCG: in auto mode behind the MSR-dying QEMU, lab probes
// once, says why in one line and in the result's notes, and the run passes
// on TCG without any cell trying KVM. A second invocation asking for KVM
// ($LAB_ACCEL=kvm) takes the remembered answer, without a probe, and exits 2
// naming the reason.
func TestMSRDeathRunsOnTCG(t *testing.T) {
	needVM(t)
	playKVMHost(t)
	t.Setenv(accel.EnvAccel, "")
	qemu, kvmStarts := msrWrapper(t)
	resultsDir := t.TempDir()
	var out, errb bytes.Buffer
	code := cli.Main([]string{"--root", "..", "run", "--results", resultsDir, "--qemu", qemu, "chardev-unsafe"}, &out, &errb)
	t.Logf("lab run: exit %d\n%s\n%s", code, out.String(), errb.String())
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("qemu processes left behind: %v", left)
	}
	const reason = "QEMU died: failed to set MSR 0x10a to 0x69"
	r := readResult(t, resultsDir, "debian-6.1", "chardev-unsafe")
	if code != cli.ExitPass || r.Verdict != results.Pass || r.Accel != accel.TCG {
		t.Errorf("run = exit %d, %s on %s (%s %s); want pass on tcg", code, r.Verdict, r.Accel, r.Reason, r.Error)
	}
	var lines []string
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, "KVM") {
			lines = append(lines, l)
		}
	}
	if want := "lab: KVM unusable (" + reason + "); running on TCG"; len(lines) != 1 || lines[0] != want {
		t.Errorf("lines about KVM = %q; want exactly %q", lines, want)
	}
	if n := starts(kvmStarts); n != 1 {
		t.Errorf("QEMU started under KVM %d times; want once, the probe", n)
	}
	if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], reason) {
		t.Errorf("notes = %q; want the reason KVM is not used", r.Notes)
	}

	t.Setenv(accel.EnvAccel, "kvm")
	out.Reset()
	errb.Reset()
	code = cli.Main([]string{"--root", "..", "run", "--results", resultsDir, "--qemu", qemu, "chardev-safe"}, &out, &errb)
	t.Logf("LAB_ACCEL=kvm lab run: exit %d\n%s\n%s", code, out.String(), errb.String())
	if code != cli.ExitError || !strings.Contains(errb.String(), "KVM unusable ("+reason+")") {
		t.Errorf("LAB_ACCEL=kvm = exit %d, stderr %q; want exit 2 naming %q", code, errb.String(), reason)
	}
	if n := starts(kvmStarts); n != 1 {
		t.Errorf("QEMU started under KVM %d times after the second invocation; want 1 (the memo answers)", n)
	}
}
