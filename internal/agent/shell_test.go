package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
)

// TestShellSession runs lab shell's session against the agent's SSH server
// on loopback, with the host's /bin/sh standing for gosh: the shell gets a
// real pty of the asked size (stty reads it back), a window-change resizes
// it, its output comes back and its exit status too.
func TestShellSession(t *testing.T) {
	keys, err := agentclient.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go New(slog.New(slog.DiscardHandler)).ServeKeys(l, keys.HostPEM, keys.AuthorizedKey)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := agentclient.Dial(ctx, l.Addr().String(), keys)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	inR, inW := io.Pipe()
	var out syncBuffer
	resize := make(chan agentclient.WinSize, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := c.Shell(inR, &out, "xterm", agentclient.WinSize{Cols: 91, Rows: 33}, resize)
		done <- result{code, err}
	}()
	waitOut := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if strings.Contains(out.String(), want) {
				return
			}
		}
		t.Fatalf("no %q in the shell's output:\n%s", want, out.String())
	}
	io.WriteString(inW, "echo hi-$((1+1)); stty size; tty\n")
	waitOut("hi-2")
	waitOut("33 91")
	waitOut("/dev/pts/")
	resize <- agentclient.WinSize{Cols: 120, Rows: 40}
	time.Sleep(300 * time.Millisecond)
	io.WriteString(inW, "stty size; exit 7\n")
	select {
	case r := <-done:
		if r.err != nil || r.code != 7 {
			t.Errorf("Shell = %d, %v; want exit 7", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the shell did not end after exit:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "40 120") {
		t.Errorf("no resized window (40 120) in:\n%s", out.String())
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
