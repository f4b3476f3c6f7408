package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kernel-lab/lab/internal/protocol"
)

// maxStdout bounds what an exec step keeps of its command's output: a step's
// reply is one JSON line, and an experiment checks a pattern, not a dump.
const maxStdout = 64 << 10

// execMain runs one exec step in a child of the agent ("lab-agent exec
// NAME"): the command line comes as one JSON line on in, the reply goes to
// out. Only commands in protocol.ExecDir run.
func execMain(in io.Reader, out io.Writer) {
	start := time.Now()
	rep := runCommand(in, protocol.ExecDir)
	rep.MS = time.Since(start).Milliseconds()
	json.NewEncoder(out).Encode(rep)
}

func runCommand(in io.Reader, dir string) protocol.Reply {
	line, err := bufio.NewReader(in).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return failure("exec: no command line: %v", err)
	}
	var argv []string
	if err := json.Unmarshal(line, &argv); err != nil {
		return failure("exec: bad command line: %v", err)
	}
	if err := protocol.CheckCommand(argv); err != nil {
		return failure("%v", err)
	}
	bin := filepath.Join(dir, argv[0])
	cmd := exec.Command(bin, argv[1:]...)
	// u-root's commands are one busybox binary that dispatches on argv[0].
	cmd.Args[0] = argv[0]
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &limited{w: &stdout, n: maxStdout}
	cmd.Stderr = &limited{w: &stderr, n: 4096}
	err = cmd.Run()
	var rep protocol.Reply
	rep.Data = stdout.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		rep.OK = true
		code := 0
		rep.Exit = &code
	case errors.As(err, &ee):
		code := ee.ExitCode()
		rep.Exit = &code
		rep.Error = fmt.Sprintf("%s: %v: %s", argv[0], err, strings.TrimSpace(stderr.String()))
	default:
		fillErr(&rep, err)
		rep.Error = fmt.Sprintf("exec %s: %v", argv[0], err)
	}
	return rep
}

// limited keeps the first n bytes written and drops the rest, without
// failing the writer (a failing stdout would kill the command with EPIPE).
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
