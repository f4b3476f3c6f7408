package evidence

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
)

const (
	// maxLine bounds one console line; the rest of a longer line (binary
	// junk on the serial port, a runaway print) is dropped, so no input
	// makes Parse fail with bufio.ErrTooLong.
	maxLine = 1 << 20
	// maxText bounds Report.Text: it is an excerpt for people, and an
	// oops with its summary fits.
	maxText = 80
	// maxUnknown unrecognised lines in a row end an open report: a report
	// cut short (the guest died mid-print) must not swallow what follows.
	maxUnknown = 8
)

// Header lines, one per report format.
var (
	rePageFault = regexp.MustCompile(`^BUG: unable to handle page fault for address: (\S+)`)
	reNullDeref = regexp.MustCompile(`^BUG: kernel NULL pointer dereference, address: (\S+)`)
	reOldFault  = regexp.MustCompile(`^BUG: unable to handle kernel (paging request|NULL pointer dereference) at\s+(\S+)`)
	// The watchdog's lines carry its pr_fmt prefix, "watchdog: " or (4.x,
	// and the perf-based hard lockup detector) "NMI watchdog: "; since 6.7
	// the hard lockup line also names the reporting CPU.
	reSoftLockup = regexp.MustCompile(`^(?:(?:NMI )?watchdog: )?BUG: soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*):(\d+)\]`)
	reHardLockup = regexp.MustCompile(`^(?:(?:NMI )?watchdog: )?(?:CPU\d+: )?Watchdog detected hard LOCKUP on cpu (\d+)`)
	reKernelBug  = regexp.MustCompile(`^kernel BUG at (.*?)!?$`)
	reHungTask   = regexp.MustCompile(`^INFO: task (.+):(\d+) blocked for more than (\d+) seconds\.`)
	rePanic      = regexp.MustCompile(`^Kernel panic - not syncing`)
	// reDie matches die()'s line: "Oops: 0000 [#1] SMP", since 6.9 "Oops:
	// Oops: 0000 [#1]" and "Oops: general protection fault, ...: 0000
	// [#1]", "invalid opcode: 0000 [#1]". Group 1 names the trap.
	reDie = regexp.MustCompile(`^(?:Oops: )?(.+?): ([0-9a-f]{4,}) \[#(\d+)\]`)
	// reWarn is __warn's line up to 6.18: "WARNING: CPU: 0 PID: 133 at
	// fs/proc/generic.c:725 remove_proc_entry+0x1a2/0x1b0" (3.x adds "()").
	reWarn = regexp.MustCompile(`^WARNING: CPU: (\d+) PID: (\d+) at (?:(\S+:\d+) )?(\S+(?: \[[^\]]+\])?)`)
	// reWarnNew is __warn's line since 6.19: "WARNING:
	// fs/proc/generic.c:733 at remove_proc_entry+0x20a/0x260, CPU#0: rmmod/101".
	reWarnNew = regexp.MustCompile(`^WARNING: (?:(\S+:\d+) )?at (\S+(?: \[[^\]]+\])?), CPU#(\d+): (.*)/(\d+)$`)
	// reWarnOld is the 2.6 form: "WARNING: at fs/proc/generic.c:725 remove_proc_entry+0x1a2/0x1b0()".
	reWarnOld = regexp.MustCompile(`^WARNING: at (\S+:\d+) (\S+)`)
)

// Lines inside a report.
var (
	reCPU     = regexp.MustCompile(`^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.*?) (?:Not tainted|Tainted: )`)
	reTaint   = regexp.MustCompile(`(?:Not tainted|Tainted: ([A-Z ]*?))\s+(\d\S*)`)
	reTask    = regexp.MustCompile(`^task:(.*?)\s+state:(\S+)\s+stack:\s*\d+\s+pid:\s*(\d+)`)
	reRegs    = regexp.MustCompile(`\b(R[ABCD]X|R[SD]I|RBP|RSP|R0[89]|R1[0-5]|EFLAGS): ?(?:[0-9a-f]{4}:)?([0-9a-f]+)`)
	reFrame   = regexp.MustCompile(`^(?:[\w.$@]+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[^\]]+\])?|0x[0-9a-f]+)$`)
	reGPFAddr = regexp.MustCompile(`address (0x[0-9a-f]+)`)
	rePFCode  = regexp.MustCompile(`^#PF: error_code\(0x([0-9a-f]+)\)`)
	reHexDump = regexp.MustCompile(`^[0-9a-f]{8,16}(?: [0-9a-f]{8,16})*$`)
)

const (
	cutHere        = "------------[ cut here ]------------"
	recursiveFault = "Fixing recursive fault but reboot is needed!"
)

// regDumpPrefixes start the lines of a register dump. The short dump
// (RIP..R13) also appears inside call traces, for the user-mode registers
// saved at syscall entry or a context an interrupt hit.
var regDumpPrefixes = []string{"RIP: ", "Code: ", "RSP: ", "RAX: ", "RDX: ", "RBP: ", "R10: ", "R13: "}

// tailPrefixes start the lines that may follow "---[ end trace ]---" and
// still belong to the report: the register summary that oops_end repeats
// "in case the oops scrolled away", and do_exit's notes on the dying task.
var tailPrefixes = append([]string{"FS: ", "CS: ", "CR2: ", "DR0: ", "DR3: ", "DR6: ", "PKRU: ", "note: "}, regDumpPrefixes...)

// knownPrefixes start body lines that belong to a report although nothing
// is taken from them; they keep an open report from being cut off as
// unrecognised.
var knownPrefixes = append([]string{
	"#PF: ", "PGD ", "PUD ", "PMD ", "Hardware name:", "Workqueue:", "Stack:", "task: ",
	`"echo 0 > /proc/sys/kernel/hung_task_timeout_secs"`, "Kernel Offset:", "KASAN:",
	"irq event stamp:", "hardirqs last", "softirqs last", "in_atomic():", "preempt_count:",
	"RCU nest depth:", "Preemption disabled at:", "kernel tried to execute", "Sending NMI",
	"NMI backtrace", "Dumping ftrace buffer", "Tainted: ", "---[ ", "RIP  [<", "RSP <",
	"Disabling lock debugging", "INFO: lockdep is turned off",
}, tailPrefixes...)

// endKind says how a report's end shows in the log.
type endKind int

const (
	endTrace endKind = iota // "---[ end trace ... ]---": oopses, WARNINGs
	endPanic                // "---[ end Kernel panic - not syncing: ... ]---"
	endStack                // nothing after the stack: hung tasks, lockups, dump_stack() BUGs
)

// phase is where a report's parsing stands.
type phase int

const (
	inBody  phase = iota // header, registers, modules: anything outside the trace
	inTrace              // after "Call Trace:"
	inTail               // after the end marker
)

// report is an Oops being read, with the state that reading it needs.
type report struct {
	o        Oops
	end      endKind
	phase    phase
	base     string // title before " in <function>"
	culprit  string // function the header names (WARNING's caller), ahead of RIP and trace
	wantsDie bool   // a BUG: line whose die() line ("Oops: 0000 [#1]") is still to come
	regsDone bool   // past the first register dump
	cpuSeen  bool
	taint    bool // taint and release already taken
	mods     bool
	depth    int // open <IRQ>/<TASK> markers in the trace
	frames   int
	pending  []string // unrecognised lines, kept only if a recognised one follows
}

func newReport(kind string, end endKind, msg, base string) *report {
	return &report{o: Oops{Kind: kind, Message: msg, CPU: -1}, end: end, base: base}
}

type parser struct {
	out    []Oops
	cur    *report
	n      int  // line number of the line being fed
	marked bool // some line carried a kernel prefix
	// prelude holds the lines after "cut here" while no report is open:
	// WARN(cond, fmt, ...) prints its message there, before the WARNING
	// line. nil when no "cut here" is pending.
	prelude []string
}

// Parse reads a console log and returns every report in it, in order. It
// returns what it parsed so far together with a read error.
func Parse(r io.Reader) ([]Oops, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	sc.Split(scanLines)
	var p parser
	partial := false // the last token was the head of an overlong line
	for sc.Scan() {
		tok := sc.Bytes()
		if !partial {
			p.feed(string(tok))
		}
		partial = tok[len(tok)-1] != '\n'
	}
	p.finish(true)
	return p.out, sc.Err()
}

// ParseBytes is Parse for a log in memory.
func ParseBytes(b []byte) []Oops {
	out, _ := Parse(bytes.NewReader(b)) // a bytes.Reader does not fail, and scanLines never overflows
	return out
}

// scanLines splits at '\n' and keeps it, so that Parse can tell a line
// from the head of one longer than maxLine.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if len(data) > 0 && (atEOF || len(data) >= maxLine) {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func (p *parser) feed(raw string) {
	p.n++
	l := splitPrefix(raw)
	if l.marked {
		p.marked = true
	} else if p.marked {
		return // another program's output on the console
	}
	t := strings.TrimSpace(l.msg)
	if t == "" {
		return
	}
	if strings.HasPrefix(t, recursiveFault) {
		if p.cur != nil {
			p.cur.o.RecursiveFault = true
			p.cur.text(l.msg)
		} else if n := len(p.out); n > 0 {
			p.out[n-1].RecursiveFault = true
		}
		return
	}
	if r := p.header(t); r != nil {
		p.finish(false)
		if r.o.Kind == KindWarning || r.o.Kind == KindBug {
			r.o.Detail = strings.Join(p.prelude, "\n")
		}
		p.prelude = nil
		r.o.Line = p.n
		r.o.Time = l.time
		r.text(l.msg)
		p.cur = r
		return
	}
	if t == cutHere {
		// WARN and BUG print it before their report: whatever was open is over.
		p.finish(false)
		p.prelude = []string{}
		return
	}
	if p.cur != nil {
		if p.cur.body(l.msg, t) {
			p.finish(false)
		}
		return
	}
	if p.prelude != nil {
		if len(p.prelude) == maxUnknown {
			p.prelude = nil // no report came
			return
		}
		p.prelude = append(p.prelude, t)
	}
}

// header returns a new report when t is the first line of one.
func (p *parser) header(t string) *report {
	switch {
	case strings.Contains(t, "BUG: soft lockup - CPU#"):
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
		return bugHeader(t)
	case strings.HasPrefix(t, "kernel BUG at "):
		r := newReport(KindBug, endTrace, t, "kernel BUG")
		r.o.Location = reKernelBug.FindStringSubmatch(t)[1]
		r.wantsDie = true
		return r
	case strings.HasPrefix(t, "WARNING: "):
		return warnHeader(t)
	case strings.HasPrefix(t, "INFO: task "):
		m := reHungTask.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		r := newReport(KindHungTask, endStack, t, "INFO: task "+m[1]+" blocked")
		r.o.Comm = m[1]
		r.o.PID = atoi(m[2])
		r.o.Seconds = atoi(m[3])
		return r
	case rePanic.MatchString(t):
		return newReport(KindPanic, endPanic, t, "")
	case strings.Contains(t, "Watchdog detected hard LOCKUP"):
		m := reHardLockup.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		r := newReport(KindHardLockup, endStack, t, "hard LOCKUP")
		r.o.CPU = atoi(m[1])
		return r
	case strings.Contains(t, " [#"):
		m := reDie.FindStringSubmatch(t)
		if m == nil {
			return nil
		}
		trap := m[1]
		var r *report
		switch {
		case strings.HasPrefix(trap, "general protection fault"):
			r = newReport(KindGPF, endTrace, t, "general protection fault")
			if a := reGPFAddr.FindStringSubmatch(trap); a != nil {
				r.o.Address = a[1]
			}
		case p.cur != nil && p.cur.wantsDie:
			return nil // the die() line of the open report
		case trap == "invalid opcode":
			r = newReport(KindBug, endTrace, t, trap)
		default:
			r = newReport(KindOops, endTrace, t, trap)
		}
		r.o.ErrorCode = m[2]
		r.o.OopsNumber = atoi(m[3])
		return r
	}
	return nil
}

func bugHeader(t string) *report {
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
	// atomic, KASAN, bad page state) come from dump_stack(): no registers,
	// no end marker.
	r := newReport(KindBug, endStack, t, t)
	rest := t[len("BUG: "):]
	if i := strings.Index(rest, " in "); i >= 0 && reFrame.MatchString(rest[i+4:]) {
		// "BUG: KASAN: slab-use-after-free in foo+0x12/0x30"
		r.base = "BUG: " + rest[:i]
		r.culprit = funcName(rest[i+4:])
		return r
	}
	cut := len(rest)
	for _, sep := range []string{" at ", ": ", " in "} {
		if i := strings.Index(rest, sep); i >= 0 && i < cut {
			cut = i
		}
	}
	r.base = "BUG: " + rest[:cut]
	if at := strings.TrimPrefix(rest[cut:], " at "); at != rest[cut:] && strings.Contains(at, ":") {
		r.o.Location = at
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
	} else if m := reWarnNew.FindStringSubmatch(t); m != nil {
		r.o.Location = m[1]
		caller = m[2]
		r.o.CPU = atoi(m[3])
		r.o.Comm = m[4]
		r.o.PID = atoi(m[5])
	} else if m := reWarnOld.FindStringSubmatch(t); m != nil {
		r.o.Location = m[1]
		caller = strings.TrimSuffix(m[2], "()")
	} else {
		// Lockdep's "WARNING: possible circular locking dependency
		// detected" and the like have other bodies; they are not __warn
		// reports.
		return nil
	}
	r.culprit = funcName(caller)
	return r
}

// body takes one line of the open report and tells whether the report is
// over; a line that ends a report is not part of it.
func (r *report) body(msg, t string) bool {
	switch r.phase {
	case inTail:
		if hasAnyPrefix(t, tailPrefixes) {
			r.text(msg)
			return false
		}
		return true
	case inTrace:
		if r.traceLine(msg, t) {
			return r.end == endStack && r.o.Complete
		}
		if r.depth > 0 && !strings.HasPrefix(t, "Modules linked in:") && len(r.pending) < maxUnknown {
			// Inside <TASK>...</TASK> the trace is not over yet: this is
			// another task's message that landed between two records of
			// the report (lab-agent logs its steps to /dev/kmsg).
			r.pending = append(r.pending, msg)
			return false
		}
		r.phase = inBody
		if r.end == endStack {
			// Without markers (5.10 and older) the stack ends where the
			// frames do.
			r.o.Complete = r.frames > 0 && r.depth <= 0
			return true
		}
	}

	switch {
	case strings.HasPrefix(t, "Call Trace:"):
		r.phase = inTrace
		r.regsDone = true
		r.wantsDie = false
	case strings.HasPrefix(t, "CPU: "):
		r.cpuLine(t)
	case strings.HasPrefix(t, "Tainted: ") || strings.HasPrefix(t, "Not tainted"):
		// The hung-task report's second line. 6.10+ also prints
		// "Tainted: [O]=OOT_MODULE, ..." after the CPU line, which reTaint
		// does not match.
		r.taintFrom(t)
	case strings.HasPrefix(t, "#PF: error_code("):
		if m := rePFCode.FindStringSubmatch(t); m != nil && r.o.ErrorCode == "" {
			r.o.ErrorCode = m[1]
		}
	case strings.HasPrefix(t, "RIP: "):
		if !r.regsDone && r.o.RIP == "" {
			r.o.RIP = parseRIP(t[len("RIP: "):])
		}
	case strings.HasPrefix(t, "IP: "):
		// 4.x printed the faulting instruction on its own before the dump.
		if r.o.RIP == "" {
			r.o.RIP = parseRIP(t[len("IP: "):])
		}
	case strings.HasPrefix(t, "RSP: ") || strings.HasPrefix(t, "RAX: ") || strings.HasPrefix(t, "RDX: ") ||
		strings.HasPrefix(t, "RBP: ") || strings.HasPrefix(t, "R10: ") || strings.HasPrefix(t, "R13: "):
		if !r.regsDone {
			r.registers(t)
		}
	case strings.HasPrefix(t, "CR2: "):
		if f := strings.Fields(t[len("CR2: "):]); len(f) > 0 && r.o.CR2 == "" {
			r.o.CR2 = f[0]
		}
	case strings.HasPrefix(t, "Modules linked in:"):
		r.modules(t[len("Modules linked in:"):])
	case strings.HasPrefix(t, "---[ end trace"):
		r.o.Complete = true
		r.phase = inTail
		r.regsDone = true
	case strings.HasPrefix(t, "---[ end Kernel panic"):
		if r.end == endPanic {
			r.flush()
			r.text(msg)
			r.o.Complete = true
			return true
		}
	case strings.HasPrefix(t, "task:"):
		if m := reTask.FindStringSubmatch(t); m != nil {
			r.o.TaskState = m[2]
			if r.o.PID == 0 {
				r.o.PID = atoi(m[3])
			}
		}
	case strings.Contains(t, " [#"):
		if m := reDie.FindStringSubmatch(t); m != nil && r.o.OopsNumber == 0 {
			r.o.ErrorCode = m[2]
			r.o.OopsNumber = atoi(m[3])
			r.wantsDie = false
		}
	case hasAnyPrefix(t, knownPrefixes) || reHexDump.MatchString(t):
	default:
		r.pending = append(r.pending, msg)
		return len(r.pending) > maxUnknown
	}
	r.flush()
	r.text(msg)
	return false
}

// traceLine takes a line of the call trace and tells whether it was one.
func (r *report) traceLine(msg, t string) bool {
	s := t
	if strings.HasPrefix(s, "[<") {
		// Before 4.x frames began with their address: "[<ffffffff811f4bf6>] vfs_read+0x96/0x130".
		if i := strings.Index(s, ">]"); i > 0 {
			s = strings.TrimSpace(s[i+2:])
		}
	}
	unreliable := strings.HasPrefix(s, "? ")
	if unreliable {
		s = s[2:]
	}
	switch {
	case reFrame.MatchString(s):
		r.frames++
		if !unreliable {
			r.o.CallTrace = append(r.o.CallTrace, s)
		}
	case isMarker(t):
		switch {
		case strings.HasPrefix(t, "</") || t == "<EOI>" || t == "<EOE>":
			r.depth--
		default:
			r.depth++
		}
		if t == "</TASK>" && r.end == endStack {
			r.o.Complete = true
		}
	case hasAnyPrefix(t, regDumpPrefixes):
	default:
		return false
	}
	r.flush()
	r.text(msg)
	return true
}

// isMarker tells whether t is a stack marker: <TASK>, </TASK>, <IRQ>,
// </IRQ>, <NMI>, <EOI>, <#DF>, <SOFTIRQ> ...
func isMarker(t string) bool {
	if len(t) < 3 || t[0] != '<' || t[len(t)-1] != '>' {
		return false
	}
	in := strings.TrimPrefix(t[1:len(t)-1], "/")
	if in == "" {
		return false
	}
	for i := 0; i < len(in); i++ {
		if c := in[i]; !(c >= 'A' && c <= 'Z' || c == '#' || c == '_') {
			return false
		}
	}
	return true
}

func (r *report) cpuLine(t string) {
	m := reCPU.FindStringSubmatchIndex(t)
	if m == nil || r.cpuSeen {
		return
	}
	r.cpuSeen = true
	r.wantsDie = false
	if r.o.CPU < 0 {
		r.o.CPU = atoi(t[m[2]:m[3]])
	}
	if r.o.PID == 0 {
		r.o.PID = atoi(t[m[4]:m[5]])
	}
	if r.o.Comm == "" {
		r.o.Comm = t[m[6]:m[7]]
	}
	r.taintFrom(t[m[7]:]) // " Tainted: G ... 6.1.0-56-amd64 #1" or " Not tainted ..."
}

// taintFrom takes taint and release from "Tainted: G           OE      6.1.0-56-amd64 #1"
// or "Not tainted 6.1.0-56-amd64 #1".
func (r *report) taintFrom(s string) {
	if r.taint {
		return
	}
	m := reTaint.FindStringSubmatch(s)
	if m == nil {
		return
	}
	r.taint = true
	r.o.Tainted = collapseTaint(m[1])
	r.o.TaintFlags = DecodeTaint(r.o.Tainted)
	r.o.KernelRelease = m[2]
}

func (r *report) registers(t string) {
	for _, m := range reRegs.FindAllStringSubmatch(t, -1) {
		if r.o.Registers == nil {
			r.o.Registers = make(map[string]string)
		}
		r.o.Registers[m[1]] = m[2]
	}
}

// modules takes "a(OE) b c [last unloaded: chardev_unsafe(OE)]".
func (r *report) modules(s string) {
	if r.mods {
		return
	}
	r.mods = true
	if i := strings.Index(s, "[last unloaded: "); i >= 0 {
		lu := strings.TrimSuffix(strings.TrimSpace(s[i+len("[last unloaded: "):]), "]")
		r.o.LastUnloaded = moduleName(lu)
		s = s[:i]
	}
	for _, f := range strings.Fields(s) {
		r.o.ModulesLinkedIn = append(r.o.ModulesLinkedIn, moduleName(f))
	}
}

// moduleName drops the taint and state flags: "chardev_unsafe(OE-)".
func moduleName(s string) string {
	if i := strings.IndexByte(s, '('); i > 0 {
		return s[:i]
	}
	return s
}

// parseRIP takes what follows "RIP: " or "IP: ": "0010:vfs_read+0x7f/0x2e0",
// or 4.x's "0010:[<ffffffffa15ec008>]  [<ffffffffa15ec008>] 0xffffffffa15ec008".
func parseRIP(s string) string {
	if len(s) > 5 && s[4] == ':' && isHex(s[:4]) {
		s = s[5:]
	}
	for strings.HasPrefix(s, "[<") {
		i := strings.Index(s, ">]")
		if i < 0 {
			break
		}
		s = strings.TrimSpace(s[i+2:])
	}
	return strings.TrimSpace(s)
}

func (r *report) text(msg string) {
	if len(r.o.Text) < maxText {
		r.o.Text = append(r.o.Text, msg)
	}
}

// flush keeps the unrecognised lines seen since the last recognised one:
// a recognised line after them shows they were part of the report (a
// WARN's message, an unusual note).
func (r *report) flush() {
	if len(r.pending) > 0 && len(r.o.Text) == 1 && r.o.Kind == KindWarning && r.o.Detail == "" {
		// Since 6.19 __warn prints the WARN() message right after its banner.
		for _, l := range r.pending {
			r.o.Detail += "\n" + strings.TrimSpace(l)
		}
		r.o.Detail = r.o.Detail[1:]
	}
	for _, l := range r.pending {
		r.text(l)
	}
	r.pending = r.pending[:0]
}

func (p *parser) finish(eof bool) {
	r := p.cur
	if r == nil {
		return
	}
	p.cur = nil
	if r.end == endStack && r.phase == inTrace && !eof && r.frames > 0 && r.depth <= 0 {
		// A trace without markers, ended by the next report.
		r.o.Complete = true
	}
	if r.o.CallTrace == nil {
		r.o.CallTrace = []string{} // "call_trace": [] rather than null
	}
	r.o.Title = r.title()
	p.out = append(p.out, r.o)
}

func (r *report) title() string {
	f := r.culprit
	if f == "" {
		f = guilty(r.o.RIP, r.o.CallTrace)
	}
	if f == "" || r.base == "" {
		return r.o.Message
	}
	return r.base + " in " + f
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s) // the regexps matched digits; an absurd length gives 0
	return n
}
