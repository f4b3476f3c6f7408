package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/protocol"
)

// TestGuestPhases reads the guest's boot phases off two real debian-6.1
// consoles under TCG: lab bench's floor and a cold lab boot. The expected
// times are the lines' own timestamps, read by hand:
//
//	floor: [    1.757729] Run /init as init process
//	       [    1.866111] lab-floor: userspace up
//	cold:  [    1.816758] Run /init as init process
//	       [    2.228857] lab-agent: ready
func TestGuestPhases(t *testing.T) {
	for _, tc := range []struct {
		file            string
		final           func(string) bool
		kernel, userspc time.Duration
	}{
		{"floor-6.1.console", func(l string) bool { return strings.Contains(l, initramfs.FloorLine) }, 1757729 * time.Microsecond, 108382 * time.Microsecond},
		{"cold-6.1.console", protocol.IsReady, 1816758 * time.Microsecond, 412099 * time.Microsecond},
	} {
		ph, err := guestPhases(filepath.Join("testdata", tc.file), tc.final)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		// Float seconds to Duration may round the last nanosecond.
		near := func(got, want time.Duration) bool { return (got - want).Abs() < time.Microsecond }
		if !near(ph.Kernel, tc.kernel) || !near(ph.Userspace, tc.userspc) {
			t.Errorf("%s: kernel %v, userspace %v; want %v, %v", tc.file, ph.Kernel, ph.Userspace, tc.kernel, tc.userspc)
		}
	}
}

// TestGuestPhasesIncomplete: a console that never reached its last line
// is an error, not a zero that would read as a fast boot.
func TestGuestPhasesIncomplete(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "cold-6.1.console"))
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "lab-agent: ready")
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	if ph, err := guestPhases(path, protocol.IsReady); err == nil {
		t.Errorf("guestPhases on a console without the ready line = %+v, nil; want an error", ph)
	}
}
