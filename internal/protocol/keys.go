package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/kernel-lab/lab/internal/arch"
)

// A restored guest gets its run's keys through a host-only channel, never
// from the snapshot (see docs/design.md, "Snapshots"): the agent of a
// snapshot boot finds no key files, says so with awaitingKeysMarker and
// blocks reading KeyChannelDevice(), a serial port of its own (the second
// on amd64, a PCI one on arm64), whose host end is a unix socket in the
// VM's private directory.
const (
	// awaitingKeysMarker: the agent booted without keys and listens; the
	// host saves the snapshot after it.
	awaitingKeysMarker = "lab-agent: awaiting keys"
	// SeedBytes is how much fresh entropy the host sends with the keys:
	// every restored copy starts from the same random state, so the agent
	// reseeds the kernel's generator before it makes any SSH secret.
	SeedBytes = 64
)

// KeyChannelDevice is the guest end of the key channel on the
// architecture the agent was built for.
func KeyChannelDevice() string {
	if a, ok := arch.ByGOARCH(runtime.GOARCH); ok {
		return a.KeyChannelDevice
	}
	return arch.AMD64.KeyChannelDevice
}

// KeyMessage is the one line the host writes on the key channel.
type KeyMessage struct {
	HostKeyPEM    string `json:"host_key_pem"`
	AuthorizedKey string `json:"authorized_key"`
	Seed          []byte `json:"seed"`
}

// AwaitingKeysLine is the line the agent writes when it waits for keys.
func AwaitingKeysLine() string { return awaitingKeysMarker }

// IsAwaitingKeys tells whether a console line is the agent's awaiting-keys line.
func IsAwaitingKeys(line string) bool { return strings.Contains(line, awaitingKeysMarker) }

// EncodeKeyMessage is m as one newline-terminated line.
func EncodeKeyMessage(m KeyMessage) []byte {
	b, _ := json.Marshal(m)
	return append(b, '\n')
}

// DecodeKeyMessage parses and checks one key channel line.
func DecodeKeyMessage(line []byte) (KeyMessage, error) {
	var m KeyMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("key channel: %w", err)
	}
	if m.HostKeyPEM == "" || m.AuthorizedKey == "" {
		return m, errors.New("key channel: a key is missing")
	}
	if len(m.Seed) < SeedBytes {
		return m, fmt.Errorf("key channel: seed of %d bytes, want %d", len(m.Seed), SeedBytes)
	}
	return m, nil
}
