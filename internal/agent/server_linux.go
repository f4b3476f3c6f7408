package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/kernel-lab/lab/internal/protocol"
)

// Serve accepts SSH connections authenticated by the run's key only (from
// the initramfs) and runs one step per exec request. It returns only when
// the listener fails.
func (a *Agent) Serve(l net.Listener) error {
	hostPEM, err := os.ReadFile(protocol.HostKeyFile)
	if err != nil {
		return err
	}
	authText, err := os.ReadFile(protocol.AuthorizedKeyFile)
	if err != nil {
		return err
	}
	return a.ServeKeys(l, hostPEM, authText)
}

// ServeKeys is Serve with the keys given.
func (a *Agent) ServeKeys(l net.Listener, hostPEM, authorizedKey []byte) error {
	config, err := serverConfig(hostPEM, authorizedKey)
	if err != nil {
		return err
	}
	for {
		conn, err := l.Accept()
		if err != nil {
			return err
		}
		go a.serveConn(conn, config)
	}
}

// serverConfig accepts exactly the public key the host put into the
// initramfs for this run; there are no passwords.
func serverConfig(hostPEM, authText []byte) (*ssh.ServerConfig, error) {
	hostKey, err := ssh.ParsePrivateKey(hostPEM)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	authorized, _, _, _, err := ssh.ParseAuthorizedKey(authText)
	if err != nil {
		return nil, fmt.Errorf("authorized key: %w", err)
	}
	want := authorized.Marshal()
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), want) {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	config.AddHostKey(hostKey)
	return config, nil
}

func (a *Agent) serveConn(conn net.Conn, config *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go a.serveSession(ch, chReqs)
	}
}

// serveSession answers the exec request of one session: its command is a
// JSON protocol.Request, the reply a JSON protocol.Reply on stdout. A
// session that asks for a pty and a shell is lab shell's (shell_linux.go).
func (a *Agent) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	shell := &shellSession{a: a, ch: ch}
	defer func() {
		if shell.ptm == nil {
			ch.Close()
		}
	}()
	for req := range reqs {
		if shell.request(req) {
			continue
		}
		if req.Type != "exec" || shell.ptm != nil {
			req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		var step protocol.Request
		var rep protocol.Reply
		if err := json.Unmarshal([]byte(payload.Command), &step); err != nil {
			rep = failure("bad request: %v", err)
		} else {
			rep = a.Handle(step)
		}
		ch.Write(encodeReply(rep))
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, 0)
		ch.SendRequest("exit-status", false, status)
		return
	}
}
