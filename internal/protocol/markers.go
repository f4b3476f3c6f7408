package protocol

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The agent writes these lines into the kernel log (/dev/kmsg), so they
// reach the host on the serial console in order with the kernel's own
// reports; the host reads them back from console.log. Each is written and
// parsed only here.
const (
	// readyMarker: the SSH server listens; the host dials after it.
	readyMarker = "lab-agent: ready"
	// fatalMarker, then the error: the agent cannot serve.
	fatalMarker = "lab-agent: fatal: "
	// unloadedMarker, then the module name: a delete_module returned
	// success (the module's memory is freed from then on).
	unloadedMarker = "lab-agent: unloaded "
	// stepMarker, then the step number and what it does: the step starts,
	// so the reports printed after it are its own.
	stepMarker = "lab-agent: step "
	// endMarker: the host is about to stop the VM. Consoles print the
	// kernel log in order, so once the host reads this line every line
	// logged before it is in console.log too.
	endMarker = "lab-agent: end of run"
)

// ReadyLine is the line the agent writes once it serves.
func ReadyLine() string { return readyMarker }

// FatalLine is the line the agent writes when it cannot serve.
func FatalLine(err error) string { return fatalMarker + err.Error() }

// UnloadedLine is the line the agent writes when module is gone.
func UnloadedLine(module string) string { return unloadedMarker + module }

// StepLine is the line the agent writes before it runs req.
func StepLine(req Request) string {
	return fmt.Sprintf("%s%d %s %s%s%s", stepMarker, req.Step, req.Action, req.Module, req.Holder, req.Ticket)
}

// EndLine is the line the agent writes when the host ends the run.
func EndLine() string { return endMarker }

// IsEnd tells whether a console line is the agent's end-of-run line.
func IsEnd(line string) bool { return strings.Contains(line, endMarker) }

// IsReady tells whether a console line is the agent's ready line.
func IsReady(line string) bool { return strings.Contains(line, readyMarker) }

// ParseFatal returns the agent's error from a console line that carries it.
func ParseFatal(line string) (string, bool) {
	i := strings.Index(line, fatalMarker)
	if i < 0 {
		return "", false
	}
	return line[i+len(fatalMarker):], true
}

// The host's parsers, compiled on first use: the agent links this package
// too, and compiling them at its start cost a cold boot about 10 ms of
// package initialisation under TCG, twice (PID 1 and the agent).
var (
	stepRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(regexp.QuoteMeta(stepMarker) + `(\d+) `) })
	unloadedRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^\[\s*(\d+\.\d+)\] ` + regexp.QuoteMeta(unloadedMarker) + `(\w+)`)
	})
)

// ParseStep returns the step number of a console line that marks a
// step's start.
func ParseStep(line string) (int, bool) {
	m := stepRE().FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// ParseUnloaded returns the kernel log time and the module of a console
// line that says a module was unloaded.
func ParseUnloaded(line string) (at float64, module string, ok bool) {
	m := unloadedRE().FindStringSubmatch(strings.TrimRight(line, "\r"))
	if m == nil {
		return 0, "", false
	}
	t, err := strconv.ParseFloat(m[1], 64)
	return t, m[2], err == nil
}
