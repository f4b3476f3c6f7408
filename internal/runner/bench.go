package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/vm"
)

// BenchRound is one round of lab bench: the same kernel and accelerator,
// back to back, so that the host's noise hits every measure alike.
type BenchRound struct {
	// Floor: QEMU start to the first line of the smallest userspace, on
	// the kernel as lab boots it (from its PVH entry when it has one).
	// FloorBzImage is the same from the kernel's bzImage, the way QEMU
	// boots a Linux kernel unless told otherwise.
	Floor, FloorBzImage time.Duration
	// ColdBoot and RestoreBoot: QEMU start to the agent's SSH connection.
	ColdBoot, RestoreBoot time.Duration
	// ColdCell and RestoreCell: one whole cell, and the part of it that is
	// not the experiment's own steps (boot, collecting, writing).
	ColdCell, RestoreCell         time.Duration
	ColdOverhead, RestoreOverhead time.Duration
	// FloorPhases and ColdPhases split the floor's boot and lab's cold
	// boot alike: where lab spends the time above the floor.
	FloorPhases, ColdPhases BootPhases
}

// BootPhases split one boot. FirstLine and Connect are the host's clock;
// Kernel and Userspace are the guest kernel's own (its console timestamps),
// which starts when the kernel does and so does not add up with the host's
// to the whole boot.
type BootPhases struct {
	// FirstLine: QEMU's start to the kernel's first console line (the
	// firmware, loading and decompressing the kernel, early boot until the
	// serial console is registered).
	FirstLine time.Duration
	// Kernel: the kernel's start to "Run /init" (its boot, unpacking the
	// initramfs included).
	Kernel time.Duration
	// Userspace: "Run /init" to the floor's line or the agent's ready line.
	Userspace time.Duration
	// Connect: the host's seeing the ready line to an SSH connection to the
	// agent (0 for the floor, which has none).
	Connect time.Duration
}

// guestPhases reads Kernel and Userspace off a console log: the kernel's
// timestamps of "Run /init" and of the first line final accepts.
func guestPhases(console string, final func(string) bool) (BootPhases, error) {
	b, err := os.ReadFile(console)
	if err != nil {
		return BootPhases{}, err
	}
	var ph BootPhases
	var initAt float64
	for _, line := range strings.Split(string(b), "\n") {
		msg, t, ok := evidence.LineTime(line)
		if !ok {
			continue
		}
		switch {
		case initAt == 0 && strings.HasPrefix(msg, "Run /init as init process"):
			initAt = t
			ph.Kernel = seconds(t)
		case initAt > 0 && final(line):
			ph.Userspace = seconds(t - initAt)
			return ph, nil
		}
	}
	return ph, fmt.Errorf("%s: no \"Run /init\" line followed by the last boot line", console)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Bench runs n rounds of the floor, a cold cell and a restored cell of exp
// on the prepared kernel. The snapshot is made before the first round.
func Bench(ctx context.Context, o Options, p *Prepared, exp *experiment.Spec, n int, runDir string) ([]BenchRound, string, error) {
	o.Log = logx.Or(o.Log)
	c, err := o.chooseAccel(ctx, p)
	if err != nil {
		return nil, "", err
	}
	o.Choice = &c
	tmp, err := os.MkdirTemp("", "lab-bench-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	floor := filepath.Join(tmp, "floor.cpio")
	if err := initramfs.BuildFloor(ctx, o.RepoRoot, floor, p.Arch()); err != nil {
		return nil, "", err
	}
	cellDir := func(snapshot bool, i int) string { return filepath.Join(runDir, fmt.Sprintf("%d-%v", i, snapshot)) }
	cell := func(snapshot bool, i int) (*results.Result, error) {
		oo := o
		oo.Snapshot, oo.Cold = snapshot, !snapshot
		r := Run(ctx, oo, p, exp, fmt.Sprintf("bench-%d", i), cellDir(snapshot, i))
		if r.Verdict == results.Error {
			return r, fmt.Errorf("bench cell %s (snapshot %v): %s", exp.Name, snapshot, r.Error)
		}
		if snapshot && !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "restored from snapshot") }) {
			return r, fmt.Errorf("bench cell %s was not restored: %q", exp.Name, r.Notes)
		}
		return r, nil
	}
	if _, err := cell(true, 0); err != nil {
		return nil, c.Accel, err
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	var rounds []BenchRound
	for i := 1; i <= n; i++ {
		var br BenchRound
		if br.Floor, br.FloorPhases, err = floorBoot(ctx, o, p.Arch(), p.BootKernel, c.Accel, floor, tmp); err != nil {
			return rounds, c.Accel, err
		}
		// An arm64 Image is what QEMU boots: no bzImage to compare.
		br.FloorBzImage = br.Floor
		if p.BootKernel != p.Image.KernelPath() {
			if br.FloorBzImage, _, err = floorBoot(ctx, o, p.Arch(), p.Image.KernelPath(), c.Accel, floor, tmp); err != nil {
				return rounds, c.Accel, err
			}
		}
		cold, err := cell(false, i)
		if err != nil {
			return rounds, c.Accel, err
		}
		warm, err := cell(true, i)
		if err != nil {
			return rounds, c.Accel, err
		}
		if br.ColdPhases, err = guestPhases(filepath.Join(cellDir(false, i), p.Image.Spec.Name, exp.Name, "console.log"), protocol.IsReady); err != nil {
			return rounds, c.Accel, err
		}
		br.ColdPhases.FirstLine = ms(cold.TimingsMS["kernel_output"])
		br.ColdPhases.Connect = ms(cold.TimingsMS["boot"] - cold.TimingsMS["agent_ready"])
		br.ColdBoot, br.RestoreBoot = ms(cold.TimingsMS["boot"]), ms(warm.TimingsMS["boot"])
		br.ColdCell, br.RestoreCell = ms(cold.TimingsMS["total"]), ms(warm.TimingsMS["total"])
		br.ColdOverhead = ms(cold.TimingsMS["total"] - cold.TimingsMS["steps"])
		br.RestoreOverhead = ms(warm.TimingsMS["total"] - warm.TimingsMS["steps"])
		rounds = append(rounds, br)
	}
	return rounds, c.Accel, nil
}

// floorBoot boots the floor initramfs with kernel on the same machine as a cell and
// times QEMU's start to its line on the console, and the boot's phases.
func floorBoot(ctx context.Context, o Options, a arch.Arch, kernel, acc, initrd, dir string) (time.Duration, BootPhases, error) {
	console := filepath.Join(dir, "floor-console.log")
	start := time.Now()
	m, err := vm.Start(ctx, vm.Config{
		Arch: a, QEMU: o.qemuFor(a), Kernel: kernel, Initrd: initrd, Append: kernelCmdline(a, ""),
		Accel: acc, Console: console, Stderr: filepath.Join(dir, "floor-qemu.stderr"), Log: o.Log,
	})
	if err != nil {
		return 0, BootPhases{}, err
	}
	defer m.Stop()
	var firstLine time.Duration
	done := func() (time.Duration, BootPhases, error) {
		total := time.Since(start)
		ph, err := guestPhases(console, func(line string) bool { return strings.Contains(line, initramfs.FloorLine) })
		ph.FirstLine = firstLine
		return total, ph, err
	}
	limit := o.timeouts(acc).KernelOutput + o.timeouts(acc).AgentReady
	for time.Since(start) < limit {
		b, _ := os.ReadFile(console)
		if firstLine == 0 && strings.Contains(string(b), "Linux version") {
			firstLine = time.Since(start)
		}
		if strings.Contains(string(b), initramfs.FloorLine) {
			return done()
		}
		select {
		case <-ctx.Done():
			return 0, BootPhases{}, ctx.Err()
		case <-m.Exited():
			if b, _ := os.ReadFile(console); strings.Contains(string(b), initramfs.FloorLine) {
				return done()
			}
			return 0, BootPhases{}, fmt.Errorf("floor boot: %w", m.ExitError())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, BootPhases{}, fmt.Errorf("floor boot: no %q within %s", initramfs.FloorLine, limit)
}

// Median of ds (the mean of the middle two for an even count).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
