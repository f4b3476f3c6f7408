package agent

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/protocol"
)

// Warm runs, once and with throwaway keys, what every copy restored from a
// snapshot runs first: decoding a key message, an SSH handshake with the
// host's client code and one step. The agent of a snapshot boot calls it
// before it waits for its keys, so the one-time work Go does lazily on
// first use (json's per-type decoders, ssh's algorithm tables, ed25519's
// precomputed points, goroutine stacks grown, the heap sized) is done once
// and saved in the snapshot, instead of done again in each restored run.
func (a *Agent) Warm() error {
	keys, err := agentclient.NewKeys()
	if err != nil {
		return err
	}
	msg := protocol.EncodeKeyMessage(protocol.KeyMessage{HostKeyPEM: string(keys.HostPEM), AuthorizedKey: string(keys.AuthorizedKey), Seed: make([]byte, protocol.SeedBytes)})
	if _, err := protocol.DecodeKeyMessage(msg); err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	defer l.Close()
	go a.ServeKeys(l, keys.HostPEM, keys.AuthorizedKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := agentclient.Dial(ctx, l.Addr().String(), keys)
	if err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	defer c.Close()
	if _, err := c.Do(ctx, protocol.Request{Action: protocol.ActionPing}); err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	return nil
}
