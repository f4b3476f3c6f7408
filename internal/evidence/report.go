// Package evidence turns what a kernel printed into records: oopses, BUGs,
// WARNINGs, hung-task and lockup reports, panics.
//
// The input is the guest's serial console log, the ground truth of a run
// because it survives a guest that hangs or dies. A console carries more
// than the kernel's messages, so the parser copes with userspace output
// interleaved with kernel lines (even glued to the front of one), CRLF line
// endings, and logs with timestamps ("[   12.345678] "), without them (plain
// dmesg), with dmesg -T dates, with "<1>" level prefixes, /dev/kmsg records
// ("6,339,5140900,-;text"), syslog headers ("... kernel: ") or the
// journal's bare "kernel: ", talosctl's "host: kern: level: [time]: ", and
// logs quoted in mail ("> ") or wrapped by a mailer.
package evidence

import "strings"

// Kind says what a Report is: a crash (oops, BUG, GPF …), a WARNING, a
// hung task, a sanitizer report …; KindOops is one kind among them (a die()
// line with nothing before it), not the type of every report.
type Kind string

// Report kinds, the values of Report.Kind.
const (
	KindPageFault     Kind = "page-fault"     // BUG: unable to handle page fault for address: X
	KindNullDeref     Kind = "null-deref"     // BUG: kernel NULL pointer dereference, address: X (and the pre-4.17 wording)
	KindPagingRequest Kind = "paging-request" // BUG: unable to handle kernel paging request at X (pre-4.17)
	KindGPF           Kind = "gpf"            // general protection fault ...: 0000 [#1]
	KindBug           Kind = "bug"            // kernel BUG at file:line!, a bare "invalid opcode" die, and other "BUG: ..." reports
	KindWarning       Kind = "warning"        // WARNING: ... from __warn (WARN_ON, WARN)
	KindHungTask      Kind = "hung-task"      // INFO: task X:PID blocked for more than N seconds.
	KindSoftLockup    Kind = "soft-lockup"    // watchdog: BUG: soft lockup - CPU#0 stuck for 22s!
	KindHardLockup    Kind = "hard-lockup"    // Watchdog detected hard LOCKUP on cpu 1
	KindPanic         Kind = "panic"          // Kernel panic - not syncing: ...
	KindOops          Kind = "oops"           // a die() line with no BUG: line before it ("Oops: 0002 [#1]", "int3: 0000 [#1]")

	// Debugging and sanitizer reports: the kernel goes on after them
	// (unless panic_on_warn), but each names a bug.
	KindKASAN          Kind = "kasan"              // BUG: KASAN: slab-use-after-free in f+0x1/0x2
	KindKMSAN          Kind = "kmsan"              // BUG: KMSAN: uninit-value in f+0x1/0x2
	KindKFENCE         Kind = "kfence"             // BUG: KFENCE: use-after-free read in f+0x1/0x2
	KindKCSAN          Kind = "kcsan"              // BUG: KCSAN: data-race in f / g
	KindUBSAN          Kind = "ubsan"              // UBSAN: array-index-out-of-bounds in file.c:12:3
	KindLockdep        Kind = "lockdep"            // WARNING: possible circular locking dependency detected, suspicious RCU usage, ...
	KindRCUStall       Kind = "rcu-stall"          // rcu: INFO: rcu_preempt self-detected stall on CPU
	KindMemoryLeak     Kind = "memory-leak"        // kmemleak: unreferenced object 0x... (size 64):
	KindAtomicSleep    Kind = "sleep-in-atomic"    // BUG: sleeping function called from invalid context at file.c:12
	KindAtomicSchedule Kind = "schedule-in-atomic" // BUG: scheduling while atomic: comm/pid/0x00000002
	KindBadPage        Kind = "bad-page"           // BUG: Bad page state in process comm  pfn:...
	KindListCorruption Kind = "list-corruption"    // list_del corruption. ... then a WARNING or kernel BUG in lib/list_debug.c
	KindRefcount       Kind = "refcount"           // refcount_t: underflow; use-after-free. then a WARNING in refcount_warn_saturate
	KindODEBUG         Kind = "odebug"             // ODEBUG: free active (active state 0) object: ... then a WARNING
	KindSpinlock       Kind = "spinlock"           // BUG: spinlock bad magic on CPU#0, comm/pid (and recursion, lockup suspected, ...)
)

// Report is one report the kernel printed: an oops, a BUG, a WARNING, a
// hung task, a lockup, a sanitizer finding or a panic, told apart by Kind.
// Fields the report does not carry are left empty; CPU is -1 when the
// report names no CPU (hung-task reports).
type Report struct {
	Kind Kind `json:"kind"`
	// Arch is the architecture the report came from ("amd64", "386",
	// "arm64", "arm", "powerpc", "riscv", "s390", "mips", "loongarch"),
	// told by its register dump, its fault banner, its trace's entry
	// frames or x86's stack markers; empty when nothing told.
	Arch string `json:"arch,omitempty"`
	// Title names the report the way a bug tracker would, with the guilty
	// function: "BUG: unable to handle page fault in vfs_read",
	// "WARNING in remove_proc_entry", "INFO: task rmmod blocked in
	// proc_entry_rundown". It falls back to Message when no function can be
	// named (a RIP in freed module memory and no reliable frame).
	Title string `json:"title"`
	// Message is the report's first line as printed.
	Message string `json:"message"`
	// Detail is what a WARN() or BUG report said besides its banner:
	// "remove_proc_entry: removing non-empty directory 'lab', leaking at
	// least 'slow'" (printed before the WARNING line up to 6.18, after it
	// since).
	Detail string `json:"detail,omitempty"`
	// Address is the faulting address from the first line, as printed.
	Address string `json:"address,omitempty"`
	// Location is the source location the kernel named: "fs/proc/generic.c:725"
	// for a WARNING or "fs/inode.c:1234" for a kernel BUG.
	Location string `json:"location,omitempty"`
	// RIP is the faulting instruction as printed after "RIP: 0010:":
	// "vfs_read+0x7f/0x2e0", "device_read+0x1d/0x60 [chardev]" or
	// "0xffffffffc05b3198" when it lies outside any known symbol. On other
	// architectures it is their PC: arm64's "pc : ", arm's "PC is at ",
	// powerpc's "NIP [...] ", riscv's and MIPS's "epc : ", LoongArch's
	// "ERA: ", s390's "Krnl PSW", 32-bit x86's "EIP is at ".
	RIP string `json:"rip,omitempty"`
	// RIPFunction is the function of RIP ("vfs_read"), or where RIP is
	// not printed (WARNING without registers, sanitizer reports) the one
	// the banner names: where the kernel was, whoever is to blame.
	RIPFunction string `json:"rip_function,omitempty"`
	// Guilty is the function Title blames: the first of the banner's
	// function, RIP and the frames that is not reporting machinery, a
	// generic helper or scheduler and locking plumbing (see skipRules).
	Guilty        string   `json:"guilty,omitempty"`
	Comm          string   `json:"comm,omitempty"`
	PID           int      `json:"pid,omitempty"`
	CPU           int      `json:"cpu"`
	Tainted       string   `json:"tainted,omitempty"` // "G OE"; empty when "Not tainted"
	TaintFlags    []string `json:"taint_flags,omitempty"`
	KernelRelease string   `json:"kernel_release,omitempty"`
	OopsNumber    int      `json:"oops_number,omitempty"` // N of "[#N]"
	ErrorCode     string   `json:"error_code,omitempty"`  // "0000" from the die line, else from "#PF: error_code(0x0000)"
	CR2           string   `json:"cr2,omitempty"`
	// Registers holds the general registers of the first register dump
	// (the faulting context), keyed RAX..R15, RSP, EFLAGS. Later dumps (the
	// user-mode registers at syscall entry inside the call trace, and the
	// summary repeated after the end marker) are left out.
	Registers map[string]string `json:"registers,omitempty"`
	// CallTrace lists the reliable frames as printed ("ksys_read+0x6f/0xf0",
	// "device_read+0x1d/0x60 [chardev]"). Frames printed with "? " are
	// unreliable leftovers on the stack and are left out (Text keeps them);
	// <TASK>, <IRQ> and similar markers and nested register dumps are skipped.
	CallTrace       []string `json:"call_trace"`
	ModulesLinkedIn []string `json:"modules_linked_in,omitempty"` // names without their "(OE)" flags
	LastUnloaded    string   `json:"last_unloaded,omitempty"`
	// RecursiveFault is set when "Fixing recursive fault but reboot is
	// needed!" followed this report before the next one began: the task
	// faulted again while exiting and was left dead (D on 5.10, X on 6.1+).
	RecursiveFault bool `json:"recursive_fault"`
	// Complete is set when the report's end was seen: "---[ end trace ...
	// ]---", "---[ end Kernel panic ...", or, for reports that print no end
	// marker (hung task, lockups, dump_stack() BUGs), the end of the stack:
	// "</TASK>", or the first line after a trace printed without markers.
	Complete bool `json:"complete"`
	// Line is the 1-based input line where the report starts.
	Line int `json:"line"`
	// Text is the report's lines without their prefixes, at most maxText
	// of them.
	Text []string `json:"text,omitempty"`
	// Time is the kernel timestamp of the first line, in seconds.
	Time float64 `json:"time,omitempty"`
	// Seconds is how long the task was blocked (hung task) or the CPU stuck
	// (soft lockup).
	Seconds int `json:"seconds,omitempty"`
	// TaskState is the state of a hung task ("D") from its "task:" line.
	TaskState string `json:"task_state,omitempty"`
	// Access is a sanitizer's access kind ("Read", "Write", "read",
	// "Free") and AccessSize its size in bytes.
	Access     string `json:"access,omitempty"`
	AccessSize int    `json:"access_size,omitempty"`
	// AllocStack and FreeStack are the frames KASAN and KFENCE print
	// under "Allocated by task N:" and "Freed by task N:"; KMSAN's "Uninit
	// was created at:" goes to AllocStack. OtherStack is the other
	// access of a KCSAN data race.
	AllocStack []string `json:"alloc_stack,omitempty"`
	FreeStack  []string `json:"free_stack,omitempty"`
	OtherStack []string `json:"other_stack,omitempty"`
	// Condition is the failed condition that a WARNING names in brackets
	// since 7.x: "WARNING: [!list_empty(&x)] file.c:12 at f+0x1/0x2, ...".
	Condition string `json:"condition,omitempty"`
	// Panic is the panic this report ended in when the kernel panicked
	// on its account ("Kernel panic - not syncing: kernel: panic_on_warn
	// set ..."): one report, not two.
	Panic string `json:"panic,omitempty"`
	// Resolved names what the report's raw addresses (CR2, registers,
	// unsymbolized RIP and frames) pointed at, filled in by a Symbolizer.
	Resolved []Resolved `json:"resolved,omitempty"`
}

// IsCrash says whether the report is an oops proper: the kernel died in a
// task (a fault, a BUG). Warnings, hung-task and lockup reports and the
// panic line are reports of other kinds.
func (o Report) IsCrash() bool {
	switch o.Kind {
	case KindPageFault, KindNullDeref, KindPagingRequest, KindGPF, KindBug, KindOops:
		return true
	}
	// A report of another kind that went through die() ("invalid opcode:
	// 0000 [#1]" after a list corruption's kernel BUG) killed its task too.
	return o.OopsNumber > 0
}

// IsWarning says whether the report came from __warn(): a WARNING, or a
// refcount, ODEBUG or list corruption check that WARNs.
func (o Report) IsWarning() bool {
	switch o.Kind {
	case KindWarning, KindRefcount, KindODEBUG:
		return true
	case KindListCorruption:
		return o.OopsNumber == 0
	}
	return false
}

// PanicPrefix starts the kernel's panic line. The parser, the boot and the
// end of a run all ask "did the kernel panic" through it.
const PanicPrefix = "Kernel panic - not syncing"

// PanicLine returns the kernel's panic line from console text (one line or
// a whole log), "" when the kernel did not panic.
func PanicLine(console string) string {
	i := strings.Index(console, PanicPrefix)
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(console[i:], "\n")
	return strings.TrimSpace(line)
}
