package e2e

import (
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestDriverSteps runs write, ioctl, mmap and exec against the real
// chardev_safe on debian-6.1 (testdata/chardev-rw.yaml): the expectations
// in the file are the module's real behaviour, and this test checks the
// recorded values themselves too, so a judge that passes everything
// cannot hide a broken step.
func TestDriverSteps(t *testing.T) {
	needVM(t)
	code, _, dir := runLab(t, "run", "--kernel", "debian-6.1", "testdata/chardev-rw.yaml")
	r := readResult(t, dir, "debian-6.1", "chardev-rw")
	if code != 0 || r.Verdict != results.Pass {
		t.Errorf("lab run chardev-rw = exit %d, verdict %s (%s%s)", code, r.Verdict, r.Reason, r.Error)
	}
	if s := step(t, r, 3, "write", "A"); s.Return == nil || *s.Return != 16 {
		t.Errorf("write: %+v; want 16 bytes written", s)
	}
	if s := step(t, r, 5, "read", "A"); !strings.HasPrefix(s.Data, "Goodbye, world!") {
		t.Errorf("read after write: %q; want the written message", s.Data)
	}
	if s := step(t, r, 6, "ioctl", "A"); s.Return == nil || *s.Return != 1 {
		t.Errorf("ioctl CHARDEV_IOC_OPENS: %+v; want 1", s)
	}
	if s := step(t, r, 7, "ioctl", "A"); s.Data != "01000000" {
		t.Errorf("ioctl CHARDEV_IOC_GET_OPENS buffer: %q; want 01000000", s.Data)
	}
	if s := step(t, r, 8, "ioctl", "A"); s.OK || s.Errno != "ENOTTY" {
		t.Errorf("unknown ioctl: %+v; want ENOTTY", s)
	}
	if s := step(t, r, 12, "mmap", "B"); s.Data != "chardev PAGE\n" {
		t.Errorf("second holder's mapping: %q; want the page A wrote into", s.Data)
	}
	if s := step(t, r, 13, "exec", "lsmod"); s.Exit == nil || *s.Exit != 0 || !strings.Contains(s.Data, "chardev_safe") {
		t.Errorf("exec lsmod: %+v", s)
	}
	if s := step(t, r, 14, "exec", "cat /proc/sys/kernel/osrelease"); strings.TrimSpace(s.Data) != r.Kernel.Release {
		t.Errorf("exec cat osrelease: %q; want %q", s.Data, r.Kernel.Release)
	}
	if s := step(t, r, 15, "exec", "cat /nonexistent"); s.OK || s.Exit == nil || *s.Exit == 0 {
		t.Errorf("exec cat /nonexistent: %+v; want a failing exit", s)
	}
}
