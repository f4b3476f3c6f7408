package results

import (
	"fmt"
	"slices"
	"strings"
)

// Architectural differences: one Debian build (the same package version of
// one source) run on two architectures, compared by the cells' behaviour
// signatures, says which of the differences are the architecture's and
// which are only how each architecture words its reports.

// archKinds reads one architecture's kind of report as another's: x86
// says "BUG: unable to handle page fault for address" (arch/x86/mm/fault.c),
// arm64 "Unable to handle kernel paging request at virtual address"
// (arch/arm64/mm/fault.c, die_kernel_fault) for the same fault.
var archKinds = map[string]string{"paging-request": "page-fault"}

// archSignals are the signals an oopsing task dies of, by architecture:
// x86's page_fault_oops hands SIGKILL to oops_end, arm64's die() calls
// make_task_dead(SIGSEGV). A holder that died in an oops says so in its
// exit status.
var archSignals = map[string]string{"amd64": "SIGKILL", "arm64": "SIGSEGV"}

// compareArches says how the behaviour of one build on arch a (sa)
// relates to that on arch b (sb): the same behaviour in each
// architecture's words (with what the words differ in), or what differs.
func compareArches(a string, sa Signature, b string, sb Signature) string {
	var differ, words []string
	if sa.Verdict != sb.Verdict || sa.ErrorKind != sb.ErrorKind {
		differ = append(differ, fmt.Sprintf("verdict %s on %s, %s on %s", verdictWords(sa), a, verdictWords(sb), b))
	}
	if !slices.Equal(sa.Steps, sb.Steps) {
		differ = append(differ, "step outcomes")
	}
	if sa.Panic != sb.Panic {
		differ = append(differ, "whether the kernel panicked")
	}
	if len(sa.Reports) != len(sb.Reports) {
		differ = append(differ, fmt.Sprintf("%d kernel reports on %s, %d on %s", len(sa.Reports), a, len(sb.Reports), b))
	} else {
		for i := range sa.Reports {
			ra, rb := sa.Reports[i], sb.Reports[i]
			if archKind(ra.Kind) != archKind(rb.Kind) {
				differ = append(differ, fmt.Sprintf("report %d is %s on %s, %s on %s", i+1, ra.Kind, a, rb.Kind, b))
				continue
			}
			switch {
			case ra.Guilty == rb.Guilty:
			case ra.Guilty == "" || rb.Guilty == "":
				// The fault is in freed module memory: x86's unwinder
				// has nothing reliable there, arm64's link register
				// still names the caller.
				named, arch := rb.Guilty, b
				if named == "" {
					named, arch = ra.Guilty, a
				}
				words = append(words, fmt.Sprintf("only %s's report %d names a function (%s)", arch, i+1, named))
			default:
				differ = append(differ, fmt.Sprintf("report %d is in %s on %s, in %s on %s", i+1, ra.Guilty, a, rb.Guilty, b))
			}
		}
	}
	if len(sa.Processes) != len(sb.Processes) {
		differ = append(differ, "which processes the experiment left")
	} else {
		signals := false
		for i := range sa.Processes {
			pa, pb := sa.Processes[i], sb.Processes[i]
			if pa.Holder != pb.Holder {
				differ = append(differ, "which processes the experiment left")
				break
			}
			if pa.State == pb.State {
				continue
			}
			if archSignal(pa.State, a) == archSignal(pb.State, b) {
				signals = true
				continue
			}
			differ = append(differ, fmt.Sprintf("%s is %s on %s, %s on %s", pa.Holder, pa.State, a, pb.State, b))
		}
		if signals {
			words = append(words, fmt.Sprintf("a task killed by its oops dies of %s on %s, of %s on %s (x86's page_fault_oops passes SIGKILL to oops_end; arm64's die() calls make_task_dead(SIGSEGV))",
				archSignals[a], a, archSignals[b], b))
		}
	}
	if len(differ) > 0 {
		return "the architectures differ: " + strings.Join(differ, "; ")
	}
	s := "the same behaviour, reports worded by each architecture"
	if len(words) > 0 {
		s += "; " + strings.Join(words, "; ")
	}
	return s
}

func archKind(k string) string {
	if c, ok := archKinds[k]; ok {
		return c
	}
	return k
}

// archSignal reads a process state's signal of arch as the common one.
func archSignal(state, arch string) string {
	if sig, ok := archSignals[arch]; ok {
		return strings.ReplaceAll(state, "by "+sig, "by <oops signal>")
	}
	return state
}

func verdictWords(s Signature) string {
	if s.ErrorKind != "" {
		return s.Verdict + " (" + s.ErrorKind + ")"
	}
	return s.Verdict
}
