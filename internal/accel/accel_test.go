package accel

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The wrappers below stand in for QEMU: they answer --version from a file
// the test can change, count probe boots (command lines with -kernel) and
// play one KVM shape when their arguments ask for KVM. The kernel is an
// empty file: no wrapper reads it.

const wrapperHead = `#!/bin/sh
dir=$(dirname "$0")
if [ "$1" = --version ]; then echo "QEMU emulator version $(cat "$dir/version")"; exit 0; fi
case " $* " in *" -kernel "*) echo $$ >> "$dir/probes";; esac
kvm=
for a do case "$a" in kvm|accel=kvm) kvm=1;; esac; done
`

// The MSR shape: QEMU 7.2 with -accel kvm -cpu host on a host without vmx.
const msrDeath = `if [ -n "$kvm" ]; then
  echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
  echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:2893: kvm_buf_set_msrs: Assertion 'ret == cpu->kvm_msr_buf->nmsrs' failed." >&2
  kill -ABRT $$
fi
exit 1`

// The silent shape: the VM runs, the decompressor may print, the kernel
// proper never does.
const silent = `[ -n "$kvm" ] && { echo "Probing EDD (edd=off to disable)... ok"; exec sleep 30; }
exit 1`

// Working KVM: the kernel's first line at once.
const working = `[ -n "$kvm" ] && { echo "Decompressing Linux... done."; echo "[    0.000000] Linux version 6.1.0-fake"; exec sleep 30; }
exit 1`

type fakeHost struct {
	dir, qemu, kernel, cache string
}

func newFakeHost(t *testing.T, body string) *fakeHost {
	t.Helper()
	d := t.TempDir()
	h := &fakeHost{dir: d, qemu: filepath.Join(d, "qemu-system-x86_64"), kernel: filepath.Join(d, "vmlinuz"), cache: filepath.Join(d, "cache")}
	if err := os.WriteFile(h.qemu, []byte(wrapperHead+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.setVersion(t, "7.2.22")
	os.WriteFile(h.kernel, nil, 0o644)
	return h
}

func (h *fakeHost) setVersion(t *testing.T, v string) {
	if err := os.WriteFile(filepath.Join(h.dir, "version"), []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) prober() Prober {
	return Prober{QEMU: h.qemu, Kernel: h.kernel, CacheDir: h.cache, Bound: 500 * time.Millisecond, Present: func() bool { return true }}
}

// probes are the PIDs of the probe boots the wrapper saw.
func (h *fakeHost) probes() []int {
	b, _ := os.ReadFile(filepath.Join(h.dir, "probes"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	return pids
}

// gone fails the test when a probe boot's process still runs.
func (h *fakeHost) gone(t *testing.T) {
	t.Helper()
	for _, pid := range h.probes() {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("probe process %d outlived the probe", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestMSRDeathIsTCG(t *testing.T) {
	h := newFakeHost(t, msrDeath)
	c, err := h.prober().Choose(context.Background(), Auto)
	if err != nil {
		t.Fatal(err)
	}
	want := "QEMU died: failed to set MSR 0x10a to 0x69"
	if c.Accel != TCG || !c.Auto || c.Reason != want {
		t.Errorf("choice = %+v; want tcg, auto, reason %q", c, want)
	}
	if line := c.Line(); line != "KVM unusable ("+want+"); running on TCG" {
		t.Errorf("progress line = %q", line)
	}
	if len(h.probes()) != 1 {
		t.Errorf("probe boots = %v; want 1", h.probes())
	}
	h.gone(t)
}

func TestSilentGuestIsTCG(t *testing.T) {
	h := newFakeHost(t, silent)
	c, err := h.prober().Choose(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Accel != TCG || !strings.Contains(c.Reason, "the kernel printed nothing within 500ms") {
		t.Errorf("choice = %+v; want tcg because the kernel printed nothing", c)
	}
	h.gone(t)
}

func TestWorkingKVM(t *testing.T) {
	h := newFakeHost(t, working)
	c, err := h.prober().Choose(context.Background(), Auto)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accel != KVM || !c.Auto || c.Reason != "" || c.Line() != "" || c.Probe == nil || !c.Probe.Usable {
		t.Errorf("choice = %+v; want kvm under auto, no reason", c)
	}
	h.gone(t)
}

func TestAccelKVMRefused(t *testing.T) {
	h := newFakeHost(t, msrDeath)
	_, err := h.prober().Choose(context.Background(), KVM)
	if err == nil || !strings.Contains(err.Error(), "failed to set MSR 0x10a to 0x69") {
		t.Errorf("Choose(kvm) on the MSR shape = %v; want an error naming the reason", err)
	}
	h = newFakeHost(t, working)
	if c, err := h.prober().Choose(context.Background(), KVM); err != nil || c.Accel != KVM || c.Auto {
		t.Errorf("Choose(kvm) on working KVM = %+v, %v; want kvm without the TCG retry", c, err)
	}
}

// TestMemo: the second invocation takes the first's answer; a QEMU that
// answers --version differently is probed again, and so is another boot.
func TestMemo(t *testing.T) {
	h := newFakeHost(t, msrDeath)
	p := h.prober()
	first, err := p.Choose(context.Background(), Auto)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Choose(context.Background(), Auto)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.probes()); n != 1 {
		t.Fatalf("probe boots after two invocations = %d; want 1", n)
	}
	if first.Probe.Memo || !second.Probe.Memo || second.Reason != first.Reason {
		t.Errorf("memo: first %+v, second %+v; want the second from the memo with the same reason", first.Probe, second.Probe)
	}
	if !strings.Contains(second.Note(), "remembered in the cache") {
		t.Errorf("note = %q; want it to say the answer was remembered", second.Note())
	}
	h.setVersion(t, "8.2.0")
	if _, err := p.Choose(context.Background(), Auto); err != nil {
		t.Fatal(err)
	}
	if n := len(h.probes()); n != 2 {
		t.Errorf("probe boots after QEMU's version changed = %d; want 2", n)
	}
	// Another boot of the host: the memo holds only this boot's answers.
	k := p.Key()
	k.BootID = "another-boot"
	if lookup(h.cache, k) != nil {
		t.Errorf("memo answered for another boot id")
	}
}

func TestNoProbe(t *testing.T) {
	h := newFakeHost(t, msrDeath)
	p := h.prober()
	if c, err := p.Choose(context.Background(), TCG); err != nil || c.Accel != TCG || c.Reason != "" {
		t.Errorf("Choose(tcg) = %+v, %v; want tcg", c, err)
	}
	p.Present = func() bool { return false }
	if c, err := p.Choose(context.Background(), Auto); err != nil || c.Accel != TCG || c.Reason != "" {
		t.Errorf("Choose(auto) without /dev/kvm = %+v, %v; want tcg, nothing to explain", c, err)
	}
	if _, err := p.Choose(context.Background(), KVM); err == nil || !strings.Contains(err.Error(), "/dev/kvm") {
		t.Errorf("Choose(kvm) without /dev/kvm = %v; want an error naming /dev/kvm", err)
	}
	if n := len(h.probes()); n != 0 {
		t.Errorf("probe boots = %d; want none (tcg asked for, or no /dev/kvm)", n)
	}
}

func TestValidate(t *testing.T) {
	yes := func() bool { return true }
	for _, v := range []string{"", Auto, KVM, TCG} {
		if err := Validate(v, yes); err != nil {
			t.Errorf("Validate(%q) = %v", v, err)
		}
	}
	if err := Validate("hvf", yes); err == nil || !strings.Contains(err.Error(), `unknown accelerator "hvf"`) {
		t.Errorf("Validate(hvf) = %v; want unknown accelerator", err)
	}
	if err := Validate(KVM, func() bool { return false }); err == nil {
		t.Errorf("Validate(kvm) without /dev/kvm = nil; want an error")
	}
}

func TestDeathReason(t *testing.T) {
	for _, tc := range []struct{ stderr, want string }{
		{"qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: kvm.c:2893: kvm_buf_set_msrs: Assertion failed.\n", "failed to set MSR 0x10a to 0x69"},
		{"qemu-system-x86_64: -accel kvm: Could not access KVM kernel module: Permission denied\n", "-accel kvm: Could not access KVM kernel module: Permission denied"},
		{"", "signal: aborted"},
	} {
		var werr error
		if tc.stderr == "" {
			werr = errString("signal: aborted")
		}
		if got := deathReason(tc.stderr, werr); got != tc.want {
			t.Errorf("deathReason(%q) = %q; want %q", tc.stderr, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestProbeCannotRun: without a QEMU binary the probe cannot run; auto
// goes on to TCG (the cells then fail with their own qemu-exited result),
// kvm is an error, and nothing is remembered.
func TestProbeCannotRun(t *testing.T) {
	h := newFakeHost(t, working)
	p := h.prober()
	p.QEMU = filepath.Join(h.dir, "none")
	c, err := p.Choose(context.Background(), Auto)
	if err != nil || c.Accel != TCG || !strings.Contains(c.Reason, "not found") {
		t.Errorf("Choose(auto) without QEMU = %+v, %v; want tcg with the reason", c, err)
	}
	if _, err := p.Choose(context.Background(), KVM); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Choose(kvm) without QEMU = %v; want an error saying so", err)
	}
	if _, err := os.Stat(MemoPath(h.cache)); !os.IsNotExist(err) {
		t.Errorf("a probe that could not run was remembered (%v)", err)
	}
}
