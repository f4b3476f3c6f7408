package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/cli"
	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
)

// TestProc runs the five procfs experiments on Debian 6.1 (one boot each,
// one lab run) and checks the kernel's own evidence: procfs runs a removed
// entry down (EIO on the open file, the module's release called by rmmod,
// rmmod waiting in proc_entry_rundown for a read in flight), and the two
// ways a module defeats that (the raw permanent bit, a forgotten
// remove_proc_entry) end in WARNINGs and oopses in procfs's wrappers.
func TestProc(t *testing.T) {
	needVM(t)
	exps := []string{"proc-safe", "proc-permanent", "proc-forced", "proc-leak", "proc-slow"}
	code, _, dir := runLab(t, append([]string{"run"}, exps...)...)
	if code != cli.ExitPass {
		t.Errorf("lab run proc-* = exit %d; want %d", code, cli.ExitPass)
	}
	if left := qemuChildren(t); len(left) > 0 {
		t.Errorf("qemu processes left behind: %v", left)
	}
	const kernel = "debian-6.1"
	load := func(t *testing.T, exp string) (*results.Result, string) {
		t.Helper()
		r := readResult(t, dir, kernel, exp)
		if r.Verdict != results.Pass {
			t.Errorf("verdict = %s (%s %s); want pass", r.Verdict, r.Reason, r.Error)
		}
		console, err := os.ReadFile(filepath.Join(dir, "latest", kernel, exp, "console.log"))
		if err != nil {
			t.Errorf("console.log: %v", err)
		}
		return r, string(console)
	}
	for _, exp := range []string{"proc-safe", "proc-permanent"} {
		t.Run(exp, func(t *testing.T) {
			r, console := load(t, exp)
			mod := strings.ReplaceAll(exp, "-", "_")
			if s := step(t, r, 4, "unload", mod); !s.OK {
				t.Errorf("unload while open: ok=false (%s); want ok", s.Errno)
			}
			if s := step(t, r, 5, "read", "A"); s.OK || s.Errno != "EIO" {
				t.Errorf("read after unload: ok=%v errno %q; want EIO", s.OK, s.Errno)
			}
			if s := step(t, r, 6, "close", "A"); !s.OK {
				t.Errorf("close after unload: ok=false (%s); want ok", s.Errno)
			}
			if s := step(t, r, 7, "open", "B"); s.OK || s.Errno != "ENOENT" {
				t.Errorf("new open after unload: ok=%v errno %q; want ENOENT", s.OK, s.Errno)
			}
			if s := step(t, r, 8, "exists", "/proc/"+mod); s.Exists == nil || *s.Exists {
				t.Errorf("exists /proc/%s = %v; want false", mod, s.Exists)
			}
			if len(r.Oopses) != 0 {
				t.Errorf("kernel reports = %+v; want none", r.Oopses)
			}
			// proc_entry_rundown calls the module's release for A's file
			// from inside rmmod, between the unload and the next step.
			unload := between(console, "lab-agent: step 4 unload", "lab-agent: step 5 ")
			if !regexp.MustCompile(mod + `: release \(pid \d+, rmmod\)`).MatchString(unload) {
				t.Errorf("no %q release line printed by rmmod during the unload step:\n%s", mod, unload)
			}
			// ... and only then: A's close after the rundown calls nothing.
			if n := strings.Count(console, mod+": release"); n != 1 {
				t.Errorf("%d release lines on the console; want 1 (from rmmod)", n)
			}
		})
	}

	t.Run("proc-forced", func(t *testing.T) {
		r, console := load(t, "proc-forced")
		if s := step(t, r, 4, "unload", "proc_forced"); !s.OK {
			t.Errorf("unload: ok=false (%s); want ok", s.Errno)
		}
		if s := step(t, r, 5, "exists", "/proc/proc_forced"); s.Exists == nil || !*s.Exists {
			t.Errorf("exists after unload = %v; want true (remove_proc_entry refused)", s.Exists)
		}
		seek := step(t, r, 6, "seek", "A")
		if !seek.NoAnswer || len(seek.Oopses) == 0 {
			t.Errorf("seek after unload = %+v; want no answer and an oops", seek)
		}
		warnings, faults := split(r.Oopses)
		if len(warnings) != 2 {
			t.Fatalf("warnings = %+v; want the two of remove_proc_entry", warnings)
		}
		for i, detail := range []string{"removing permanent /proc entry 'proc_forced'", "name 'proc_forced'"} {
			w := warnings[i]
			// rmmod is inside the module's exit function: its memory is
			// not freed yet, so its addresses are not a use after unload.
			for _, res := range w.Resolved {
				if res.Unloaded {
					t.Errorf("warning %d: %s flagged unloaded; the module is still running its exit", i+1, res)
				}
			}
			if !strings.HasPrefix(w.RIP, "remove_proc_entry+") || w.Detail != detail || w.Comm != "rmmod" {
				t.Errorf("warning %d = %q %q by %q; want remove_proc_entry, %q, rmmod", i+1, w.RIP, w.Detail, w.Comm, detail)
			}
		}
		// Kernel addresses in the warning's registers are named by the
		// running kernel's kallsyms (KASLR moved them; Debian's System.map
		// is a placeholder).
		var named []string
		for _, w := range warnings {
			for _, res := range w.Resolved {
				if res.Module == "" && res.Symbol != "" && strings.HasPrefix(res.Address, "ffffffff") {
					named = append(named, res.String())
				}
			}
		}
		// remove_proc_entry(name, NULL) works on the entry's parent, the
		// root of /proc: it is in a register when the warning fires.
		if !slices.ContainsFunc(named, func(s string) bool { return strings.HasSuffix(s, "= proc_root") }) {
			t.Errorf("kernel addresses named %q; want proc_root, the parent of the removed entry", named)
		}
		t.Logf("named from kallsyms: %q", named)
		if len(faults) != 2 {
			t.Fatalf("oopses = %+v; want the seek fault and the close fault", faults)
		}
		checkFault(t, faults[0], "proc_reg_llseek", "holder-A", "proc_forced", false)
		checkFault(t, faults[1], "proc_reg_release", "holder-A", "proc_forced", true)
		if !strings.Contains(console, "Fixing recursive fault but reboot is needed!") {
			t.Errorf("console.log has no recursive fault line")
		}
		// The entry was never run down: the module's release never ran.
		if strings.Contains(console, "proc_forced: release") {
			t.Errorf("the module's release ran; a permanent entry is never run down")
		}
		checkHolder(t, r, "A", "X")
	})

	t.Run("proc-leak", func(t *testing.T) {
		r, console := load(t, "proc-leak")
		if s := step(t, r, 4, "unload", "proc_leak"); !s.OK || len(s.Oopses) != 0 {
			t.Errorf("unload: %+v; want ok without a report", s)
		}
		if s := step(t, r, 5, "exists", "/proc/proc_leak"); s.Exists == nil || !*s.Exists {
			t.Errorf("exists after unload = %v; want true (leaked)", s.Exists)
		}
		if s := step(t, r, 6, "seek", "A"); !s.NoAnswer || len(s.Oopses) == 0 {
			t.Errorf("seek after unload = %+v; want no answer and an oops", s)
		}
		if s := step(t, r, 8, "open", "B"); !s.NoAnswer || s.OK || len(s.Oopses) != 1 {
			t.Errorf("open B after unload = %+v; want no answer and one oops", s)
		}
		warnings, faults := split(r.Oopses)
		if len(warnings) != 0 {
			t.Errorf("warnings = %+v; want none (nothing called remove_proc_entry)", warnings)
		}
		if len(faults) != 3 {
			t.Fatalf("oopses = %+v; want A's seek and close faults and B's open fault", faults)
		}
		checkFault(t, faults[0], "proc_reg_llseek", "holder-A", "proc_leak", false)
		// proc_reg_release -> close_pdeo -> proc_ops->proc_release.
		checkFault(t, faults[1], "close_pdeo", "holder-A", "proc_leak", true)
		checkFault(t, faults[2], "proc_reg_open", "holder-B", "proc_leak", false)
		if strings.Contains(console, "proc_leak: release") {
			t.Errorf("the module's release ran; nothing ran the leaked entry down")
		}
		checkHolder(t, r, "A", "X")
		checkHolder(t, r, "B", "gone")
	})

	t.Run("proc-slow", func(t *testing.T) {
		r, console := load(t, "proc-slow")
		if len(r.Oopses) != 0 {
			t.Errorf("kernel reports = %+v; want none", r.Oopses)
		}
		u := step(t, r, 7, "observe", "u")
		if p := u.Process; p == nil || p.Comm != "rmmod" || p.StateLetter() != "D" || p.Wchan != "proc_entry_rundown" {
			t.Errorf("rmmod while the read sleeps = %+v; want rmmod D in proc_entry_rundown", p)
		} else if !strings.Contains(strings.Join(p.Stack, "\n"), "remove_proc_entry") {
			t.Errorf("rmmod stack = %q; want remove_proc_entry", p.Stack)
		}
		a := step(t, r, 8, "observe", "A")
		if p := a.Process; p == nil || p.Comm != "holder-A" || p.StateLetter() != "D" || p.Wchan != "msleep" {
			t.Errorf("reader = %+v; want holder-A D in msleep", p)
		} else if !strings.Contains(strings.Join(p.Stack, "\n"), "proc_reg_read") {
			t.Errorf("reader stack = %q; want proc_reg_read", p.Stack)
		}
		read := step(t, r, 9, "await", "r")
		if !read.OK || read.Data != "proc_slow: read 1\n" || read.MS < 2990 {
			t.Errorf("read in flight = %+v; want the data after the 3 s sleep", read)
		}
		// rmmod started after the read and ended when it returned: it
		// waited for the rest of the sleep, and no longer.
		if s := step(t, r, 10, "await", "u"); !s.OK || s.MS < 1500 || s.MS >= read.MS {
			t.Errorf("rmmod = ok %v after %d ms; want ok after waiting out the rest of the %d ms read (>= 1.5 s)", s.OK, s.MS, read.MS)
		}
		if s := step(t, r, 11, "read", "A"); s.OK || s.Errno != "EIO" {
			t.Errorf("read after unload: ok=%v errno %q; want EIO", s.OK, s.Errno)
		}
		// The release comes after the read has returned, from rmmod.
		if !regexp.MustCompile(`proc_slow: release \(pid \d+, rmmod\)`).MatchString(between(console, "lab-agent: step 9 await", "lab-agent: step 11 ")) {
			t.Errorf("no release by rmmod after the read returned")
		}
	})
}

// between is the part of s after the first from and before the next to.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		s = s[:j]
	}
	return s
}

// split separates WARNING reports from the others.
func split(oopses []evidence.Report) (warnings, faults []evidence.Report) {
	for _, o := range oopses {
		if o.Kind == evidence.KindWarning {
			warnings = append(warnings, o)
		} else {
			faults = append(faults, o)
		}
	}
	return warnings, faults
}

// checkFault checks a page fault: in function (a pattern), by comm, after
// module was unloaded, recursive or not.
func checkFault(t *testing.T, o evidence.Report, function, comm, module string, recursive bool) {
	t.Helper()
	if !strings.Contains(o.Title, "page fault") || !regexp.MustCompile(`^(`+function+`)\+`).MatchString(o.RIP) {
		t.Errorf("oops %q at %q; want a page fault in %s", o.Title, o.RIP, function)
	}
	if o.Comm != comm || o.LastUnloaded != module || o.RecursiveFault != recursive {
		t.Errorf("oops at %s: task %q, last unloaded %q, recursive %v; want %s, %s, %v", o.RIP, o.Comm, o.LastUnloaded, o.RecursiveFault, comm, module, recursive)
	}
	// The faulting address is in the freed module's proc_ops, named from
	// the layout recorded before the unload.
	named := false
	for _, res := range o.Resolved {
		named = named || res.What == "CR2" && res.Module == module && res.Unloaded && strings.HasPrefix(res.Symbol, "lab_proc_ops+")
	}
	if !named {
		t.Errorf("oops at %s: resolved %+v; want CR2 in %s:lab_proc_ops of the unloaded module", o.RIP, o.Resolved, module)
	}
}

// checkHolder checks the final state letter (or gone) of a holder.
func checkHolder(t *testing.T, r *results.Result, holder, state string) {
	t.Helper()
	for _, p := range r.Processes {
		if p.Holder != holder {
			continue
		}
		got := p.State
		if got != "gone" && got != "" {
			got = got[:1]
		}
		if got != state {
			t.Errorf("holder %s = %+v; want state %s", holder, p, state)
		}
		return
	}
	t.Errorf("no final state of holder %s in %+v", holder, r.Processes)
}
