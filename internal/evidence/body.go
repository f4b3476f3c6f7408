package evidence

import (
	"regexp"
	"strings"
)

// Lines inside a report.
var (
	reCPU   = regexp.MustCompile(`^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.*?) (?:Not tainted|Tainted: )`)
	reTaint = regexp.MustCompile(`(?:Not tainted|Tainted: ([A-Z ]*?))\s+(\d\S*)`)
	// sched_show_task: "task:comm state:D stack:0 pid:12 …", and for a
	// task on a CPU "state:R  running task     stack:…".
	reTask = regexp.MustCompile(`^task:(.*?)\s+state:(\S+)(?:\s+running task)?\s+stack:\s*\d+\s+pid:\s*(\d+)`)
	// reFrame matches a frame as printed, "vfs_read+0x7f/0x2e0",
	// "device_read+0x1d/0x60 [chardev]", or a bare address; as syzkaller
	// symbolizes them, "vfs_read+0x7f/0x2e0 fs/read_write.c:468" and
	// "rw_verify_area fs/read_write.c:391 [inline]"; and as
	// scripts/decode_stacktrace.sh rewrites them, without the offset:
	// "dst_destroy (net/core/dst.c:118)", "f (x.h:12 fs/y.c:34
	// (discriminator 1))", "f (fs/x.c:12) [inline]".
	reFrame   = regexp.MustCompile(`^(?:[\w.$@]+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[^\]]+\])?(?: [\w./+-]+:\d+(?::\d+)?)?(?: \[[^\]]+\])?|[\w.$@]+ [\w./+-]+:\d+(?::\d+)? \[inline\]|0x[0-9a-f]+|[\w.$@]+ \([\w./+-]+:\d+(?: \(discriminator \d+\))?(?: [\w./+-]+:\d+(?: \(discriminator \d+\))?)*\)(?: \[inline\])?)$`)
	reGPFAddr = regexp.MustCompile(`address (0x[0-9a-f]+)`)
	rePFCode  = regexp.MustCompile(`^#PF: error_code\(0x([0-9a-f]+)\)`)
	reHexDump = regexp.MustCompile(`^[0-9a-f]{8,16}(?: [0-9a-f]{8,16})*$`)
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
	"Disabling lock debugging", "INFO: lockdep is turned off", "rcu: ", "hex dump", "lock: ",
	"page:", "flags:", "raw: ", "page dumped because", "page_type:", "head:",
}, tailPrefixes...)

// endKind says how a report's end shows in the log.
type endKind int

const (
	endTrace     endKind = iota // "---[ end trace ... ]---": oopses, WARNINGs
	endPanic                    // "---[ end Kernel panic - not syncing: ... ]---"
	endStack                    // nothing after the stack: hung tasks, lockups, dump_stack() BUGs
	endSeparator                // a line of '=': KASAN, KMSAN, KFENCE, KCSAN, UBSAN
)

// phase is where a report's parsing stands.
type phase int

const (
	inBody  phase = iota // header, registers, modules: anything outside the trace
	inTrace              // after "Call Trace:"
	inTail               // after the end marker
)

// maxLenient bounds the unrecognised lines a lenient report (sanitizers,
// lockdep, RCU stalls, bad page state) takes before its stack: their
// bodies print lock chains, object and page descriptions, shadow memory.
const maxLenient = 400

// report is a Report being read, with the state that reading it needs.
type report struct {
	o           Report
	end         endKind
	phase       phase
	base        string // title before " in <function>"
	fixedTitle  bool   // base is the whole title (KCSAN names both racing functions)
	culprit     string // frame the banner names (WARNING's caller, KASAN's "in f+0x1/0x2")
	culpritName string // a function the banner names without an offset
	wantsDie    bool   // a BUG: line whose die() line ("Oops: 0000 [#1]") is still to come
	wantsDetail bool   // the next unrecognised line is the report's message (UBSAN)
	lenient     bool   // tolerate up to maxLenient unrecognised lines
	regsDone    bool   // past the first register dump
	// lr is arm64's link register of the first register dump, as a
	// frame ("f+0x7c/0xec", "" for an address alone): the caller when
	// the pc names no function.
	lr         string
	cpuSeen    bool
	taint      bool // taint and release already taken
	mods       bool
	frozen     bool // the trace is taken: a panic on this report's account prints its own
	aside      bool // frames of another task's dump (an RCU stall's grace-period kthread): not the report's
	depth      int  // open <IRQ>/<TASK> markers in the trace
	irq        int  // open <IRQ>, <NMI>, <SOFTIRQ> markers
	frames     int
	unknown    int       // unrecognised lines taken so far
	nestedRIP  string    // first register dump inside the trace (a stalled task's RIP)
	taskFrames []string  // reliable frames outside <IRQ>/<NMI>
	stack      *[]string // where frames printed outside "Call Trace:" go (sanitizer stacks)
	lockAt     []string  // lockdep: the frames of the "at:" lines that name the locks (lockdep.go)
	lockNext   bool      // lockdep: the next line holds such an "at:"
	pending    []string  // unrecognised lines, kept only if a recognised one follows
	bannerTail bool      // a mailer wrapped the banner: its rest (location and function, or the address) is the next line
	elided     bool      // a "..." line cut the report: frames may follow without their "Call Trace:" line
	bare       bool      // the trace's frames are bare names (a symbolizer dropped the offsets)
	joinsNext  bool      // the banner is the message of the WARNING that follows, which is this report (a dentry still in use)
	ppcRegs    bool      // inside powerpc's register dump of an exception frame in the trace
	weakArch   string    // an architecture a line suggested without proving it ("Call trace:" is arm64's, and arm's since 5.x)
}

func newReport(kind Kind, end endKind, msg, base string) *report {
	return &report{o: Report{Kind: kind, Message: msg, CPU: -1}, end: end, base: base}
}

// isElision tells the line with which whoever quoted a log marks the
// lines they cut.
func isElision(t string) bool {
	return t == "..." || t == "[...]" || t == "<snip>" || t == "[snip]"
}

// isSeparator tells a sanitizer's "=====...=====" line.
func isSeparator(t string) bool {
	return len(t) >= 20 && t[0] == '=' && strings.Count(t, "=") == len(t)
}

// body takes one line of the open report and tells whether the report is
// over; a line that ends a report is not part of it.
func (r *report) body(msg, t string) bool {
	if r.bannerTail {
		r.bannerTail = false
		if r.bannerRest(t) {
			r.text(msg)
			return false
		}
	}
	if r.end == endSeparator && isSeparator(t) {
		r.flush()
		r.text(msg)
		r.o.Complete = true
		return true
	}
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
		if r.end == endStack && !(r.o.Kind == KindRCUStall && r.rcuContinues(t)) {
			// Without markers (5.10 and older) the stack ends where the
			// frames do.
			r.o.Complete = r.frames > 0 && r.depth <= 0
			return true
		}
	}

	switch {
	case strings.HasPrefix(t, "Call Trace:") || strings.HasPrefix(t, "Call trace:") || strings.HasPrefix(t, "Backtrace:") ||
		(r.o.Kind == KindMemoryLeak && strings.HasPrefix(t, "backtrace")):
		if t[5] == 't' && r.weakArch == "" {
			r.weakArch = ArchARM64 // arm64 spells it "Call trace:" (and arm since 5.x)
		}
		r.phase = inTrace
		r.regsDone = true
		r.wantsDie = false
		r.stack = nil
	case r.end == endSeparator && r.stack != nil && r.sanitizerFrame(t):
	case r.end == endSeparator && r.sanitizerBody(t):
	case r.wantsDetail && !hasAnyPrefix(t, knownPrefixes) && !strings.HasPrefix(t, "CPU: "):
		r.o.Detail = t
		r.wantsDetail = false
	case r.o.Kind == KindRCUStall && strings.HasPrefix(t, "rcu: "):
		r.rcuContinues(t)
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
		r.setArch(ArchAMD64)
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
		if r.o.Panic != "" {
			return true // the WARNING's own end, after its panic_on_warn panic
		}
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
	case strings.HasPrefix(t, "comm \"") && r.o.Kind == KindMemoryLeak:
		if m := reKmemleakBy.FindStringSubmatch(t); m != nil {
			r.o.Comm, r.o.PID = m[1], atoi(m[2])
		}
	case r.o.Kind == KindLockdep && r.o.Location == "" && reSuspicious.MatchString(t):
		r.o.Location = reSuspicious.FindStringSubmatch(t)[1]
	case strings.Contains(t, " [#") || isDieMIPS(t):
		if _, code, n, ok := parseDie(t); ok && r.o.OopsNumber == 0 {
			r.o.ErrorCode = code
			r.o.OopsNumber = n
			r.wantsDie = false
		}
	case r.o.Kind == KindLockdep && r.lockdepLine(t):
	case isElision(t):
		// Whoever quoted the log cut lines here, maybe "Call Trace:".
		r.elided = true
	case r.elided && r.stack == nil && isFrame(strings.TrimPrefix(stripAddr(t), "? ")):
		r.phase = inTrace
		r.regsDone = true
		r.wantsDie = false
		r.traceLine(msg, t)
		return false
	case hasAnyPrefix(t, knownPrefixes) || reHexDump.MatchString(t):
	case r.armTrace(t):
	case r.archLine(t):
	default:
		r.pending = append(r.pending, msg)
		if r.lenient {
			r.unknown++
			if len(r.pending) > maxUnknown {
				r.flush() // keep the text, spare the memory
			}
			return r.unknown > maxLenient
		}
		return len(r.pending) > maxUnknown
	}
	r.flush()
	r.text(msg)
	return false
}

// sanitizerFrame takes a frame of a stack printed without "Call Trace:"
// (KASAN's alloc and free stacks, KMSAN's and KCSAN's access stacks).
func (r *report) sanitizerFrame(t string) bool {
	s := stripAddr(t)
	if !isFrame(s) {
		return false
	}
	*r.stack = append(*r.stack, s)
	if r.stack == &r.o.CallTrace {
		r.frames++
		r.taskFrames = append(r.taskFrames, s)
	}
	return true
}

// stripAddr drops the "[<ffffffff811f4bf6>] " before old, kmemleak and
// riscv frames, and powerpc's "[c00000000b1e7d10] [c0000000008b4b40] "
// (stack pointer and return address).
func stripAddr(s string) string {
	for len(s) > 2 && s[0] == '[' {
		i := strings.IndexByte(s, ']')
		if i < 0 {
			break
		}
		if in := strings.TrimSuffix(strings.TrimPrefix(s[1:i], "<"), ">"); !isHex(in) {
			break
		}
		s = strings.TrimSpace(s[i+1:])
	}
	return s
}

// addFrame keeps a reliable frame of the trace.
func (r *report) addFrame(s string) {
	r.frames++
	if !r.frozen && !r.aside {
		r.o.CallTrace = append(r.o.CallTrace, s)
		if r.irq <= 0 {
			r.taskFrames = append(r.taskFrames, s)
		}
	}
}

// traceLine takes a line of the call trace and tells whether it was one.
func (r *report) traceLine(msg, t string) bool {
	paren := strings.HasPrefix(t, "([<") && strings.HasSuffix(t, ")")
	if paren {
		t = t[1 : len(t)-1] // s390's first frame, from r14: "([<addr>] f+0x36/0x1000 [m])"
	}
	s := stripAddr(t)
	unreliable := paren || strings.HasPrefix(s, "? ")
	if unreliable {
		s = s[2:]
	}
	if n := len(s); n > 0 && s[n-1] == ')' {
		var un bool
		s, un = frameSuffix(s)
		unreliable = unreliable || un
	}
	switch {
	case isFrame(s) || isIdent(s) && (r.bare || r.frames == 0):
		if !strings.Contains(s, "+0x") && isIdent(s) {
			r.bare = true // "bio_free": symbolized, offsets dropped
		}
		r.ppcRegs = false
		r.frames++
		if !unreliable && !r.frozen && !r.aside {
			r.o.CallTrace = append(r.o.CallTrace, s)
			if r.irq <= 0 {
				r.taskFrames = append(r.taskFrames, s)
			}
		}
	case s == "" && t != "" && t[0] == '[':
		// "[c0000003f038fa60] [c0000000002b1aa4]": a mailer wrapped
		// powerpc's frame, whose name is the next line.
	case strings.Contains(t, "- interrupt: "):
		// powerpc's exception frame, "--- interrupt: 300 at
		// __copy_tofrom_user+0x110/0x20c" ("----" since 6.x): the
		// interrupted PC is a frame, and its register dump follows,
		// whose LR is the next (the unwinder marks the stale one it
		// finds on the stack "(unreliable)").
		if i := strings.Index(t, " at "); i > 0 {
			if f := t[i+len(" at "):]; isFrame(f) && funcName(f) != "" {
				r.addFrame(f)
			}
			r.ppcRegs = true
		}
	case r.ppcRegs && hasAnyPrefix(t, ppcRegPrefixes):
		if strings.HasPrefix(t, "LR [") {
			if f := t[strings.IndexByte(t, ']')+1:]; isFrame(strings.TrimSpace(f)) && funcName(strings.TrimSpace(f)) != "" {
				r.addFrame(strings.TrimSpace(f))
			}
		}
	case isMarker(t):
		if r.weakArch == "" {
			r.weakArch = ArchAMD64 // only x86 marks the stacks of a trace
		}
		open := !(strings.HasPrefix(t, "</") || t == "<EOI>" || t == "<EOE>")
		if open {
			r.depth++
		} else {
			r.depth--
		}
		if t != "<TASK>" && t != "</TASK>" {
			if open {
				r.irq++
			} else {
				r.irq--
			}
		}
		if t == "</TASK>" && r.end == endStack {
			r.o.Complete = true
		}
	case hasAnyPrefix(t, regDumpPrefixes):
		if strings.HasPrefix(t, "RIP: ") {
			r.setArch(ArchAMD64)
		}
		if strings.HasPrefix(t, "RIP: 0010:") && r.nestedRIP == "" && !r.frozen && !r.aside {
			r.nestedRIP = parseRIP(t[len("RIP: "):])
		}
	case strings.Contains(t, " from "):
		fr, ok := armFrame(t)
		if !ok {
			return false
		}
		r.setArch(ArchARM)
		r.addFrame(fr)
	case strings.HasPrefix(t, "LR = ") || strings.HasPrefix(t, "Exception stack("):
		// powerpc's LR note and arm's exception stack dump.
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

// registers takes the general registers of a dump line: "RAX:
// 0000000000000000 RBX: ...", "RSP: 0018:ffffaf2d40177ed8 EFLAGS:
// 00000287" (the selector before RSP's value is dropped).
func (r *report) registers(t string) {
	for i := 0; i < len(t); i++ {
		if i > 0 && isWordByte(t[i-1]) {
			continue // a name must start a word: not ORIG_RAX
		}
		name, val, n := register(t[i:])
		if n == 0 {
			continue
		}
		if r.o.Registers == nil {
			r.o.Registers = make(map[string]string)
		}
		r.o.Registers[name] = val
		i += n - 1
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
