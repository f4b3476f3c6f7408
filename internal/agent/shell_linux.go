package agent

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
)

// Shell is the guest's interactive shell for lab shell: u-root's gosh.
const Shell = "/bin/sh"

// ptyRequest is RFC 4254's pty-req payload.
type ptyRequest struct {
	Term          string
	Cols, Rows    uint32
	Width, Height uint32
	Modes         string
}

// windowChange is RFC 4254's window-change payload.
type windowChange struct {
	Cols, Rows    uint32
	Width, Height uint32
}

// shellSession is one interactive session: a pty asked for (pty-req), then
// a shell. It keeps the session's state between its requests.
type shellSession struct {
	a    *Agent
	ch   ssh.Channel
	term string
	size *pty.Winsize
	ptm  *os.File
}

// request handles one of a session's pty-req, window-change or shell
// requests; ok false means it is none of them.
func (s *shellSession) request(req *ssh.Request) (handled bool) {
	switch req.Type {
	case "pty-req":
		var p ptyRequest
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			return true
		}
		s.term = p.Term
		s.size = &pty.Winsize{Cols: uint16(p.Cols), Rows: uint16(p.Rows)}
		req.Reply(true, nil)
	case "window-change":
		var w windowChange
		if ssh.Unmarshal(req.Payload, &w) == nil && s.ptm != nil {
			pty.Setsize(s.ptm, &pty.Winsize{Cols: uint16(w.Cols), Rows: uint16(w.Rows)})
		}
	case "shell":
		if s.size == nil || s.ptm != nil {
			// Only a terminal session: steps are exec requests.
			req.Reply(false, nil)
			return true
		}
		if err := s.start(); err != nil {
			fmt.Fprintf(s.ch.Stderr(), "lab-agent: %v\r\n", err)
			req.Reply(false, nil)
			return true
		}
		req.Reply(true, nil)
	default:
		return false
	}
	return true
}

// start runs the shell on a new pty and copies between it and the channel.
// The shell's exit status comes from the agent's reaper, which reaps every
// child (so os/exec's Wait would lose the race): the pty's EOF says the
// shell ended, the reaper says how.
func (s *shellSession) start() error {
	cmd := exec.Command(Shell)
	cmd.Env = append(os.Environ(), "TERM="+s.term, "HOME=/tmp")
	cmd.Dir = "/"
	ptm, err := pty.StartWithSize(cmd, s.size)
	if err != nil {
		return fmt.Errorf("start %s on a pty: %w", Shell, err)
	}
	s.ptm = ptm
	pid := cmd.Process.Pid
	go io.Copy(ptm, s.ch)
	go func() {
		io.Copy(s.ch, ptm) // ends with EIO once the shell and its children are gone
		ptm.Close()
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, uint32(s.a.exitCode(pid, 2*time.Second)))
		s.ch.SendRequest("exit-status", false, status)
		s.ch.Close()
	}()
	return nil
}

// exitCode waits up to limit for the reaper to have pid's exit status.
func (a *Agent) exitCode(pid int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		st := a.children.state(pid)
		if st.Exited {
			if n, ok := strings.CutPrefix(st.ExitStatus, "exit "); ok {
				code, _ := strconv.Atoi(n)
				return code
			}
			return 128 + int(syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return 255
		}
		time.Sleep(50 * time.Millisecond)
	}
}
