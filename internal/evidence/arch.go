package evidence

import (
	"regexp"
	"strings"
)

// Architectures a Report can come from (Report.Arch).
const (
	ArchAMD64   = "amd64"
	ArchARM64   = "arm64"
	ArchARM     = "arm"
	ArchPowerPC = "powerpc"
	ArchRISCV   = "riscv"
	ArchS390    = "s390"
	ArchMIPS    = "mips"
	ArchLoong   = "loongarch"
	Arch386     = "386" // 32-bit x86
)

// Fault banners of arm64, arm, powerpc and riscv. Their die() lines and
// register dumps differ from x86's; the report's fields are the same.
var (
	// arch/arm64/mm/fault.c, arch/arm/mm/fault.c, arch/riscv/mm/fault.c
	// and pre-5.x powerpc: "Unable to handle kernel NULL pointer
	// dereference at virtual address 0000000000000008", "Unable to handle
	// kernel access to user memory without uaccess routines at virtual
	// address ...", "Unable to handle kernel paging request for data at
	// address 0x00000000".
	reArchFault = regexp.MustCompile(`^Unable to handle kernel (.+?)(?: for [a-z ]+?)?(?: without uaccess routines)? at (?:virtual )?address ([^\s,]+)`)
	// The same banner cut after "at" by a mailer that wrapped the line;
	// "virtual address ..." follows on a line of its own.
	reArchFaultCut = regexp.MustCompile(`^Unable to handle kernel (.+?)(?: for [a-z ]+?)?(?: without uaccess routines)? at$`)
	// arch/s390/mm/fault.c: "Unable to handle kernel pointer dereference
	// in virtual kernel address space", the address on the next line
	// ("Failing address: fffffffffffff000 TEID: ...").
	reS390Fault = regexp.MustCompile(`^Unable to handle kernel (pointer dereference|paging request) in virtual (?:kernel|user) address space`)
	// arch/powerpc/mm/fault.c since 5.x: "BUG: Kernel NULL pointer
	// dereference on read at 0x00000000", "BUG: Unable to handle kernel
	// data access on write at 0xc00800000012", "BUG: Unable to handle
	// kernel instruction fetch", "BUG: Unable to handle unknown paging
	// fault at 0x...".
	rePPCFault = regexp.MustCompile(`^BUG: (Kernel NULL pointer dereference|Unable to handle kernel (?:data access|instruction fetch)|Unable to handle unknown paging fault)(?: \(NULL pointer\?\))?(?: on (?:read|write|execute))?(?: at (\S+))?`)
	// arch/arm/mm/fault.c: "Unhandled fault: page domain fault (0x01b) at 0x00000000".
	reUnhandled = regexp.MustCompile(`^Unhandled fault: (.+?) \(0x[0-9a-f]+\) at (0x[0-9a-f]+)`)
	// die() lines other than x86's "Oops: 0000 [#1]": arm's short codes
	// ("Internal error: Oops: 5 [#1] SMP ARM"), powerpc's signal
	// ("Oops: Kernel access of bad area, sig: 11 [#1]") and riscv's bare
	// "Oops [#1]" and "Kernel BUG [#1]".
	reDieArch = regexp.MustCompile(`^(?:(.+?)(?:, sig)?: ([0-9a-f]+)|(Oops - BUG|Oops|Kernel BUG)) \[#(\d+)\]`)
	// MIPS and LoongArch die(): "Oops[#1]:", "Reserved instruction in
	// kernel code[#1]:".
	reDieMIPS = regexp.MustCompile(`^(\S.*?)\[#(\d+)\]:$`)
)

// isDieMIPS tells a MIPS or LoongArch die() line.
func isDieMIPS(t string) bool {
	return strings.HasSuffix(t, "]:") && strings.Contains(t, "[#") && reDieMIPS.MatchString(t)
}

// archFaultHeader recognises a non-x86 fault banner ("Unable to handle
// kernel ..." without "BUG: ", or arm's "Unhandled fault: ...").
func archFaultHeader(t string) *report {
	var what, addr string
	if m := reArchFault.FindStringSubmatch(t); m != nil {
		what, addr = m[1], m[2]
	} else if m := reArchFaultCut.FindStringSubmatch(t); m != nil {
		r := faultReport(t, m[1], "")
		r.bannerTail = true
		return r
	} else if m := reS390Fault.FindStringSubmatch(t); m != nil {
		r := faultReport(t, "paging request", "")
		r.o.Arch = ArchS390
		return r
	} else if m := reUnhandled.FindStringSubmatch(t); m != nil {
		r := newReport(KindOops, endTrace, t, "Unhandled fault")
		r.o.Address = m[2]
		r.o.Arch = ArchARM // only arch/arm prints it
		r.wantsDie, r.lenient = true, true
		return r
	} else {
		return nil
	}
	return faultReport(t, what, addr)
}

// faultReport makes the report of a fault banner that names what the
// kernel could not handle, titled as syzbot titles them on every
// architecture.
func faultReport(t, what, addr string) *report {
	kind, base := KindPagingRequest, "BUG: unable to handle kernel "+what
	switch strings.ToLower(what) {
	case "null pointer dereference", "kernel null pointer dereference":
		kind, base = KindNullDeref, "BUG: kernel NULL pointer dereference"
	case "paging request", "data access", "instruction fetch", "unknown paging fault",
		"unable to handle kernel data access", "unable to handle kernel instruction fetch", "unable to handle unknown paging fault":
		base = "BUG: unable to handle kernel paging request"
	}
	r := newReport(kind, endTrace, t, base)
	r.o.Address = addr
	r.wantsDie = true
	// Register dumps of other architectures are many lines of names this
	// parser does not list; a fault report ends at its end marker.
	r.lenient = true
	return r
}

// ppcFaultHeader recognises powerpc's "BUG: Kernel NULL pointer
// dereference on read at 0x00000000" family.
func ppcFaultHeader(t string) *report {
	m := rePPCFault.FindStringSubmatch(t)
	if m == nil {
		return nil
	}
	r := faultReport(t, m[1], m[2])
	r.o.Arch = ArchPowerPC
	return r
}

// parseDie reads a die() line of any architecture: the trap's name, its
// code and the oops number.
func parseDie(t string) (trap, code string, n int, ok bool) {
	if m := reDie.FindStringSubmatch(t); m != nil {
		return m[1], m[2], atoi(m[3]), true
	}
	if m := reDieArch.FindStringSubmatch(t); m != nil {
		if m[3] != "" {
			return m[3], "", atoi(m[4]), true
		}
		return strings.TrimPrefix(m[1], "Oops: "), m[2], atoi(m[4]), true
	}
	if m := reDieMIPS.FindStringSubmatch(t); m != nil {
		return m[1], "", atoi(m[2]), true
	}
	return "", "", 0, false
}

// dieBase is the title base of a report that a die() line starts: arm's
// and arm64's "Internal error: ..." are titled "Internal error", as
// syzbot does.
func dieBase(trap string) string {
	if strings.HasPrefix(trap, "Internal error") {
		return "Internal error"
	}
	return trap
}

// archLine takes the register and trace lines of non-x86 reports that
// the x86 body does not know, and tells whether it used the line.
func (r *report) archLine(t string) bool {
	switch {
	case strings.HasPrefix(t, "pc : "):
		// arm64 "pc : vfs_read+0x7f/0x2e0", 4.x arm64 and arm
		// "pc : [<c0123456>]    lr : [<...>]    psr: 60000013".
		rest := t[len("pc : "):]
		if strings.Contains(t, "pstate") {
			r.setArch(ArchARM64)
		} else if strings.Contains(t, "psr:") {
			r.setArch(ArchARM)
		} else {
			r.setArch(ArchARM64)
		}
		r.archPC(rest)
	case strings.HasPrefix(t, "lr : ") && !strings.HasPrefix(t, "lr : [<"):
		if r.lr == "" && !r.regsDone {
			r.lr = pcFrame(strings.TrimSpace(t[len("lr : "):]))
		}
	case strings.HasPrefix(t, "PC is at "):
		r.setArch(ArchARM) // arm64 before 4.16 too: pstate corrects it
		r.archPC(t[len("PC is at "):])
	case strings.HasPrefix(t, "NIP [") || strings.HasPrefix(t, "NIP:"):
		r.setArch(ArchPowerPC)
		if i := strings.Index(t, "] "); i > 0 && strings.HasPrefix(t, "NIP [") {
			r.archPC(t[i+2:])
		}
	case strings.HasPrefix(t, "epc ") || strings.HasPrefix(t, "epc:"):
		// riscv's "epc : ksys_read+0x88/0xd6" (then "epc : <hex> ra :
		// <hex> ..."), MIPS's "epc   : 80015808 setup_sigcontext+0x54/0x24c".
		i := strings.IndexByte(t, ':')
		if i < 0 || strings.TrimSpace(t[len("epc"):i]) != "" {
			return false
		}
		v := strings.TrimSpace(t[i+1:])
		if f := strings.Fields(v); len(f) > 1 && isHex(f[0]) && strings.Contains(f[1], "+0x") {
			r.setArch(ArchMIPS)
		} else {
			r.setArch(ArchRISCV)
		}
		r.archPC(v)
	case strings.HasPrefix(t, "ERA: "):
		// LoongArch's "ERA: 90000000037a5f0c efi_runtime_init+0x30/0x94".
		r.setArch(ArchLoong)
		r.archPC(t[len("ERA: "):])
	case strings.HasPrefix(t, "$ 0 ") || hasAnyPrefix(t, loongRegPrefixes):
		if t[0] == '$' {
			r.setArch(ArchMIPS)
		} else {
			r.setArch(ArchLoong)
		}
	case strings.HasPrefix(t, "Krnl PSW : "):
		// s390's "Krnl PSW : 0704f00180000000 000003ff8086d03a
		// (will_oops_init+0x3a/0x1000 [will_oops])": the PSW's address
		// is the PC. Its register and code dumps run over many lines.
		r.setArch(ArchS390)
		r.lenient = true
		if i := strings.IndexByte(t, '('); i > 0 {
			r.archPC(strings.TrimSuffix(t[i+1:], ")"))
		}
	case strings.HasPrefix(t, "EIP is at "):
		// 32-bit x86 before 4.x: "EIP is at wdev_priv.part.8+0x3/0x5 [wl]".
		r.setArch(Arch386)
		r.archPC(t[len("EIP is at "):])
	case strings.HasPrefix(t, "EIP: "):
		// "EIP: 0060:[<f8e40765>] EFLAGS: 00210246 CPU: 1"; since 4.x
		// "EIP: wdev_priv+0x3/0x5 [wl]".
		r.setArch(Arch386)
		if !strings.Contains(t, "EFLAGS") && !strings.Contains(t, "SS:ESP") {
			r.archPC(parseRIP(t[len("EIP: "):]))
		}
	case strings.HasPrefix(t, "status: ") && strings.Contains(t, " badaddr: "):
		// riscv's show_regs ends so; its frames follow without "Call Trace:".
		r.setArch(ArchRISCV)
		r.phase = inTrace
		r.regsDone = true
		r.wantsDie = false
	case strings.HasPrefix(t, "pstate: ") || strings.HasPrefix(t, "Mem abort info:") || isARM64Reg(t):
		r.setArch(ArchARM64)
	case strings.HasPrefix(t, "GPR") || strings.HasPrefix(t, "MSR: ") || strings.HasPrefix(t, "REGS: ") || strings.HasPrefix(t, "CFAR: "):
		r.setArch(ArchPowerPC)
	case hasAnyPrefix(t, archKnownPrefixes) || isArchRegLine(t):
	default:
		return false
	}
	return true
}

// archKnownPrefixes start lines of non-x86 reports that carry nothing a
// Report keeps but belong to the report.
var archKnownPrefixes = []string{
	"lr : ", "LR is at ", "LR [", "sp : ", "ra : ", "psr: ", "Flags: ", "Control: ", "Process ", "Stack: (",
	"ESR = ", "EC = ", "SET = ", "EA = ", "FSC = ", "Data abort info:", "ISV = ", "CM = ", "ISS2 = ", "TnD = ", "GCS = ",
	"user pgtable:", "swapper pgtable:", "pgd = ", "[<", "Instruction dump:", "Faulting instruction address:",
	"LE PAGE_SIZE", "BE PAGE_SIZE", "CR: ", "XER: ", "IRQMASK:", "Exception stack(", "Backtrace:", "Function entered at",
	"Krnl ", "R:", "Last Breaking-Event-Address:",
}

// loongRegPrefixes start LoongArch's CSR lines in a register dump.
var loongRegPrefixes = []string{"CRMD: ", "PRMD: ", "EUEN: ", "ECFG: ", "ESTAT: ", "BADV: ", "PRID: "}

// ppcRegPrefixes start the lines of the register dump powerpc prints
// for an exception frame inside its call trace.
var ppcRegPrefixes = []string{"NIP:", "NIP [", "LR [", "REGS:", "MSR:", "GPR", "DAR:", "DSISR:", "CFAR:", "IRQMASK:",
	"CTR:", "XER:", "CR:", "SOFTE:", "TRAP:", "DEAR:", "ESR:", "ORIG_GPR3:"}

// archPC takes the faulting PC as the report's RIP, once: its frame, or
// the address itself when it names none (arm64's "pc : 0x64" after a call
// through a stale pointer; x86 prints "RIP: 0010:0x64" for the same).
func (r *report) archPC(s string) {
	if r.o.RIP != "" || r.regsDone {
		return
	}
	s = strings.TrimSpace(s)
	r.o.RIP = pcFrame(s)
	if r.o.RIP == "" && isBareAddress(s) {
		r.o.RIP = s
	}
}

// isBareAddress tells an address alone, "0x64" or "0xffffc725355ef07c".
func isBareAddress(s string) bool {
	h, ok := strings.CutPrefix(s, "0x")
	return ok && len(h) <= 16 && isHex(h)
}

// pcFrame finds the frame in what a PC register line holds: the frame
// ("vfs_read+0x7f/0x2e0", "f+0x1/0x2 [mod]"), the frame after the
// address (MIPS's and LoongArch's "80015808 setup_sigcontext+0x54/0x24c"),
// the frame before the next register (4.x arm64's "f+0x1/0x2 lr : ..."),
// decode_stacktrace.sh's "edma_probe (drivers/dma/ti/edma.c:0)", or a
// symbolizer's bare "bio_free". It returns "" for addresses alone.
func pcFrame(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		if !strings.Contains(w, "+0x") {
			continue
		}
		if i+1 < len(f) && strings.HasPrefix(f[i+1], "[") && i == 0 {
			return s // "f+0x1/0x2 [mod]", and a symbolized "f+0x1/0x2 [mod] file.c:1"
		}
		if i+1 < len(f) && strings.HasPrefix(f[i+1], "[") && strings.HasSuffix(f[i+1], "]") {
			return w + " " + f[i+1]
		}
		return w
	}
	if isFrame(s) && !strings.HasPrefix(s, "0x") && !isInlineFrame(s) || len(f) == 1 && isIdent(s) {
		return s // an inline level ("pc : f x.h:12 [inline]") leaves RIP to the next pc line
	}
	return ""
}

// setArch records the architecture a line showed; arm64 wins over arm
// (4.x arm64 printed arm's "PC is at" too).
func (r *report) setArch(a string) {
	if r.o.Arch == "" || a == ArchARM64 && r.o.Arch == ArchARM {
		r.o.Arch = a
	}
}

// isARM64Reg tells arm64's general register lines, "x29: ffff80000a4b3b20 x28: ...".
func isARM64Reg(t string) bool {
	return len(t) > 20 && t[0] == 'x' && isDigit(t[1]) && (t[2] == ':' || isDigit(t[2]) && t[3] == ':')
}

// isArchRegLine tells a register dump line of arm, powerpc or riscv:
// short lowercase names each followed by 8 or 16 hex digits ("r10:
// c0d0e0f0  r9 : 00000000", " gp : ffffffff81a3c2f8 tp : ..."), or
// arm's stack dump ("bee0: c0123456 c0123456 ...").
func isArchRegLine(t string) bool {
	i := 0
	for i < len(t) && i < 4 && (t[i] >= 'a' && t[i] <= 'z' || isDigit(t[i])) {
		i++
	}
	if i == 0 || i == len(t) {
		return false
	}
	if t[i] == ' ' {
		i++
	}
	if i >= len(t) || t[i] != ':' {
		return false
	}
	i++
	for i < len(t) && t[i] == ' ' {
		i++
	}
	j := hexRun(t, i)
	return j-i >= 8
}

// archFrom guesses the architecture of a report that showed no register
// dump (a hung task, a WARNING without registers) from its trace's entry
// frames: the syscall and interrupt entries are each architecture's own.
func archFrom(frames []string) string {
	for i := len(frames) - 1; i >= 0 && i >= len(frames)-6; i-- {
		f := funcName(frames[i])
		switch {
		case strings.HasPrefix(f, "entry_SYSCALL_64") || f == "do_syscall_64" || strings.HasPrefix(f, "asm_exc_") || strings.HasPrefix(f, "asm_sysvec_") ||
			f == "system_call_fastpath" || f == "entry_SYSCALL64_slow_path" || f == "tracesys" || f == "ret_from_fork_asm":
			return ArchAMD64
		case f == "sysenter_do_call" || f == "syscall_call" || f == "sysenter_past_esp" || f == "entry_SYSENTER_32" || f == "entry_INT80_32":
			return Arch386
		case strings.HasPrefix(f, "el0_svc") || strings.HasPrefix(f, "el0t_64_") || f == "invoke_syscall" || strings.HasPrefix(f, "el1h_64_"):
			return ArchARM64
		case f == "ret_fast_syscall" || f == "vector_swi" || f == "__irq_svc":
			return ArchARM
		case strings.HasPrefix(f, "system_call_exception") || strings.HasPrefix(f, "system_call_common") || strings.HasPrefix(f, "system_call_vectored"):
			return ArchPowerPC
		case f == "do_trap_ecall_u":
			return ArchRISCV
		case f == "handle_syscall":
			return ArchLoong
		}
	}
	return ""
}

// armFrame takes arm's backtrace line "[<c0123456>] (foo) from
// [<c0123789>] (bar+0x30/0x40)", its older "(foo+0x10/0x20) from ..."
// and its 5.16+ "foo from bar+0x30/0x40", and returns the caller's frame
// (the callee is the previous line's caller, or the PC).
func armFrame(t string) (string, bool) {
	i := strings.Index(t, " from ")
	if i < 0 {
		return "", false
	}
	s := stripAddr(strings.TrimSpace(t[i+len(" from "):]))
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	if !isFrame(s) {
		return "", false
	}
	return s, true
}

// frameSuffix takes the notes other architectures and symbolizers put
// after a frame: powerpc's " (unreliable)" (a leftover like x86's "? "),
// arm64's unwind source " (P)", " (L)" ... since 6.13, and a
// symbolizer's " (inlined)", written as the " [inline]" of the kernel's
// own decode_stacktrace.sh.
func frameSuffix(s string) (string, bool) {
	n := len(s)
	switch {
	case n > 4 && s[n-1] == ')' && s[n-3] == '(' && s[n-4] == ' ' && 'A' <= s[n-2] && s[n-2] <= 'Z':
		return s[:n-4], false
	case strings.HasSuffix(s, " (unreliable)"):
		return s[:n-len(" (unreliable)")], true
	case strings.HasSuffix(s, " (inlined)"):
		return s[:n-len(" (inlined)")] + " [inline]", false
	}
	return s, false
}

// armTrace takes a frame of arm's backtrace ("foo from bar+0x30/0x40"),
// which arm prints without a "Call Trace:" line before it.
func (r *report) armTrace(t string) bool {
	fr, ok := armFrame(t)
	if !ok {
		return false
	}
	r.setArch(ArchARM)
	r.phase = inTrace
	r.regsDone = true
	r.wantsDie = false
	r.addFrame(fr)
	return true
}
