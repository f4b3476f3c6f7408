package results

import (
	"fmt"
	"io"
	"strings"

	"github.com/kernel-lab/lab/internal/evidence"
)

// PrintSummary writes the short account of one result a person reads in a
// terminal: the verdict, what each step did, the oops and where it hit, the
// processes that never came back, and the timings.
func PrintSummary(w io.Writer, r *Result, path string) {
	fmt.Fprintf(w, "\n%s on %s (%s, %s): %s\n", r.Experiment, r.Kernel.Name, r.Kernel.Release, r.Accel, strings.ToUpper(r.Verdict))
	if r.Summary != "" {
		fmt.Fprintf(w, "  %s\n", r.Summary)
	}
	for _, st := range r.Steps {
		fmt.Fprintf(w, "  %2d %-8s %-16s %s\n", st.Index, st.Action, st.Target, stepOutcome(st))
		for _, oi := range st.Oopses {
			if oi < len(r.Oopses) {
				fmt.Fprintf(w, "       kernel: %s\n", OopsLine(r.Oopses[oi]))
				for _, res := range r.Oopses[oi].Resolved {
					if res.Module != "" {
						fmt.Fprintf(w, "         %s\n", res)
					}
				}
			}
		}
	}
	for _, p := range r.Processes {
		fmt.Fprintf(w, "  process %s (pid %d, %s): %s%s\n", p.Comm, p.PID, p.Holder, p.State, processNote(p))
		if p.HungTaskReport != "" {
			first, _, _ := strings.Cut(p.HungTaskReport, "\n")
			fmt.Fprintf(w, "    kernel: %s\n", first)
		}
	}
	if len(r.Oopses) > 0 {
		fmt.Fprintf(w, "  kernel reports: %d\n", len(r.Oopses))
	}
	if rp := r.Repeats; rp != nil {
		fmt.Fprintf(w, "  repeats: %s; %d of %d passed", rp.String(), rp.Passed, rp.N)
		if rp.ExpectedRate != "" {
			fmt.Fprintf(w, " (expected rate %s)", rp.ExpectedRate)
		}
		if rp.Flaky {
			fmt.Fprint(w, "; FLAKY: more than one behaviour")
		}
		fmt.Fprintln(w)
		for _, l := range rp.Lines() {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.Verdict == Fail {
		fmt.Fprintf(w, "  why: %s\n", r.Reason)
	}
	if r.Verdict == Error {
		fmt.Fprintf(w, "  error (%s): %s\n", r.ErrorKind, r.Error)
	}
	fmt.Fprintf(w, "  time: boot %.1f s, total %.1f s\n", float64(r.TimingsMS["boot"])/1000, float64(r.TimingsMS["total"])/1000)
	if path != "" {
		fmt.Fprintf(w, "  result: %s\n", path)
	}
}

// PCName is what arch's oopses call the faulting instruction's address:
// x86's RIP (EIP), the others' pc (arm64's "pc : vfs_read+0xb0/0x2d0").
func PCName(arch string) string {
	switch arch {
	case "amd64", "":
		return "RIP"
	case "386":
		return "EIP"
	}
	return "PC"
}

// OopsLine is one line describing a kernel report.
func OopsLine(o evidence.Report) string {
	var b strings.Builder
	b.WriteString(o.Title)
	var where []string
	if o.RIP != "" {
		where = append(where, PCName(o.Arch)+" "+o.RIP)
	}
	if o.CR2 != "" {
		where = append(where, "CR2 "+o.CR2)
	}
	if o.Comm != "" {
		where = append(where, fmt.Sprintf("task %s/%d", o.Comm, o.PID))
	}
	if o.LastUnloaded != "" {
		where = append(where, "last unloaded "+o.LastUnloaded)
	}
	if o.RecursiveFault {
		where = append(where, "recursive fault")
	}
	if len(where) > 0 {
		b.WriteString(" (" + strings.Join(where, ", ") + ")")
	}
	return b.String()
}

func stepOutcome(st Step) string {
	var s string
	switch {
	case st.NoAnswer:
		s = "no answer: " + st.Error
	case st.OK:
		s = "ok"
	case st.Errno != "":
		s = "failed " + st.Errno
	default:
		s = "failed: " + st.Error
	}
	if st.Data != "" {
		s += fmt.Sprintf(" %q", strings.TrimSpace(st.Data))
	}
	if st.Exists != nil {
		s += fmt.Sprintf(" exists=%v", *st.Exists)
	}
	if st.Process != nil && (st.NoAnswer || st.Action == "observe") {
		s += "; state " + st.Process.State
		if st.Process.Wchan != "" && st.Process.Wchan != "0" {
			s += ", wchan " + st.Process.Wchan
		}
	}
	return fmt.Sprintf("%s  (%d ms)", s, st.MS)
}

func processNote(p Process) string {
	switch {
	case p.Exited:
		return ", reaped: " + p.ExitStatus
	case strings.HasPrefix(p.State, "X"):
		return ": dead and never reaped, a parent waiting for it would hang"
	case strings.HasPrefix(p.State, "D") && p.HungTaskReport != "":
		return ": uninterruptible; the kernel's hung-task detector reported it"
	case strings.HasPrefix(p.State, "D"):
		return ": uninterruptible, no signal can reach it (the hung-task detector did not report it)"
	}
	return ""
}
