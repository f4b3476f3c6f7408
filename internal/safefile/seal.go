package safefile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// A sealed cache entry is a file with its sha256 beside it (PATH.sha256):
// a reader trusts only a file whose seal matches, so a truncated or damaged
// entry is made again instead of used.
//
// Hashing costs: a snapshot is about 110 MB and a vmlinux 65 MB, and every
// lab command checked each it used (0.1-0.2 s apiece). So a check that
// hashed the file notes in the seal, on a second line, what the file was
// then (size, modification and change times, device and inode), as git's
// index does; a later check trusts a file that still matches that note
// without hashing. Anything that writes the file, even through another
// name, moves its change time, which no one can set back.

// SealOf is the seal file of path.
func SealOf(path string) string { return path + ".sha256" }

// WriteSealed writes data to path atomically, then its seal.
func WriteSealed(path string, data []byte) error {
	sum := sha256.Sum256(data)
	if err := WriteAtomic(path, data); err != nil {
		return err
	}
	return WriteAtomic(SealOf(path), []byte(hex.EncodeToString(sum[:])+"\n"))
}

// Seal writes the seal of the file at path (put in place whole first).
func Seal(path string) error {
	sum, err := SHA256(path)
	if err != nil {
		return err
	}
	return WriteAtomic(SealOf(path), []byte(sum+"\n"))
}

// Sealed says whether path exists and matches its seal: by the seal's note
// when the file is as it was when last hashed, else by hashing it (and
// then noting it, where the cache is writable).
func Sealed(path string) bool {
	want, note, err := readSeal(path)
	if err != nil {
		return false
	}
	now, ok := fileState(path)
	if ok && note != "" && note == now {
		return true
	}
	got, err := SHA256(path)
	if err != nil || got != want {
		return false
	}
	if ok {
		// Best effort: a read-only cache is checked by hashing each time.
		_ = WriteAtomic(SealOf(path), []byte(want+"\n"+now+"\n"))
	}
	return true
}

// ReadSealed returns the content of path when it matches its seal, reading
// the file once.
func ReadSealed(path string) ([]byte, error) {
	want, _, err := readSeal(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%s does not match its seal", path)
	}
	return data, nil
}

// readSeal returns the sha256 a seal holds and its note ("" for none).
func readSeal(path string) (sum, note string, err error) {
	b, err := os.ReadFile(SealOf(path))
	if err != nil {
		return "", "", err
	}
	sum, note, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(sum), strings.TrimSpace(note), nil
}

// fileState is what the seal's note records of path.
func fileState(path string) (string, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("checked size %d mtime %d ctime %d dev %d ino %d",
		fi.Size(), fi.ModTime().UnixNano(), st.Ctim.Nano(), st.Dev, st.Ino), true
}
