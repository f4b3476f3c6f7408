package evidence

import (
	"regexp"
	"strings"
)

// Header lines, one per classic report format.
var (
	rePageFault = regexp.MustCompile(`^BUG: unable to handle page fault for address: (\S+)`)
	reNullDeref = regexp.MustCompile(`^BUG: kernel NULL pointer dereference, address: (\S+)`)
	reOldFault  = regexp.MustCompile(`^BUG: unable to handle kernel (paging request|NULL pointer dereference) at\s+(\S+)`)
	// The watchdog's lines carry its pr_fmt prefix, "watchdog: " or (4.x,
	// and the perf-based hard lockup detector) "NMI watchdog: "; since 6.7
	// the hard lockup line also names the reporting CPU.
	// Authors quoting one in a mail often cut the "[comm:pid]" off; the
	// banner still names the report.
	reSoftLockup = regexp.MustCompile(`^(?:(?:NMI )?watchdog: )?BUG: soft lockup - CPU#(\d+) stuck for (\d+)s!(?: \[(.*):(\d+)\])?`)
	reHardLockup = regexp.MustCompile(`^(?:(?:NMI )?watchdog: )?(?:CPU\d+: )?Watchdog detected hard LOCKUP on cpu (\d+)`)
	reKernelBug  = regexp.MustCompile(`^kernel BUG at (.*?)!?$`)
	// reHungTask matches khungtaskd's line: "blocked for more than", since
	// 6.x also "blocked in I/O wait for more than" (a task in
	// io_schedule) and "can't die for more than" (a task killed with
	// SIGKILL pending that stays in D).
	reHungTask = regexp.MustCompile(`^INFO: task (.+):(\d+) (blocked|blocked in I/O wait|can't die) for more than (\d+) seconds\.`)
	// reDie matches die()'s line: "Oops: 0000 [#1] SMP", since 6.9 "Oops:
	// Oops: 0000 [#1]" and "Oops: general protection fault, ...: 0000
	// [#1]", "invalid opcode: 0000 [#1]". Group 1 names the trap.
	// s390 adds the instruction length: "Oops: 0038 ilc:2 [#1] SMP".
	reDie = regexp.MustCompile(`^(?:Oops: )?(.+?): ([0-9a-f]{4,})(?: ilc:\d)? \[#(\d+)\]`)
	// reWarn is __warn's line up to 6.18: "WARNING: CPU: 0 PID: 133 at
	// fs/proc/generic.c:725 remove_proc_entry+0x1a2/0x1b0" (3.x adds "()").
	// A mailer may wrap it after "at" or after the location; the rest is
	// the next line (bannerRest).
	reWarn = regexp.MustCompile(`^WARNING: CPU: (\d+) PID: (\d+) at(?: (\S+:\d+))?(?: (\S+(?: \[[^\]]+\])?))?`)
	// reWarnNew is __warn's line since 6.19: "WARNING:
	// fs/proc/generic.c:733 at remove_proc_entry+0x20a/0x260, CPU#0:
	// rmmod/101", in 7.x with the failed condition first: "WARNING:
	// [!list_empty(&x)] mm/foo.c:3026 at f+0x44c/0xbc0, CPU#0: comm/1".
	// Symbolized (syzbot), the frame is followed by its file, or is an
	// inline level "f file.c:12 [inline]" printed on a line of its own
	// before the line of the function it was inlined into.
	reWarnNew = regexp.MustCompile(`^WARNING: (?:\[(.*)\] )?(?:(\S+:\d+) )?at (\S+(?: \[[^\]]+\])?)( \S+:\d+(?::\d+)?(?: \[inline\])?)?, CPU#(\d+): (.*)/(\d+)$`)
	// reWarnOld is the 2.6 form: "WARNING: at fs/proc/generic.c:725 remove_proc_entry+0x1a2/0x1b0()";
	// powerpc printed it without the function ("WARNING: at arch/powerpc/.../eeh.c:390").
	reWarnOld = regexp.MustCompile(`^WARNING: at (\S+:\d+)(?: (\S+))?`)
)

// header returns a new report when t is the first line of one.
func (s *stream) header(t string) *report {
	// Every line goes through here; one byte search spares most of them
	// the substring searches below ('#' is in both "CPU#" and " [#", 'K'
	// in "LOCKUP").
	hash := strings.IndexByte(t, '#') >= 0
	switch {
	case hash && strings.Contains(t, "BUG: soft lockup - CPU#"):
		m := reSoftLockup.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		r := newReport(KindSoftLockup, endStack, t, "BUG: soft lockup")
		r.o.CPU = atoi(m[1])
		r.o.Seconds = atoi(m[2])
		r.o.Comm = m[3]
		r.o.PID = atoi(m[4])
		return r
	case strings.HasPrefix(t, "BUG: "):
		if r := sanitizerHeader(t); r != nil {
			return r
		}
		return bugHeader(t)
	case strings.HasPrefix(t, "kernel BUG at "):
		r := newReport(KindBug, endTrace, t, "kernel BUG")
		r.o.Location = reKernelBug.FindStringSubmatch(t)[1]
		r.wantsDie = true
		return r
	case strings.HasPrefix(t, "WARNING: "):
		if r := lockdepHeader(t[len("WARNING: "):], t); r != nil {
			return r
		}
		return warnHeader(t)
	case strings.HasPrefix(t, "INFO: task "):
		m := reHungTask.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		what := "blocked"
		if m[3] == "can't die" {
			what = "can't die"
		}
		r := newReport(KindHungTask, endStack, t, "INFO: task "+m[1]+" "+what)
		r.o.Comm = m[1]
		r.o.PID = atoi(m[2])
		r.o.Seconds = atoi(m[4])
		return r
	case strings.HasPrefix(t, PanicPrefix):
		return newReport(KindPanic, endPanic, t, "")
	case strings.IndexByte(t, 'K') >= 0 && strings.Contains(t, "Watchdog detected hard LOCKUP"):
		m := reHardLockup.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		r := newReport(KindHardLockup, endStack, t, "hard LOCKUP")
		r.o.CPU = atoi(m[1])
		return r
	case strings.HasPrefix(t, "Unable to handle kernel ") || strings.HasPrefix(t, "Unhandled fault: "):
		return archFaultHeader(t)
	case strings.HasPrefix(t, "CPU ") && strings.Contains(t, " Unable to handle kernel "):
		// MIPS and LoongArch name the CPU first and the faulting PC
		// after: "CPU 0 Unable to handle kernel paging request at
		// virtual address 00000000, epc == 804dd50c, ra == 804dd4f0"
		// (LoongArch: "era == ...").
		r := archFaultHeader(t[strings.Index(t, "Unable"):])
		if r != nil {
			r.o.Message = t
			switch {
			case strings.Contains(t, ", epc == "):
				r.setArch(ArchMIPS)
			case strings.Contains(t, ", era == "):
				r.setArch(ArchLoong)
			}
		}
		return r
	case hash && (strings.Contains(t, " [#") || isDieMIPS(t)):
		trap, code, n, ok := parseDie(t)
		if !ok {
			return nil
		}
		var r *report
		switch {
		case strings.Contains(trap, "general protection fault"):
			// "general protection fault, probably for non-canonical
			// address 0x...", and for a bad selector "segment-related
			// general protection fault".
			r = newReport(KindGPF, endTrace, t, "general protection fault")
			if a := reGPFAddr.FindStringSubmatch(trap); a != nil {
				r.o.Address = a[1]
			}
		case s.cur != nil && s.cur.wantsDie:
			return nil // the die() line of the open report
		case trap == "invalid opcode":
			r = newReport(KindBug, endTrace, t, trap)
		default:
			r = newReport(KindOops, endTrace, t, dieBase(trap))
			r.lenient = code == "" || trap != dieBase(trap) // arm, arm64, riscv: long register dumps
		}
		r.o.ErrorCode = code
		r.o.OopsNumber = n
		return r
	}
	return otherHeader(t)
}

func bugHeader(t string) *report {
	if strings.HasPrefix(t, "BUG: Kernel NULL") || strings.HasPrefix(t, "BUG: Unable to handle ") {
		if r := ppcFaultHeader(t); r != nil {
			return r
		}
	}
	if strings.HasPrefix(t, "BUG: Dentry ") {
		if r := dentryHeader(t); r != nil {
			return r
		}
	}
	if m := rePageFault.FindStringSubmatch(t); m != nil {
		r := newReport(KindPageFault, endTrace, t, "BUG: unable to handle page fault")
		r.o.Address = m[1]
		r.wantsDie = true
		return r
	}
	if m := reNullDeref.FindStringSubmatch(t); m != nil {
		r := newReport(KindNullDeref, endTrace, t, "BUG: kernel NULL pointer dereference")
		r.o.Address = m[1]
		r.wantsDie = true
		return r
	}
	if m := reOldFault.FindStringSubmatch(t); m != nil {
		kind := KindPagingRequest
		if m[1] != "paging request" {
			kind = KindNullDeref
		}
		r := newReport(kind, endTrace, t, "BUG: unable to handle kernel "+m[1])
		r.o.Address = m[2]
		r.wantsDie = true
		return r
	}
	// Other BUG: reports (sleeping in atomic context, scheduling while
	// atomic, bad page state, spinlock debugging) come from dump_stack():
	// no registers, no end marker.
	r := newReport(KindBug, endStack, t, t)
	rest := t[len("BUG: "):]
	cut := len(rest)
	for _, sep := range []string{" at ", ": ", " in ", " on CPU#"} {
		if i := strings.Index(rest, sep); i >= 0 && i < cut {
			cut = i
		}
	}
	r.base = "BUG: " + rest[:cut]
	if at := strings.TrimPrefix(rest[cut:], " at "); at != rest[cut:] && strings.Contains(at, ":") {
		r.o.Location = at
	}
	classifyBug(r, rest[:cut])
	if strings.HasPrefix(rest, "stack guard page was hit") {
		// x86's handle_stack_overflow prints it, then die()'s "kernel
		// stack overflow (...): 0000 [#1]", registers and the trace.
		r.end = endTrace
		r.wantsDie = true
	}
	return r
}

func warnHeader(t string) *report {
	r := newReport(KindWarning, endTrace, t, "WARNING")
	var caller string
	if m := reWarn.FindStringSubmatch(t); m != nil {
		r.o.CPU = atoi(m[1])
		r.o.PID = atoi(m[2])
		r.o.Location = m[3]
		caller = strings.TrimSuffix(m[4], "()")
		r.bannerTail = caller == ""
	} else if m := reWarnNew.FindStringSubmatch(t); m != nil {
		r.o.Condition = m[1]
		r.o.Location = m[2]
		caller = m[3]
		if strings.HasSuffix(m[4], " [inline]") {
			caller += m[4] // an inline level: not a function a title names
		}
		r.o.CPU = atoi(m[5])
		r.o.Comm = m[6]
		r.o.PID = atoi(m[7])
	} else if m := reWarnOld.FindStringSubmatch(t); m != nil {
		r.o.Location = m[1]
		caller = strings.TrimSuffix(m[2], "()")
	} else {
		return nil
	}
	r.culprit = caller
	return r
}
