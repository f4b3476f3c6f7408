package agent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kernel-lab/lab/internal/protocol"
)

// HaveKeys says whether the initramfs carries the run's keys (a cold boot);
// a snapshot boot has none and takes them from the key channel.
func HaveKeys() bool {
	_, err := os.Stat(protocol.HostKeyFile)
	return err == nil
}

// AwaitKeys opens the key channel, tells the host it waits (the host saves
// the snapshot at that point), and blocks until a restored copy's host
// writes the run's keys. It reseeds the kernel's random generator with the
// host's seed before returning: every copy restored from one snapshot
// starts with the same generator state, and the SSH handshake that follows
// makes secrets from it.
func AwaitKeys() (hostPEM, authorizedKey []byte, err error) {
	fd, err := unix.Open(protocol.KeyChannelDevice(), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("key channel %s: %w", protocol.KeyChannelDevice(), err)
	}
	f := os.NewFile(uintptr(fd), protocol.KeyChannelDevice())
	defer f.Close()
	if err := makeRaw(fd); err != nil {
		return nil, nil, fmt.Errorf("key channel %s: %w", protocol.KeyChannelDevice(), err)
	}
	kmsg("%s", protocol.AwaitingKeysLine())
	line, err := bufio.NewReaderSize(f, 16<<10).ReadBytes('\n')
	if err != nil {
		return nil, nil, fmt.Errorf("key channel %s: %w", protocol.KeyChannelDevice(), err)
	}
	m, err := protocol.DecodeKeyMessage(line)
	if err != nil {
		return nil, nil, err
	}
	if err := reseed(m.Seed); err != nil {
		return nil, nil, err
	}
	return []byte(m.HostKeyPEM), []byte(m.AuthorizedKey), nil
}

// makeRaw turns off echo and line editing: the key line must arrive byte
// for byte, and an echo would only talk back to the host.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// Linux's random ioctls (include/uapi/linux/random.h).
const (
	rndAddEntropy   = 0x40085203
	rndReseedCRNG   = 0x5207
	randomDevice    = "/dev/urandom"
	bitsPerSeedByte = 8
)

// reseed credits seed to the input pool and forces the generator to reseed
// from it now, rather than at its next periodic reseed.
func reseed(seed []byte) error {
	if len(seed) == 0 {
		return errors.New("reseed: empty seed")
	}
	f, err := os.OpenFile(randomDevice, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("reseed: %w", err)
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	buf := make([]byte, 8+len(seed))
	binary.NativeEndian.PutUint32(buf[0:], uint32(len(seed)*bitsPerSeedByte))
	binary.NativeEndian.PutUint32(buf[4:], uint32(len(seed)))
	copy(buf[8:], seed)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndAddEntropy, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return fmt.Errorf("reseed: RNDADDENTROPY: %w", errno)
	}
	// Kernels before 4.17 lack RNDRESEEDCRNG; the credited entropy then
	// reaches the generator at its next reseed.
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndReseedCRNG, 0); errno != 0 && errno != unix.EINVAL && errno != unix.ENOTTY {
		return fmt.Errorf("reseed: RNDRESEEDCRNG: %w", errno)
	}
	return nil
}
