package experiment

// The arguments of each step action, as the file spells them.

import (
	"encoding/hex"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kernel-lab/lab/internal/protocol"
	"github.com/kernel-lab/lab/internal/yamlx"
)

// asyncActions are the steps done by a process of their own (a holder, an
// unloader, a command), which can be started now and awaited later.
var asyncActions = map[protocol.Action]bool{
	"read": true, "seek": true, "close": true, "unload": true,
	"write": true, "ioctl": true, "mmap": true, "exec": true,
}

// stepArgs takes the action's value: a scalar main argument, or a mapping
// with the main argument under its own name and further fields.
func (p *parser) stepArgs(st *Step, action, arg string, v *yaml.Node) {
	before := p.d.Count()
	if action == "exec" {
		p.command(st, v)
		return
	}
	if action == "mmap" {
		st.Size = 4096 // one page unless the file says otherwise
	}
	if v.Kind == yaml.ScalarNode {
		p.setArg(st, action, arg, v)
	} else {
		p.argFields(st, action, arg, v)
	}
	if p.d.Count() > before {
		return // a missing field would only repeat what was said
	}
	if st.Target == "" {
		p.fail(v, "%s: missing field %q", action, arg)
	}
	if action == "open" && st.Path == "" {
		p.fail(v, "open: missing field \"path\"")
	}
	if action == "sysctl" && st.Value == "" {
		p.fail(v, "sysctl: missing field \"value\"")
	}
	if action == "ioctl" {
		p.checkIoctl(st, v)
	}
	if action == "mmap" {
		p.checkMmap(st, v)
	}
}

// command takes exec's command line: a string split at spaces, or a list
// for arguments that hold spaces.
func (p *parser) command(st *Step, v *yaml.Node) {
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			st.Command = append(st.Command, p.str(c, "exec argument"))
		}
	} else {
		st.Command = strings.Fields(p.str(v, "exec"))
	}
	if err := protocol.CheckCommand(st.Command); err != nil {
		p.fail(v, "%v", err)
		return
	}
	st.Target = strings.Join(st.Command, " ")
}

func (p *parser) checkIoctl(st *Step, v *yaml.Node) {
	if st.Cmd == 0 {
		p.fail(v, "ioctl: missing field \"cmd\" (the request number, e.g. 0x80046302)")
	}
	if !st.Buffer {
		return
	}
	if st.Size == 0 {
		st.Size = len(st.In)
	}
	switch {
	case st.Arg != 0:
		p.fail(v, "ioctl: give arg (an integer argument) or in/size (a buffer), not both")
	case st.Size <= 0 || st.Size > 65536:
		p.fail(v, "ioctl: buffer size %d: want 1 to 65536 bytes", st.Size)
	case len(st.In) > st.Size || len(st.In) > protocol.MaxLine:
		p.fail(v, "ioctl: in has %d bytes; at most the size, %d, and %d", len(st.In), st.Size, protocol.MaxLine)
	}
}

func (p *parser) checkMmap(st *Step, v *yaml.Node) {
	count := int64(max(st.Count, 1))
	switch {
	case st.Size <= 0 || st.Size > 1<<20:
		p.fail(v, "mmap: size %d: want 1 to 1048576 bytes", st.Size)
	case st.At < 0 || st.At+count > int64(st.Size) || st.At+int64(len(st.Data)) > int64(st.Size):
		p.fail(v, "mmap: at %d with %d bytes to read and %d to write does not fit in the %d bytes mapped", st.At, count, len(st.Data), st.Size)
	case st.Offset < 0:
		p.fail(v, "mmap: offset %d must not be negative", st.Offset)
	}
}

// data is a step's string of bytes, bounded to what one holder line carries.
func (p *parser) data(n *yaml.Node, what string) string {
	s := p.str(n, what)
	if len(s) > protocol.MaxLine {
		p.fail(n, "%s: %d bytes; at most %d", what, len(s), protocol.MaxLine)
	}
	return s
}

func (p *parser) unsigned(n *yaml.Node, what string) uint64 {
	var u uint64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&u) != nil {
		p.fail(n, "%s must be a non-negative integer (decimal or 0x hex), not %s", what, kind(n))
	}
	return u
}

func (p *parser) argFields(st *Step, action, arg string, v *yaml.Node) {
	p.fields(v, action, func(key string, k, fv *yaml.Node) bool {
		switch {
		case key == arg:
			p.setArg(st, action, arg, fv)
		case key == "path" && action == "open":
			st.Path = p.str(fv, "path")
			p.checkPath(fv, st.Path)
		case key == "params" && action == "load":
			st.Params = p.str(fv, "params")
		case key == "count" && (action == "read" || action == "mmap"):
			st.Count = int(p.integer(fv, "count"))
		case key == "offset" && (action == "seek" || action == "mmap"):
			st.Offset = p.integer(fv, "offset")
		case key == "mode" && action == "open":
			st.Mode = p.str(fv, "mode")
			if st.Mode != "" && !slices.Contains(protocol.OpenModes, st.Mode) {
				p.fail(fv, "open: mode %s: want r, w or rw", yamlx.Quote(st.Mode))
			}
		case key == "data" && action == "write":
			st.Data = p.data(fv, "data")
		case key == "write" && action == "mmap":
			st.Data = p.data(fv, "write")
		case key == "at" && action == "mmap":
			st.At = p.integer(fv, "at")
		case key == "size" && action == "mmap":
			st.Size = int(p.integer(fv, "size"))
		case key == "cmd" && action == "ioctl":
			st.Cmd = p.unsigned(fv, "cmd")
			if st.Cmd > 0xffffffff {
				p.fail(fv, "ioctl: cmd %#x does not fit the 32 bits of a request number", st.Cmd)
			}
		case key == "arg" && action == "ioctl":
			st.Arg = p.unsigned(fv, "arg")
		case key == "in" && action == "ioctl":
			st.Buffer = true
			h := p.str(fv, "in")
			b, err := hex.DecodeString(h)
			if err != nil {
				p.fail(fv, "ioctl: in %s must be hex bytes like 01000000: %v", yamlx.Quote(h), err)
			}
			st.In = b
		case key == "size" && action == "ioctl":
			st.Buffer = true
			st.Size = int(p.integer(fv, "size"))
		case key == "value" && action == "sysctl":
			st.Value = p.str(fv, "value")
		default:
			return false
		}
		return true
	})
}

func (p *parser) setArg(st *Step, action, arg string, v *yaml.Node) {
	switch arg {
	case "duration":
		st.Sleep = p.duration(v, action)
		st.Target = v.Value
	case "path":
		st.Target = p.str(v, action)
		p.checkPath(v, st.Target)
	case "key":
		st.Target = p.str(v, action)
		if _, err := protocol.SysctlPath(st.Target); st.Target != "" && err != nil {
			p.fail(v, "%v", err)
		}
	default:
		st.Target = p.name(v, action+" "+arg)
	}
}
