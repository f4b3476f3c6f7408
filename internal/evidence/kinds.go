package evidence

import (
	"regexp"
	"strings"
)

// Debugging and sanitizer report formats, with where the kernel prints them.
var (
	// mm/kasan/report.c, mm/kmsan/report.c, mm/kfence/report.c,
	// kernel/kcsan/report.c: "BUG: KASAN: slab-use-after-free in
	// f+0x12/0x40", "BUG: KCSAN: data-race in f / g".
	reSanitizer = regexp.MustCompile(`^BUG: (KASAN|KMSAN|KFENCE|KCSAN): (.+?) in (.+)$`)
	// KASAN's second line: "Read of size 8 at addr ffff888003a1b2c8 by task rmmod/90".
	reKASANAccess = regexp.MustCompile(`^(Read|Write) of size (\d+) at addr ([0-9a-f]+)`)
	// KFENCE's second line: "Use-after-free read at 0xffff8c3f2e291fb0 (in kfence-#79):".
	reKFENCEAccess = regexp.MustCompile(`^[A-Z][\w -]* (read|write) at (0x[0-9a-f]+)`)
	// KCSAN's access lines: "write to 0xffffffffc009a628 of 8 bytes by task 487 on cpu 0:".
	reKCSANAccess = regexp.MustCompile(`^(read|write)(?: \(marked\))? to (0x[0-9a-f]+) of (\d+) bytes by (?:task (\d+)|interrupt) on cpu (\d+):`)
	// lib/ubsan.c: "UBSAN: array-index-out-of-bounds in drivers/x.c:12:3",
	// before 5.11 "UBSAN: Undefined behaviour in drivers/x.c:12:3".
	reUBSAN = regexp.MustCompile(`^UBSAN: (.+?) in (\S+)$`)
	// kernel/rcu/tree_stall.h: "rcu: INFO: rcu_preempt self-detected stall
	// on CPU", "rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
	// "... detected expedited stalls ..."; 4.x without "rcu: ".
	reRCUStall = regexp.MustCompile(`^(?:rcu: )?INFO: rcu_\w+ (?:self-detected stall on CPU|detected (?:expedited )?stalls on CPUs/tasks)`)
	// mm/kmemleak.c: "unreferenced object 0xffff888007a4c000 (size 64):".
	reKmemleak   = regexp.MustCompile(`^unreferenced object (0x[0-9a-f]+) \(size (\d+)\):`)
	reKmemleakBy = regexp.MustCompile(`^comm "(.*)", pid (\d+), jiffies`)
	// A lockdep report's location, "kernel/foo.c:123 suspicious rcu_dereference_check() usage!".
	reSuspicious = regexp.MustCompile(`^(\S+:\d+) suspicious `)
)

// lockdepTitles maps the banners of kernel/locking/lockdep.c (after
// "WARNING: ") to the title of their reports, the way syzbot names them.
var lockdepTitles = map[string]string{
	"possible circular locking dependency detected":      "possible deadlock",
	"possible recursive locking detected":                "possible deadlock",
	"possible irq lock inversion dependency detected":    "possible deadlock",
	"HARDIRQ-safe -> HARDIRQ-unsafe lock order detected": "possible deadlock",
	"SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected": "possible deadlock",
	"inconsistent lock state":                            "inconsistent lock state",
	"suspicious RCU usage":                               "WARNING: suspicious RCU usage",
	"bad unlock balance detected!":                       "WARNING: bad unlock balance",
	"held lock freed!":                                   "WARNING: held lock freed",
	"lock held when returning to user space!":            "WARNING: lock held when returning to user space",
	"Nested lock was not taken":                          "WARNING: nested lock was not taken",
	"lock held at task exit time!":                       "WARNING: lock held at task exit time",
}

func sanitizerHeader(t string) *report {
	m := reSanitizer.FindStringSubmatch(t)
	if m == nil {
		return nil
	}
	kind := map[string]Kind{"KASAN": KindKASAN, "KMSAN": KindKMSAN, "KFENCE": KindKFENCE, "KCSAN": KindKCSAN}[m[1]]
	r := newReport(kind, endSeparator, t, m[1]+": "+m[2])
	r.lenient = true
	if kind == KindKCSAN {
		// "data-race in f / g": both functions are printed without
		// offsets; the title keeps them as the kernel names them.
		r.base = m[1] + ": " + m[2] + " in " + m[3]
		r.fixedTitle = true
		if f := strings.Fields(m[3]); len(f) > 0 {
			r.culpritName = f[0]
		}
		r.stack = &r.o.CallTrace
		return r
	}
	if kind == KindKFENCE {
		// "use-after-free read", "out-of-bounds write": the access kind
		// ends the bug type.
		if i := strings.LastIndexByte(m[2], ' '); i > 0 {
			r.o.Access = m[2][i+1:]
		}
	}
	if isFrame(m[3]) {
		r.culprit = m[3]
	}
	if kind == KindKMSAN {
		r.stack = &r.o.CallTrace // KMSAN prints its stack right after the banner
	}
	return r
}

func lockdepHeader(banner, t string) *report {
	title, ok := lockdepTitles[banner]
	if !ok {
		return nil
	}
	r := newReport(KindLockdep, endStack, t, title)
	r.lenient = true
	return r
}

// otherHeader recognises reports that do not start with "BUG: ",
// "WARNING: " or a die() line.
func otherHeader(t string) *report {
	switch {
	case strings.HasPrefix(t, "UBSAN: "):
		m := reUBSAN.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		r := newReport(KindUBSAN, endSeparator, t, "UBSAN: "+m[1])
		r.o.Location = m[2]
		r.lenient = true
		r.wantsDetail = true
		return r
	case strings.Contains(t, "INFO: rcu"):
		if !reRCUStall.MatchString(t) {
			return nil
		}
		r := newReport(KindRCUStall, endStack, t, "INFO: rcu detected stall")
		r.lenient = true
		return r
	case strings.HasPrefix(t, "unreferenced object 0x"):
		m := reKmemleak.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		r := newReport(KindMemoryLeak, endStack, t, "memory leak")
		r.o.Address = m[1]
		r.o.AccessSize = atoi(m[2])
		return r
	case strings.HasPrefix(t, "[ INFO: ") && strings.HasSuffix(t, " ]"):
		// lockdep before 4.10: "[ INFO: possible recursive locking detected ]",
		// "[ INFO: suspicious RCU usage. ]" (with a full stop then).
		return lockdepHeader(strings.TrimSuffix(t[len("[ INFO: "):len(t)-2], "."), t)
	case strings.HasPrefix(t, "[ BUG: ") && strings.HasSuffix(t, " ]"):
		// ... and its "[ BUG: bad unlock balance detected! ]", "[ BUG:
		// held lock freed! ]".
		return lockdepHeader(t[len("[ BUG: "):len(t)-2], t)
	}
	return nil
}

// classifyBug gives dump_stack() BUG reports their own kind.
func classifyBug(r *report, what string) {
	switch {
	case what == "sleeping function called from invalid context":
		r.o.Kind = KindAtomicSleep
	case what == "scheduling while atomic":
		r.o.Kind = KindAtomicSchedule
	case what == "Bad page state":
		r.o.Kind = KindBadPage
		r.lenient = true // page dump lines come before the stack
	case strings.HasPrefix(what, "spinlock ") || strings.HasPrefix(what, "rwlock "):
		r.o.Kind = KindSpinlock
	}
}

// classifyWarn names WARNINGs and kernel BUGs that checkers raise on a
// caller's behalf (refcount_t, debugobjects, CONFIG_DEBUG_LIST) by what
// they printed; it runs when the report is complete.
func classifyWarn(r *report) {
	if r.o.Kind != KindWarning && r.o.Kind != KindBug {
		return
	}
	d := r.o.Detail
	rip := funcName(r.culprit)
	if rip == "" {
		rip = funcName(r.o.RIP)
	}
	bugPrefix := "WARNING: "
	if r.o.Kind == KindBug {
		bugPrefix = "BUG: "
	}
	switch {
	case strings.HasPrefix(d, "refcount_t: ") || rip == "refcount_warn_saturate":
		r.o.Kind, r.base = KindRefcount, bugPrefix+"refcount bug"
	case strings.HasPrefix(d, "ODEBUG: ") || rip == "debug_print_object":
		r.o.Kind, r.base = KindODEBUG, bugPrefix+"ODEBUG bug"
	case strings.Contains(d, "list_add corruption") || strings.Contains(d, "list_del corruption") ||
		strings.HasPrefix(r.o.Location, "lib/list_debug.c"):
		// syzbot's name for both the WARN and the BUG form.
		r.o.Kind, r.base = KindListCorruption, "BUG: corrupted list"
	}
}

// sanitizerBody takes the lines of sanitizer reports that the classic
// body does not know, and tells whether it used the line.
func (r *report) sanitizerBody(t string) bool {
	switch {
	case strings.HasPrefix(t, "Allocated by task ") || strings.HasPrefix(t, "allocated by task ") ||
		strings.HasPrefix(t, "Uninit was created at:") || strings.HasPrefix(t, "Uninit was stored to memory at:"):
		r.stack = &r.o.AllocStack
		if r.o.AllocStack != nil { // a second "stored to memory" section: keep the first
			r.stack = new([]string)
		}
	case strings.HasPrefix(t, "Freed by task ") || strings.HasPrefix(t, "freed by task "):
		r.stack = &r.o.FreeStack
	case strings.HasPrefix(t, "Last potentially related work creation:") || strings.HasPrefix(t, "Second to last potentially related") ||
		strings.HasPrefix(t, "The buggy address") || strings.HasPrefix(t, "Memory state around") ||
		strings.HasPrefix(t, "Reported by Kernel Concurrency Sanitizer"):
		r.stack = nil
	case r.o.Kind == KindKASAN && r.o.Access == "":
		if m := reKASANAccess.FindStringSubmatch(t); m != nil {
			r.o.Access, r.o.AccessSize, r.o.Address = m[1], atoi(m[2]), m[3]
			return true
		}
		return false
	case r.o.Kind == KindKFENCE && r.o.Address == "":
		if m := reKFENCEAccess.FindStringSubmatch(t); m != nil {
			r.o.Address = m[2]
			r.stack = &r.o.CallTrace
			return true
		}
		return false
	case r.o.Kind == KindKCSAN && (strings.HasPrefix(t, "read") || strings.HasPrefix(t, "write")):
		m := reKCSANAccess.FindStringSubmatch(t)
		if m == nil {
			return false
		}
		if r.o.Access == "" {
			r.o.Access, r.o.Address, r.o.AccessSize = m[1], m[2], atoi(m[3])
			r.stack = &r.o.CallTrace
		} else {
			r.stack = &r.o.OtherStack
		}
	default:
		return false
	}
	return true
}

// title names the report: its base and the guilty function.
func (r *report) title() string {
	if r.fixedTitle {
		return r.base
	}
	if r.o.Kind == KindKASAN && (r.o.Access == "Read" || r.o.Access == "Write") {
		// syzbot's "KASAN: slab-use-after-free Read in f".
		r.base += " " + r.o.Access
	}
	f := r.o.Guilty
	if f == "" || r.base == "" {
		return r.o.Message
	}
	return r.base + " in " + f
}

// blame fills RIPFunction and Guilty by the report's policy (see
// policyOf); skips is the parser's memo of skipRules.
func (r *report) blame(skips *skipCache) {
	r.o.RIPFunction = funcName(r.o.RIP)
	if r.o.RIPFunction == "" {
		r.o.RIPFunction = funcName(r.culprit)
	}
	if r.o.RIPFunction == "" {
		r.o.RIPFunction = r.culpritName
	}
	pol := r.policyOf()
	skip := skips.policySkip(pol)
	if r.culpritName != "" && !skip(r.culpritName) {
		r.o.Guilty = canonical(r.culpritName)
		return
	}
	var banner []string
	if r.culprit != "" {
		banner = []string{r.culprit}
	}
	if r.o.Kind == KindLockdep && len(r.lockAt) > 0 {
		if f := r.lockdepDirect(); f != "" {
			r.o.Guilty = canonical(f)
			return
		}
		banner = append(r.lockAt, banner...)
	}
	rips := []string{r.o.RIP}
	if funcName(r.o.RIP) == "" && r.lr != "" {
		// The pc names no function (a call through a stale pointer
		// into freed or unmapped memory): the link register names the
		// function that made the call, which arm64's unwinder may leave
		// out of the trace (its frame record is still the caller's).
		rips = append(rips, r.lr)
	}
	frames := r.o.CallTrace
	switch {
	case r.o.Kind == KindRCUStall:
		// The stall is where the interrupted task was: the register dump
		// inside the trace after the IRQ, and frames outside <IRQ> (the
		// timer interrupt that caught it). A hard lockup keeps its <IRQ>
		// frames: the NMI that caught it prints none of its own, so
		// frames in an interrupt are the handler that kept interrupts
		// off.
		rips = append(rips, r.nestedRIP)
		frames = r.taskFrames
	case r.o.Kind == KindSoftLockup && r.o.RIP != "":
		// The watchdog prints the registers of the context its timer
		// interrupted, and the trace from there: a CPU stuck in softirq
		// processing shows the stuck code inside <IRQ>, then the task
		// that interrupt came in on. syzkaller reads the first RIP and
		// the frames in order, <IRQ> ones included; the stall anchor
		// picks among them.
	case r.o.Kind == KindSoftLockup:
		// No registers before the trace (dump_stack() from the
		// watchdog's own interrupt): the stall is where that interrupt
		// came in, as for RCU stalls.
		rips = append(rips, r.nestedRIP)
		frames = r.taskFrames
	}
	switch pol {
	case policyHung:
		r.o.Guilty = hungGuilty(skip, frames)
	case policyStall:
		r.o.Guilty = stallGuilty(skip, banner, rips, frames)
	default:
		r.o.Guilty = guilty(skip, banner, rips, frames)
	}
	r.o.Guilty = canonical(r.o.Guilty)
}

// rcuContinues tells whether a line after a trace of an RCU stall report
// still belongs to it. The stall prints, in either order, the stalled
// task's trace (or its CPU's NMI backtrace) and the grace-period
// kthread's dump; the kthread's frames are set aside, not blamed. The
// report ends at the dump of the CPU the kthread last ran on, or at a
// second backtrace once the stalled task's frames are taken.
func (r *report) rcuContinues(t string) bool {
	switch {
	case strings.HasPrefix(t, "rcu: Stack dump where"):
		return false
	case strings.HasPrefix(t, "rcu: "):
		r.aside = r.aside || strings.Contains(t, "grace-period kthread stack dump")
		return true
	case strings.HasPrefix(t, "NMI backtrace for cpu") || strings.HasPrefix(t, "Sending NMI"):
		if len(r.taskFrames) == 0 {
			r.aside = false
			return true
		}
	}
	return false
}
