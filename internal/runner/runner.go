// Package runner runs one experiment on one kernel, in named phases: fetch
// the image, build the modules, pack the initramfs, boot, connect, run the
// steps, collect the evidence. Whatever happens, it writes a result, keeps
// the console log and leaves no QEMU behind.
//
// (The first design put the step runner into internal/experiment; it lives here so
// that experiment stays a pure reader and judge of experiment files, testable
// without a VM.)
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/experiment"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/kmod"
	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/pvh"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/vm"
)

// Options apply to every run.
type Options struct {
	// RepoRoot is lab's source tree: kmods/ and the agent are built from it.
	RepoRoot string
	// Kmods are a user's module directories built beside kmods/ (each a
	// Kbuild directory or a folder of them; see kmod.FamilyDirs).
	Kmods []string
	// Commands puts u-root's commands in the initramfs (exec steps and lab
	// shell run them); without, the initramfs is half the size (see
	// initramfs.Options.Commands).
	Commands       bool
	CacheDir       string
	Mirror         string
	SecurityMirror string
	// SnapshotMirror and Locked say where locked kernel packages the
	// mirror dropped may come from, and whether following the series
	// instead is refused (see image.Fetch).
	SnapshotMirror string
	Locked         bool
	// Accel is "auto", "kvm" or "tcg".
	Accel string
	QEMU  string
	// KernelOutputTimeout bounds the wait for the kernel's first line;
	// BootTimeout the wait for the agent. Zero picks defaults by accel.
	KernelOutputTimeout time.Duration
	BootTimeout         time.Duration
	// Progress receives what a person watching should see (apt progress,
	// phases); Log gets the details (nil: discarded).
	Progress io.Writer
	Log      *slog.Logger
	// LabVersion goes into provenance.
	LabVersion string
	// RunTimeout bounds one experiment on one kernel, boot included
	// (default DefaultRunTimeout).
	RunTimeout time.Duration
	// Choice is the invocation's accelerator, set by Matrix after its one
	// KVM probe (tests set it to play a host); nil: Run probes (the memo
	// makes that cheap after the first time).
	Choice *accel.Choice
	// Dump writes the guest's memory to the result directory when the
	// guest hangs.
	Dump bool
	// Snapshot restores each run from a snapshot of a booted guest
	// (booted_guest.go); Cold forces a cold boot even then.
	Snapshot bool
	Cold     bool
	// Repeat runs each cell this many times, each from a fresh restore
	// (Matrix; 0 or 1: once).
	Repeat int
	// QEMUVersion is QEMU's version, asked once by Matrix (a restored
	// cell asked twice, 10-20 ms each); "" asks each time.
	QEMUVersion string
	// GDB starts QEMU's gdbstub (loopback only), adds nokaslr and pauses
	// the VM: before the kernel's first instruction, or before step
	// GDBStep (1-based) when that is set; the run goes on once the
	// debugger continues the VM (gdb.go).
	GDB     bool
	GDBStep int

	// backend starts the machines and dials the agents: QEMU and SSH
	// when nil; the runner's tests play scripted guests (machine.go).
	backend backend
	// waits replaces DefaultTimeouts for every accelerator when set (the
	// fake guests' tests answer in milliseconds).
	waits *Timeouts
}

type runError struct {
	kind string
	err  error
}

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func fail(kind string, err error) error { return &runError{kind: kind, err: err} }

// Prepared is everything a boot needs, built once per kernel and experiment
// set (a matrix shares it across runs).
type Prepared struct {
	Image *image.Image
	// KernelSHA256 is the kernel's (its bzImage's) sha256, taken once:
	// provenance and snapshot keys name the kernel by it.
	KernelSHA256 string
	// BootKernel is what QEMU boots: the kernel's vmlinux from its PVH
	// entry when it has one (see package pvh), else its bzImage.
	BootKernel string
	Modules    map[string]string // name -> .ko
	Initramfs  *initramfs.Image
}

// Arch is the prepared kernel's architecture.
func (p *Prepared) Arch() arch.Arch { return p.Image.Spec.Target() }

// Prepare fetches the image, builds every module family against it and packs
// the initramfs.
func Prepare(ctx context.Context, o Options, spec *image.Spec) (*Prepared, error) {
	o.Log = logx.Or(o.Log)
	img, err := image.Fetch(ctx, spec, image.FetchOptions{
		CacheDir: o.CacheDir, Mirror: o.Mirror, SecurityMirror: o.SecurityMirror,
		SnapshotMirror: o.SnapshotMirror, Locked: o.Locked,
		Progress: o.Progress, Log: o.Log,
	})
	if err != nil {
		return nil, fail(results.KindBuild, err)
	}
	// The image may have followed its series: what runs is img.Spec.
	spec = img.Spec
	families, err := kmod.FamilyDirs(append([]string{filepath.Join(o.RepoRoot, "kmods")}, o.Kmods...))
	if err != nil {
		return nil, fail(results.KindBuild, err)
	}
	modules := map[string]string{}
	compiler := spec.Compiler
	if spec.BuildRoot != nil {
		// A build root follows the kernel's compiler as its headers name
		// it: a followed sid build may have moved on from the spec's.
		if cc, err := img.HeadersCompiler(); err == nil && cc != compiler {
			fmt.Fprintf(o.progressWriter(), "lab: %s: the headers name %s, the spec %s; building modules with %s\n", spec.Name, cc, compiler, cc)
			compiler = cc
		}
	}
	buildRoot := kmod.ImageBuildRoot(img, o.Mirror, compiler)
	if buildRoot != nil {
		buildRoot.Progress = o.Progress
	}
	for _, fam := range families {
		built, err := kmod.Build(ctx, kmod.BuildOptions{
			Src: fam, HeadersDir: img.HeadersDir(), Release: spec.Release,
			Compiler: compiler, CacheDir: o.CacheDir,
			KeyExtra: img.BuildKey(), Log: o.Log,
			BuildRoot: buildRoot, Arch: spec.Target(),
		})
		if err != nil {
			return nil, fail(results.KindBuild, fmt.Errorf("image %s: %w", spec.Name, err))
		}
		for n, p := range built {
			modules[n] = p
		}
	}
	target := spec.Target()
	boot, err := kmod.LoadOrder(img.ModulesDir(), spec.BootModules)
	if err != nil {
		return nil, fail(results.KindBuild, fmt.Errorf("image %s: boot modules: %w", spec.Name, err))
	}
	ir, err := initramfs.Build(ctx, initramfs.Options{
		RepoRoot: o.RepoRoot, CacheDir: o.CacheDir, Modules: modules, BootModules: boot, Log: o.Log,
		Progress: o.Progress, Commands: o.Commands, Arch: target,
	})
	if err != nil {
		return nil, fail(results.KindBuild, err)
	}
	kernel := img.KernelPath()
	sum := fileSHA256(kernel)
	if !target.PVH {
		// QEMU boots an arm64 Image as it is: PVH is an x86 entry.
	} else if k, err := pvh.Kernel(ctx, o.CacheDir, kernel, sum); err != nil {
		o.Log.Info("booting the bzImage", "image", spec.Name, "why", err)
	} else {
		kernel = k
	}
	return &Prepared{Image: img, KernelSHA256: sum, BootKernel: kernel, Modules: modules, Initramfs: ir}, nil
}

// Run runs exp on the prepared kernel and writes the result into
// <runDir>/<kernel>/<experiment>/. It always returns a result; its verdict
// is error when the lab could not complete the run.
func Run(ctx context.Context, o Options, p *Prepared, exp *experiment.Spec, runID, runDir string) *results.Result {
	dir, err := results.CellDir(runDir, p.Image.Spec.Name, exp.Name)
	return runIn(ctx, o, p, exp, runID, dir, err, nil)
}

// runIn is Run into the directory dir (a cell's, or one repeat's);
// dirErr is why dir could not be made; pre is the guest loaded for it
// ahead of time, or nil.
func runIn(ctx context.Context, o Options, p *Prepared, exp *experiment.Spec, runID, dir string, dirErr error, pre *preloaded) *results.Result {
	defer pre.discard() // a run that did not restore leaves it unused
	o.Log = logx.Or(o.Log)
	spec := p.Image.Spec
	r := &results.Result{
		RunID:      runID,
		Experiment: exp.Name,
		Summary:    exp.Summary,
		Kernel:     results.Kernel{Name: spec.Name, Release: spec.Release, PackageVersion: spec.PackageVersion(), Arch: spec.ArchOrDefault()},
		Steps:      []results.Step{},
		Oopses:     []evidence.Report{},
		Processes:  []results.Process{},
		TimingsMS:  map[string]int64{},
	}
	start := time.Now()
	if dirErr != nil {
		r.Verdict, r.Error, r.ErrorKind = results.Error, dirErr.Error(), results.KindBoot
		return r
	}
	s := &session{o: o, p: p, exp: exp, r: r, dir: dir, tickets: map[string]string{}, pre: pre}
	limit := o.runTimeout()
	rctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("the run took longer than %s", limit))
	defer cancel()
	err := s.run(rctx)
	s.collect(err == nil)
	r.TimingsMS["total"] = time.Since(start).Milliseconds()
	if err != nil {
		r.Verdict = results.Error
		r.Error = err.Error()
		var re *runError
		if errors.As(err, &re) {
			r.ErrorKind = re.kind
		}
		if ctx.Err() != nil {
			r.ErrorKind = results.KindInterrupted
		} else if rctx.Err() != nil {
			r.ErrorKind = results.KindGuestHang
			r.Error = fmt.Sprintf("%v: %v", context.Cause(rctx), err)
		}
		if cl := vm.CmdlinePath(filepath.Join(dir, "qemu.stderr")); fileExists(cl) && r.ErrorKind != results.KindInterrupted {
			r.Notes = append(r.Notes, "QEMU's command line is in qemu.cmdline (run it again by hand with it)")
			// Printed too: the person who saw the failure can paste it.
			fmt.Fprintf(o.progressWriter(), "lab: %s on %s failed (%s); QEMU ran as:\n  %s\n", exp.Name, spec.Name, r.ErrorKind, strings.TrimSpace(readFile(cl)))
		}
	}
	experiment.Judge(exp, r)
	if werr := results.Write(dir, r); werr != nil && o.Log != nil {
		o.Log.Error("write result", "dir", dir, "err", werr)
	}
	return r
}

type session struct {
	o       Options
	p       *Prepared
	exp     *experiment.Spec
	r       *results.Result
	dir     string
	machine machine
	client  agentConn
	// kernelPrinted: the kernel of the current boot printed its first
	// line, so a death after it is the guest's, not the accelerator's.
	kernelPrinted bool
	holders       []string
	// tickets maps async step ids to the agent's tickets; asyncSteps are
	// those steps, whose processes are observed at the end like holders.
	tickets    map[string]string
	asyncSteps []experiment.Step
	// t are the waits of the current boot's accelerator.
	t Timeouts
	// kernelSyms are the running kernel's names for the raw addresses of
	// its reports, asked of its kallsyms before the VM stops.
	kernelSyms []protocol.KernelSymbol
	// pre is this run's guest, restored ahead of time (preload.go); the
	// restore takes it. snapshotPath is the snapshot the guest came from.
	pre          *preloaded
	snapshotPath string
}

func (s *session) consolePath() string { return filepath.Join(s.dir, "console.log") }

func (s *session) run(ctx context.Context) error {
	for _, m := range s.exp.Modules {
		if _, ok := s.p.Modules[m]; !ok {
			return fail(results.KindBadExperiment, fmt.Errorf("experiment %s needs module %s, which no family in kmods/ or a --kmods directory builds", s.exp.Name, m))
		}
	}
	err := s.bootChosen(ctx)
	if err != nil {
		return err
	}
	return s.steps(ctx)
}

func (s *session) progress() io.Writer { return s.o.progressWriter() }

func (o Options) progressWriter() io.Writer {
	if o.Progress == nil {
		return io.Discard
	}
	return o.Progress
}

func (s *session) provenance(cmdline string) results.Provenance {
	pv := results.Provenance{
		KernelSHA256:    s.p.KernelSHA256,
		InitramfsSHA256: s.p.Initramfs.SHA256,
		Packages:        map[string]string{},
		Modules:         map[string]string{},
		QEMU:            s.o.qemuVersion(s.p.Arch()),
		Lab:             s.o.LabVersion,
		Cmdline:         cmdline,
	}
	for _, pk := range s.p.Image.Spec.Packages {
		pv.Packages[pk.Name+"="+pk.Version] = pk.SHA256
	}
	pv.Lock = lockProvenance(s.p.Image)
	for _, m := range s.exp.Modules {
		pv.Modules[m] = fileSHA256(s.p.Modules[m])
	}
	return pv
}

// lockProvenance records the locked and the resolved versions of the
// image's packages, and whether lab followed the series.
func lockProvenance(img *image.Image) *results.LockProvenance {
	if img.Spec.Tree != "" {
		return nil // a local tree has no lock
	}
	res := img.Resolution
	lp := &results.LockProvenance{
		LockedRelease: res.LockedRelease, Locked: map[string]string{}, Resolved: map[string]string{},
		Followed: res.Followed, Snapshot: res.Snapshot,
	}
	for _, p := range res.Locked {
		lp.Locked[p.Name] = p.Version
	}
	for _, p := range img.Spec.Packages {
		lp.Resolved[p.Name] = p.Version
	}
	if res.Followed {
		locked := *img.Spec
		locked.Release, locked.Packages = res.LockedRelease, res.Locked
		lp.Note = image.FollowLine(img.Spec.Name, &locked, img.Spec)
	}
	return lp
}

func fileSHA256(path string) string {
	sum, _ := safefile.SHA256(path)
	return sum
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// qemuVersion is the version of a's QEMU: for amd64 the one Matrix asked,
// else asked now.
func (o Options) qemuVersion(a arch.Arch) string {
	if !a.Native() {
		return vm.Version(o.qemuFor(a))
	}
	if o.QEMUVersion != "" {
		return o.QEMUVersion
	}
	return vm.Version(o.QEMU)
}

// qemuFor is the QEMU binary for guests of a: o.QEMU (--qemu) for amd64,
// the architecture's own emulator from PATH for the others.
func (o Options) qemuFor(a arch.Arch) string {
	if a.Native() {
		return o.QEMU
	}
	return a.QEMU
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
