// Package agentclient is the host's client of the guest agent, the host
// side of the agent protocol (internal/protocol):
// fresh SSH keys per run, and a client that sends one step per channel.
package agentclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kernel-lab/lab/internal/protocol"
)

// Keys are the SSH keys of one run: the host's client key and the agent's
// host key, both made fresh so that nothing but this run's agent is trusted
// and nothing but this run's host is accepted.
type Keys struct {
	Client ssh.Signer
	Host   ssh.Signer
	// HostPEM and AuthorizedKey are what the initramfs carries for the agent.
	HostPEM       []byte
	AuthorizedKey []byte
}

// NewKeys makes a fresh pair of ed25519 keys.
func NewKeys() (*Keys, error) {
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	client, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		return nil, err
	}
	host, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "lab agent host key")
	if err != nil {
		return nil, err
	}
	return &Keys{
		Client:        client,
		Host:          host,
		HostPEM:       pem.EncodeToMemory(block),
		AuthorizedKey: ssh.MarshalAuthorizedKey(client.PublicKey()),
	}, nil
}

// Client is a connection to one guest agent. One SSH connection serves the
// whole run; each step is a channel of its own.
type Client struct {
	conn *ssh.Client
}

// Dial connects to the agent at addr, retrying until ctx ends. Each attempt
// has a deadline on the whole handshake: through QEMU's port forward the TCP
// connect succeeds at once even when nothing listens in the guest, and the
// handshake then hangs.
func Dial(ctx context.Context, addr string, keys *Keys) (*Client, error) {
	config := &ssh.ClientConfig{
		User:            "lab",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(keys.Client)},
		HostKeyCallback: ssh.FixedHostKey(keys.Host.PublicKey()),
		Timeout:         5 * time.Second,
	}
	var last error
	for {
		c, err := dialOnce(ctx, addr, config, 10*time.Second)
		if err == nil {
			return &Client{conn: c}, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to agent at %s: %w (last attempt: %v)", addr, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func dialOnce(ctx context.Context, addr string, config *ssh.ClientConfig, limit time.Duration) (*ssh.Client, error) {
	d := net.Dialer{Timeout: config.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(limit)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// ErrLost says the SSH connection to the agent broke or a step got no reply:
// the guest died, hung or the agent crashed.
var ErrLost = errors.New("lost the agent")

// Do runs one step. The context bounds the whole step; the agent bounds the
// step itself by req.TimeoutMS, so a context deadline longer than that is
// only hit when the guest stops answering altogether.
func (c *Client) Do(ctx context.Context, req protocol.Request) (protocol.Reply, error) {
	type result struct {
		rep protocol.Reply
		err error
	}
	done := make(chan result, 1)
	sessions := make(chan *ssh.Session, 1)
	go func() {
		sess, err := c.conn.NewSession()
		sessions <- sess
		if err != nil {
			done <- result{err: fmt.Errorf("%w: open channel: %v", ErrLost, err)}
			return
		}
		cmd, _ := json.Marshal(req)
		out, err := sess.Output(string(cmd))
		if err != nil && len(out) == 0 {
			done <- result{err: fmt.Errorf("%w: %s step: %v", ErrLost, req.Action, err)}
			return
		}
		var rep protocol.Reply
		if err := json.Unmarshal(out, &rep); err != nil {
			done <- result{err: fmt.Errorf("%s step: bad reply %q: %v", req.Action, strings.TrimSpace(string(out)), err)}
			return
		}
		done <- result{rep: rep}
	}()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-ctx.Done():
		select {
		case sess := <-sessions:
			if sess != nil {
				sess.Close()
			}
		default:
		}
		return protocol.Reply{}, fmt.Errorf("%w: no reply to %s step: %v", ErrLost, req.Action, ctx.Err())
	}
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }
