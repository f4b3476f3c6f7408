package protocol

import (
	"bytes"
	"testing"
)

func TestKeyMessageRoundTrip(t *testing.T) {
	m := KeyMessage{HostKeyPEM: "-----BEGIN X-----\nab\n-----END X-----\n", AuthorizedKey: "ssh-ed25519 AAA\n", Seed: bytes.Repeat([]byte{7}, SeedBytes)}
	line := EncodeKeyMessage(m)
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("key message is not one line: %q", line)
	}
	got, err := DecodeKeyMessage(line)
	if err != nil {
		t.Fatal(err)
	}
	if got.HostKeyPEM != m.HostKeyPEM || got.AuthorizedKey != m.AuthorizedKey || !bytes.Equal(got.Seed, m.Seed) {
		t.Fatalf("round trip changed the message: %+v", got)
	}
	m.Seed = m.Seed[:8]
	if _, err := DecodeKeyMessage(EncodeKeyMessage(m)); err == nil {
		t.Fatal("a short seed was accepted")
	}
	m.Seed, m.HostKeyPEM = bytes.Repeat([]byte{7}, SeedBytes), ""
	if _, err := DecodeKeyMessage(EncodeKeyMessage(m)); err == nil {
		t.Fatal("a message without a host key was accepted")
	}
}
