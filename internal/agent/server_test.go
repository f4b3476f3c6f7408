package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/protocol"
)

// TestSSHKeys runs the agent's SSH server on loopback: the run's key gets
// answers, any other client key is refused, and a server with another host
// key is refused by the client (the host pins the agent's key).
func TestSSHKeys(t *testing.T) {
	keys, err := agentclient.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := New(slog.New(slog.DiscardHandler))
	go a.ServeKeys(l, keys.HostPEM, keys.AuthorizedKey)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := agentclient.Dial(ctx, l.Addr().String(), keys)
	if err != nil {
		t.Fatalf("Dial with the run's keys: %v", err)
	}
	rep, err := c.Do(ctx, protocol.Request{Action: protocol.ActionPing})
	if err != nil || !rep.OK || rep.Facts == nil {
		t.Errorf("ping = %+v, %v; want ok with facts", rep, err)
	}
	rep, _ = c.Do(ctx, protocol.Request{Action: protocol.ActionOpen, Holder: "A", Path: "/etc/shadow"})
	if rep.OK || rep.Error == "" {
		t.Errorf("open /etc/shadow = %+v; want refused", rep)
	}
	c.Close()

	other, _ := agentclient.NewKeys()
	wrongClient := *keys
	wrongClient.Client = other.Client
	short, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if _, err := agentclient.Dial(short, l.Addr().String(), &wrongClient); err == nil {
		t.Errorf("Dial with a foreign client key succeeded; want refused")
	}
	wrongHost := *keys
	wrongHost.Host = other.Host
	short3, cancel3 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel3()
	if _, err := agentclient.Dial(short3, l.Addr().String(), &wrongHost); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial expecting another host key = %v; want refused until the deadline", err)
	}
}

// Warm does a whole handshake and one step with throwaway keys; a snapshot
// boot that cannot is reported (the agent's fatal line), not saved.
func TestWarm(t *testing.T) {
	if err := New(slog.New(slog.DiscardHandler)).Warm(); err != nil {
		t.Fatal(err)
	}
}
