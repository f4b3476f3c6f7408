// Package results holds the run record that reports, CI and tests read
// (result.json, schema below), writes it without ever leaving a torn file,
// and renders it for people.
package results

import (
	"github.com/kernel-lab/lab/internal/evidence"
)

// Schema is the version of the result record. Fields may be added; renaming
// or removing one bumps it, and so does a field older readers would
// misread (schema 2: a cell of repeats keeps repeat 1's record at the top
// and the distribution in "repeats"). Read takes every schema up to this
// one.
const Schema = 2

// Verdicts.
const (
	Pass  = "pass"  // what was observed matches the expectations
	Fail  = "fail"  // it ran and the kernel did something else
	Error = "error" // the lab could not complete the run
)

// Error kinds: why a run has verdict error.
const (
	KindBuild          = "build"            // fetching the kernel or building modules/initramfs failed
	KindBoot           = "boot"             // the lab could not set up the boot
	KindNoKernelOutput = "no-kernel-output" // the kernel printed nothing (a broken KVM does this)
	KindKernelPanic    = "kernel-panic"     // the kernel panicked (not expected by the experiment)
	KindQEMUExited     = "qemu-exited"      // QEMU failed to start or died
	KindGuestHang      = "guest-hang"       // the guest stopped answering
	KindAgentLost      = "agent-lost"       // the agent's connection broke while the guest ran
	KindAgentFailed    = "agent-failed"     // the agent could not start in the guest
	KindInterrupted    = "interrupted"      // Ctrl-C or SIGTERM on the host
	KindBadExperiment  = "bad-experiment"   // the experiment cannot run on this kernel
)

// Result is the record of one experiment on one kernel.
type Result struct {
	Schema     int    `json:"schema"`
	RunID      string `json:"run_id"`
	Experiment string `json:"experiment"`
	Summary    string `json:"summary,omitempty"`
	Kernel     Kernel `json:"kernel"`
	Accel      string `json:"accel"`
	Verdict    string `json:"verdict"`
	// Reason explains a fail verdict: the expectations that did not hold.
	Reason string `json:"reason,omitempty"`
	// Error says why the lab could not complete the run; ErrorKind
	// classifies it ("guest-hang", "qemu-exited", "agent-lost", "build" …).
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	// Panic is the kernel's panic line when the guest panicked.
	Panic     string            `json:"panic,omitempty"`
	Steps     []Step            `json:"steps"`
	Checks    []Check           `json:"checks"`
	Oopses    []evidence.Report `json:"oopses"`
	Processes []Process         `json:"processes"`
	// Modules are the layouts of the experiment's modules, taken after each
	// load and just before each unload (Event says which): what names
	// addresses in a module, loaded or freed.
	Modules    []ModuleLayout   `json:"modules,omitempty"`
	TimingsMS  map[string]int64 `json:"timings_ms"`
	Provenance Provenance       `json:"provenance"`
	Notes      []string         `json:"notes,omitempty"`
	// Signature is what the kernel did, free of what changes from run to
	// run (signature.go); Write computes it, Read fills it for schema 1.
	Signature *Signature `json:"signature,omitempty"`
	// Repeats is set on a cell run more than once (--repeat): the
	// distribution of the repeats' signatures. The fields above are then
	// repeat 1's, and each repeat's own record is in repeat-NN/.
	Repeats *Repeats `json:"repeats,omitempty"`
}

// Kernel names the kernel a result was taken on.
type Kernel struct {
	Name           string `json:"name"`
	Release        string `json:"release"`
	PackageVersion string `json:"package_version"`
	// Arch is the kernel's architecture (amd64, arm64); results written
	// before lab ran arm64 kernels have none, and were amd64.
	Arch string `json:"arch,omitempty"`
}

// Step is what one experiment step did.
type Step struct {
	Index    int    `json:"index"`
	Line     int    `json:"line"`
	Action   string `json:"action"`
	Target   string `json:"target"`
	OK       bool   `json:"ok"`
	Errno    string `json:"errno"`
	Error    string `json:"error,omitempty"`
	Data     string `json:"data,omitempty"`
	NoAnswer bool   `json:"no_answer,omitempty"`
	// Exists answers an exists step.
	Exists *bool `json:"exists,omitempty"`
	// Return is an ioctl's return value or a write's byte count; Exit an
	// exec's exit status (its stdout is Data).
	Return *int64 `json:"return,omitempty"`
	Exit   *int   `json:"exit,omitempty"`
	MS     int64  `json:"ms"`
	// At is when the step began on the kernel log's clock (the agent's
	// step marker), in seconds: what places a step beside the kernel's
	// reports and the unload instant in the timeline. 0 when unknown.
	At float64 `json:"at,omitempty"`
	// Process is the state of the process doing the step when it did not
	// answer, or the observed process of an observe step.
	Process *StepProcess `json:"process,omitempty"`
	// Oopses are indexes into Result.Oopses of reports the kernel printed
	// while this step ran.
	Oopses []int `json:"oopses,omitempty"`
}

// Check is one expectation and what was observed.
type Check struct {
	Step int    `json:"step,omitempty"` // 1-based step index; 0 for the whole run
	Line int    `json:"line"`           // line of the expectation in the experiment file
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// Process is the final state of a process the experiment started.
type Process struct {
	Holder         string   `json:"holder,omitempty"`
	PID            int      `json:"pid"`
	Comm           string   `json:"comm"`
	State          string   `json:"state"`
	Wchan          string   `json:"wchan"`
	Stack          []string `json:"stack"`
	HungTaskReport string   `json:"hung_task_report"`
	Exited         bool     `json:"exited,omitempty"`
	ExitStatus     string   `json:"exit_status,omitempty"`
}

// StepProcess is what /proc said about the process doing a step. It is
// the result's own type, not the wire's (protocol.ProcessState), so that a
// change to the protocol cannot change result schema 1 unnoticed; the
// fields and JSON names are schema 1's.
type StepProcess struct {
	PID        int      `json:"pid"`
	Comm       string   `json:"comm"`
	State      string   `json:"state"`
	Wchan      string   `json:"wchan"`
	Stack      []string `json:"stack"`
	Exited     bool     `json:"exited,omitempty"`
	ExitStatus string   `json:"exit_status,omitempty"`
}

// StateLetter returns the one-letter state ("D", "X", "gone").
func (p *StepProcess) StateLetter() string {
	if p == nil || p.State == "" {
		return ""
	}
	if p.State == "gone" {
		return "gone"
	}
	return p.State[:1]
}

// ModuleLayout is where a module lay in kernel memory, after a load or
// just before an unload (schema 1's "modules" items; see
// protocol.ModuleLayout for what each field means).
type ModuleLayout struct {
	Name     string            `json:"name"`
	Event    string            `json:"event"`
	Base     uint64            `json:"base"`
	Size     uint64            `json:"size"`
	Sections map[string]uint64 `json:"sections"`
	Uptime   float64           `json:"uptime"`
	GoneAt   float64           `json:"gone_at,omitempty"`
}

// Provenance pins what produced a result.
type Provenance struct {
	KernelSHA256    string            `json:"kernel_sha256"`
	InitramfsSHA256 string            `json:"initramfs_sha256"`
	Packages        map[string]string `json:"packages,omitempty"` // name -> sha256
	Modules         map[string]string `json:"modules,omitempty"`  // name -> sha256 of the .ko
	// Lock relates the kernel packages that ran to the image's lock.
	Lock    *LockProvenance `json:"lock,omitempty"`
	QEMU    string          `json:"qemu"`
	Lab     string          `json:"lab"`
	Cmdline string          `json:"cmdline"`
}

// LockProvenance relates the kernel packages that ran to the image's lock
// (images/NAME.lock): the same, followed to a newer build of the series
// because the mirror dropped the locked one, or fetched from a snapshot
// archive.
type LockProvenance struct {
	LockedRelease string            `json:"locked_release,omitempty"`
	Locked        map[string]string `json:"locked"`   // package -> version, as locked
	Resolved      map[string]string `json:"resolved"` // package -> version, as run
	Followed      bool              `json:"followed,omitempty"`
	Snapshot      string            `json:"snapshot,omitempty"`
	// Note says it in one line (the line lab printed when it followed).
	Note string `json:"note,omitempty"`
}
