package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/results"
)

// TestARM64 runs the chardev and proc experiments on Debian's arm64 6.1
// kernel: modules cross-built, the guest's agent and programs built for
// arm64, QEMU's virt machine under TCG, one cold boot for the snapshot and
// a restore a cell. Every cell passes with the expectations the amd64
// kernels have (arm64 words a kernel page fault "paging request", which
// the experiments accept), and the unsafe device's evidence is arm64's own.
func TestARM64(t *testing.T) {
	needVM(t)
	exps := []string{"chardev-unsafe", "chardev-safe", "chardev-getput",
		"proc-safe", "proc-permanent", "proc-forced", "proc-leak", "proc-slow", "proc-slow-hung"}
	code, _, dir := runLab(t, append([]string{"matrix", "--kernel", "debian-6.1-arm64"}, exps...)...)
	if code != cli.ExitPass {
		t.Errorf("lab matrix on debian-6.1-arm64 = exit %d; want 0", code)
	}
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("qemu processes left behind: %v", left)
	}
	restored := 0
	for _, e := range exps {
		r := readResult(t, dir, "debian-6.1-arm64", e)
		if r.Verdict != results.Pass {
			t.Errorf("%s = %s (%s %s); want pass", e, r.Verdict, r.Reason, r.Error)
		}
		if r.Kernel.Arch != "arm64" || !strings.HasSuffix(r.Kernel.Release, "-arm64") || r.Accel != "tcg" {
			t.Errorf("%s: kernel %+v on %s; want an arm64 kernel on TCG", e, r.Kernel, r.Accel)
		}
		for _, n := range r.Notes {
			if strings.HasPrefix(n, "restored from snapshot") {
				restored++
			}
			if strings.HasPrefix(n, "snapshot restore failed") {
				t.Errorf("%s: %s", e, n)
			}
		}
	}
	if restored < len(exps)-1 {
		t.Errorf("%d of %d cells restored a snapshot; want all but the one that made it", restored, len(exps))
	}

	r := readResult(t, dir, "debian-6.1-arm64", "chardev-unsafe")
	if len(r.Oopses) < 2 {
		t.Fatalf("oopses = %d; want the read fault and the close fault", len(r.Oopses))
	}
	first := r.Oopses[0]
	if first.Arch != "arm64" || first.Kind != "paging-request" || !strings.HasPrefix(first.RIP, "vfs_read+") || first.Comm != "holder-A" || first.LastUnloaded != "chardev_unsafe" {
		t.Errorf("first oops = %s %s %q at %q by %q, last unloaded %q; want arm64's paging request in vfs_read by holder-A after chardev_unsafe",
			first.Arch, first.Kind, first.Title, first.RIP, first.Comm, first.LastUnloaded)
	}
	// arm64 prints the faulting address in its first line (no CR2):
	// named from the layout lab recorded before the unload.
	named := ""
	for _, res := range first.Resolved {
		if res.What == "address" && res.Module == "chardev_unsafe" && res.Unloaded && res.Symbol == "fops+0x10" {
			named = res.String()
		}
	}
	if named == "" {
		t.Errorf("first oops resolved = %+v; want its address named chardev_unsafe:fops+0x10 of the unloaded module", first.Resolved)
	}
	if !strings.HasPrefix(r.Oopses[1].RIP, "filp_close+") || !r.Oopses[1].RecursiveFault {
		t.Errorf("second oops = %q at %q, recursive %v; want the recursive fault in filp_close", r.Oopses[1].Title, r.Oopses[1].RIP, r.Oopses[1].RecursiveFault)
	}
	if len(r.Processes) != 1 || !strings.HasPrefix(r.Processes[0].State, "X") {
		t.Errorf("processes = %+v; want holder-A left X (dead), as on amd64's 6.1", r.Processes)
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "latest", "debian-6.1-arm64", "chardev-unsafe", "qemu.cmdline"))
	if err != nil || !strings.Contains(string(cmdline), "qemu-system-aarch64") || !strings.Contains(string(cmdline), "'-machine' 'virt-7.2'") || !strings.Contains(string(cmdline), "pci-serial") {
		t.Errorf("qemu.cmdline = %q (%v); want qemu-system-aarch64 on virt-7.2 with its PCI key channel", cmdline, err)
	}
	// README's command, whose terminal summary names the freed symbol and
	// arm64's PC.
	code, out, _ := runLab(t, "run", "--kernel", "debian-6.1-arm64", "chardev-unsafe")
	if code != cli.ExitPass || !strings.Contains(out, "= chardev_unsafe:fops+0x10 (module unloaded") || !strings.Contains(out, "(PC vfs_read+") {
		t.Errorf("lab run --kernel debian-6.1-arm64 chardev-unsafe = exit %d; want 0 and a summary naming the freed fops and the PC:\n%s", code, out)
	}
	for _, e := range []string{"chardev-safe", "chardev-getput"} {
		r := readResult(t, dir, "debian-6.1-arm64", e)
		if s := step(t, r, 4, "unload", ""); s.OK || s.Errno != "EAGAIN" || len(r.Oopses) != 0 {
			t.Errorf("%s: step 4 = %+v, %d oopses; want the unload refused with EAGAIN and no report", e, s, len(r.Oopses))
		}
	}
}
