// Package protocol is the one definition of how the host and the guest
// agent talk: the typed actions, the request and reply of one step, the
// console markers the agent writes and the host reads (both written and
// parsed here), the paths inside the initramfs and the rules for names and
// paths an experiment may use. The agent (internal/agent), the host client
// (internal/agentclient), the experiment loader and the runner all use it, and
// none of them imports another for these.
//
// These are wire types: result.json has its own (internal/results), so a
// change here cannot silently change result schema 1.
//
// The protocol is one SSH "exec" request per step: the command string is a
// JSON-encoded Request, the agent writes one JSON-encoded Reply to the
// channel's stdout and exits with status 0. Keeping a step to one channel
// means a step that never answers costs one channel, never the connection.
package protocol

// Action is what one step asks the agent to do.
type Action string

// Actions the agent understands.
const (
	ActionLoad    Action = "load"    // finit_module of a lab module
	ActionUnload  Action = "unload"  // delete_module(O_NONBLOCK)
	ActionOpen    Action = "open"    // start a holder process that opens Path
	ActionRead    Action = "read"    // holder reads up to Count bytes from its fd
	ActionSeek    Action = "seek"    // holder lseeks its fd to Offset (SEEK_SET)
	ActionClose   Action = "close"   // holder closes its fd
	ActionWrite   Action = "write"   // holder writes Data to its fd
	ActionIoctl   Action = "ioctl"   // holder calls ioctl(fd, Cmd, Arg or a buffer)
	ActionMmap    Action = "mmap"    // holder maps its file and touches a byte range
	ActionExec    Action = "exec"    // run one of u-root's commands, capture stdout and exit
	ActionObserve Action = "observe" // state of a holder (or PID) from /proc
	ActionSysctl  Action = "sysctl"  // write a value under /proc/sys
	ActionExists  Action = "exists"  // stat a path
	ActionAwait   Action = "await"   // wait for an asynchronous step started earlier
	ActionPing    Action = "ping"    // liveness and guest facts
	ActionSymbols Action = "symbols" // name kernel addresses from /proc/kallsyms
	ActionEnd     Action = "end"     // write the end-of-run line into the kernel log
	// ActionKernelPlace answers where this boot put the core kernel
	// (TextBase) and the loaded modules; ActionCoreSymbols the core
	// kernel's whole kallsyms, which the host keeps per kernel build.
	ActionKernelPlace Action = "kernel-place"
	ActionCoreSymbols Action = "core-symbols"
)

// Request is one step sent to the agent.
type Request struct {
	// Step is the experiment step's 1-based index; the agent writes it to
	// the kernel log so reports can be tied to the step that caused them.
	Step   int    `json:"step,omitempty"`
	Action Action `json:"action"`
	// Module is a module name for load and unload.
	Module string `json:"module,omitempty"`
	// Params are module parameters for load ("delay_ms=3000").
	Params string `json:"params,omitempty"`
	// Holder names the holder process for open, read, seek, close, observe.
	Holder string `json:"holder,omitempty"`
	// Path is the file a holder opens, or the path exists checks.
	Path string `json:"path,omitempty"`
	// Count is how many bytes read asks for (default 4096).
	Count int `json:"count,omitempty"`
	// Offset is the target of seek, or the file offset mmap maps from.
	Offset int64 `json:"offset,omitempty"`
	// Mode is how open opens Path: "r" (the default), "w" or "rw".
	Mode string `json:"mode,omitempty"`
	// Data is what write writes, or what mmap stores at At before it
	// reads back (raw bytes).
	Data string `json:"data,omitempty"`
	// Cmd is the ioctl request number. With Buffer false the ioctl gets
	// Arg as its integer argument; with Buffer true it gets a pointer to
	// Size bytes that start as In (the rest zero), and the reply carries
	// the buffer afterwards, hex-encoded, in Data.
	Cmd    uint64 `json:"cmd,omitempty"`
	Arg    uint64 `json:"arg,omitempty"`
	Buffer bool   `json:"buffer,omitempty"`
	In     []byte `json:"in,omitempty"`
	// Size is the ioctl buffer's size, or how many bytes mmap maps.
	Size int `json:"size,omitempty"`
	// At is where in the mapping mmap touches; Count (default 1) how many
	// bytes it reads back from there.
	At int64 `json:"at,omitempty"`
	// Command is exec's command line: Command[0] is one of u-root's
	// commands in the guest (ExecDir), the rest its arguments.
	Command []string `json:"command,omitempty"`
	// Key and Value are the sysctl to write ("kernel/hung_task_timeout_secs").
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// TimeoutMS bounds how long the agent waits for the step's answer
	// before it replies with NoAnswer; 0 means the agent's default.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// Async starts the step and returns at once with a Ticket; the result is
	// collected later with an await request naming the ticket.
	Async bool `json:"async,omitempty"`
	// Ticket names an asynchronous step for await.
	Ticket string `json:"ticket,omitempty"`
	// Addresses are the kernel addresses symbols asks about.
	Addresses []uint64 `json:"addresses,omitempty"`
}

// Reply is the agent's answer to one Request.
type Reply struct {
	// OK is true when the operation itself succeeded.
	OK bool `json:"ok"`
	// Errno is the symbolic errno of a failed system call ("EBUSY").
	Errno string `json:"errno,omitempty"`
	// Error says in words what failed; set whenever OK is false.
	Error string `json:"error,omitempty"`
	// Data is what a read or mmap returned, an exec's stdout, or an ioctl
	// buffer after the call (hex).
	Data string `json:"data,omitempty"`
	// Bytes is the byte count of a read or write, the offset of a seek or
	// an ioctl's return value.
	Bytes int64 `json:"bytes,omitempty"`
	// Exit is an exec's exit status (-1: killed by a signal).
	Exit *int `json:"exit,omitempty"`
	// NoAnswer is set when the process doing the step did not answer
	// within the timeout or died without answering.
	NoAnswer bool `json:"no_answer,omitempty"`
	// Process is the state of the process that did the step, when it is
	// a separate process (holders, async unloads) and it did not answer,
	// and always for observe.
	Process *ProcessState `json:"process,omitempty"`
	// Ticket names a step started with Async.
	Ticket string `json:"ticket,omitempty"`
	// Exists answers an exists request.
	Exists bool `json:"exists,omitempty"`
	// Facts answers ping.
	Facts *Facts `json:"facts,omitempty"`
	// Layout is where the module of a load step lies, or where the module
	// of an unload step lay just before the unload: what turns a fault
	// address into a symbol of the module, freed or not.
	Layout *ModuleLayout `json:"layout,omitempty"`
	// Symbols answers symbols: the kernel symbol holding each address that
	// lies in the kernel image or in a loaded module, from the running
	// kernel's /proc/kallsyms (so KASLR's offset is already applied).
	Symbols []KernelSymbol `json:"symbols,omitempty"`
	// TextBase and Loaded answer kernel-place: the address of the core
	// kernel's kallsyms.TextBase and the modules loaded now.
	TextBase uint64         `json:"text_base,omitempty"`
	Loaded   []ModuleExtent `json:"loaded,omitempty"`
	// Kallsyms answers core-symbols: the core kernel's /proc/kallsyms lines.
	Kallsyms string `json:"kallsyms,omitempty"`
	// MS is how long the step took inside the guest.
	MS int64 `json:"ms"`
}

// KernelSymbol is a symbol of the running kernel that holds an address.
type KernelSymbol struct {
	Address uint64 `json:"address"` // the address asked about
	Start   uint64 `json:"start"`   // where the symbol starts
	Size    uint64 `json:"size"`    // up to the next symbol (or the module's end)
	Name    string `json:"name"`
	// Module is the loaded module the symbol belongs to; "" for the kernel.
	Module string `json:"module,omitempty"`
}

// ModuleExtent is where a loaded module lies, from /proc/modules.
type ModuleExtent struct {
	Name string `json:"name"`
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

// ProcessState is what /proc says about one process.
type ProcessState struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// State is the State: line of /proc/PID/status, e.g. "D (disk sleep)"
	// or "X (dead)"; "gone" when the process no longer exists.
	State string `json:"state"`
	Wchan string `json:"wchan"`
	// Stack is /proc/PID/stack, one frame a line.
	Stack []string `json:"stack"`
	// Exited is set once the process was reaped, with its wait status.
	Exited     bool   `json:"exited,omitempty"`
	ExitStatus string `json:"exit_status,omitempty"`
}

// StateLetter returns the one-letter state ("D", "X", "gone").
func (p *ProcessState) StateLetter() string {
	if p == nil || p.State == "" {
		return ""
	}
	if p.State == "gone" {
		return "gone"
	}
	return p.State[:1]
}

// Facts are properties of the running guest.
type Facts struct {
	Release string `json:"release"`
	Tainted string `json:"tainted"`
	Uptime  string `json:"uptime"`
}

// ModuleLayout is a loaded module's place in kernel memory, from
// /proc/modules and /sys/module/NAME/sections.
type ModuleLayout struct {
	Name string `json:"name"`
	// Event is "load" or "unload": when the layout was taken.
	Event string `json:"event"`
	// Base and Size are /proc/modules' address and size of the module.
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
	// Sections maps section names (".text", ".rodata", ".data" …) to
	// their addresses.
	Sections map[string]uint64 `json:"sections"`
	// Uptime is the guest's /proc/uptime when the layout was taken, in
	// seconds. It is not the kernel log's clock (they drift under TCG):
	// GoneAt is what orders an unload against the kernel's reports.
	Uptime float64 `json:"uptime"`
	// GoneAt is, for an unload that succeeded, the kernel log's timestamp
	// of the agent's "unloaded" line, written when delete_module returned:
	// the module's memory is freed from then on, so a report printed later
	// touching it is a use after unload, and one printed before (an exit
	// function's WARNING) is not. 0 while the module is still there.
	GoneAt float64 `json:"gone_at,omitempty"`
}
