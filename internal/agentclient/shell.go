package agentclient

import (
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
)

// WinSize is a terminal's size in characters.
type WinSize struct{ Cols, Rows int }

// Shell runs an interactive shell in the guest on a pseudo-terminal of the
// given type and size: stdin goes to it, its output (stdout and stderr, as
// a terminal mixes them) to stdout, and each size sent on resize becomes a
// window-change. It returns the shell's exit status when it ends.
func (c *Client) Shell(stdin io.Reader, stdout io.Writer, term string, size WinSize, resize <-chan WinSize) (int, error) {
	sess, err := c.conn.NewSession()
	if err != nil {
		return -1, fmt.Errorf("%w: open shell channel: %v", ErrLost, err)
	}
	defer sess.Close()
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := sess.RequestPty(term, size.Rows, size.Cols, modes); err != nil {
		return -1, fmt.Errorf("guest refused a pty: %w", err)
	}
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, stdout, stdout
	if err := sess.Shell(); err != nil {
		return -1, fmt.Errorf("guest refused a shell: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-resize:
				sess.WindowChange(s.Rows, s.Cols)
			case <-done:
				return
			}
		}
	}()
	err = sess.Wait()
	if err == nil {
		return 0, nil
	}
	if ee, ok := err.(*ssh.ExitError); ok {
		return ee.ExitStatus(), nil
	}
	return -1, fmt.Errorf("%w: shell: %v", ErrLost, err)
}
