package vm

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Snapshot support: a VM whose Config has KeyChannel gets a second serial
// port whose host end is a unix socket in the VM's private directory (0700,
// made by os.MkdirTemp); the guest agent of a snapshot boot reads its run's
// keys there. Incoming starts QEMU waiting for a migration stream
// (-incoming defer) instead of booting.

const keyChannelID = "keys"

// snapshotArgs are the options Config's snapshot fields add to Args. The
// key channel is part of the machine: a snapshot made with it restores only
// into a QEMU that has it too.
func (v *VM) snapshotArgs() []string {
	var args []string
	if v.cfg.KeyChannel {
		args = append(args, "-chardev", "socket,id="+keyChannelID+",path="+v.keyChannelPath()+",server=on,wait=off")
		if v.cfg.Arch.PCIKeyChannel {
			// The guest's 8250 driver calls it ttyS0 (arch.Arch's
			// KeyChannelDevice).
			args = append(args, "-device", "pci-serial,chardev="+keyChannelID)
		} else {
			args = append(args, "-serial", "chardev:"+keyChannelID)
		}
	}
	if v.cfg.Incoming {
		args = append(args, "-incoming", "defer")
	}
	return args
}

func (v *VM) keyChannelPath() string { return filepath.Join(v.sockDir, "keys.sock") }

// SendKeys writes msg to the guest's key channel. QEMU passes bytes on only
// as fast as the guest's UART takes them, so the write may wait for the
// guest to read; the connection stays open until then.
func (v *VM) SendKeys(msg []byte, timeout time.Duration) error {
	if !v.cfg.KeyChannel {
		return fmt.Errorf("key channel: the VM has none")
	}
	c, err := net.DialTimeout("unix", v.keyChannelPath(), timeout)
	if err != nil {
		return fmt.Errorf("key channel: %w", err)
	}
	// QEMU reads the socket only while connected: closing early could drop
	// what the guest has not read yet, so keep it open for the VM's life.
	go func() {
		<-v.exited
		c.Close()
	}()
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("key channel: %w", err)
	}
	return nil
}

// SaveSnapshot stops the guest and writes its whole state to path (QMP
// migrate to a file), readable by the owner only. The VM stays paused.
func (v *VM) SaveSnapshot(path string, timeout time.Duration) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	f.Close()
	if _, err := v.QMP("stop", nil, 5*time.Second); err != nil {
		return err
	}
	// cat truncates the file made above and keeps its mode.
	if _, err := v.QMP("migrate", map[string]any{"uri": "exec:cat > " + shellQuote(path)}, 5*time.Second); err != nil {
		return err
	}
	return v.waitMigration(timeout, func() (bool, error) {
		st, err := v.migrationStatus()
		if err != nil {
			return false, err
		}
		return st == "completed", nil
	})
}

// Restore loads the state SaveSnapshot wrote into a VM started with
// Incoming, and returns once the guest runs again.
func (v *VM) Restore(path string, timeout time.Duration) error {
	if err := v.Load(path, timeout); err != nil {
		return err
	}
	return v.Resume()
}

// Load loads the state SaveSnapshot wrote into a VM started with Incoming
// and leaves the guest paused: a run can load its guest ahead of time, and
// Resume it when it starts.
func (v *VM) Load(path string, timeout time.Duration) error {
	if !v.cfg.Incoming {
		return fmt.Errorf("restore %s: the VM was not started for an incoming migration", path)
	}
	// QEMU reads the snapshot from a descriptor passed over QMP, not from
	// "exec:cat FILE": no shell and cat to start, and no pipe to copy the
	// 110 MB through (together 20-30 ms of a 0.1 s load).
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	_, err = v.qmp("getfd", map[string]any{"fdname": snapshotFD}, f, 5*time.Second)
	f.Close() // QEMU holds its own copy now
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if _, err := v.QMP("migrate-incoming", map[string]any{"uri": "fd:" + snapshotFD}, 5*time.Second); err != nil {
		return err
	}
	err = v.waitMigration(timeout, func() (bool, error) {
		if _, err := v.migrationStatus(); err != nil {
			return false, fmt.Errorf("restore %s: %w", path, err)
		}
		st, err := v.Status()
		return st != "inmigrate", err
	})
	return err
}

// Resume lets a loaded guest run. The snapshot was saved stopped, and the
// stream carries that state: QEMU leaves the restored guest paused until
// told to go on.
func (v *VM) Resume() error {
	if st, err := v.Status(); err != nil || st == "running" {
		return err
	}
	_, err := v.QMP("cont", nil, 5*time.Second)
	return err
}

// snapshotFD names, in QEMU, the descriptor of the snapshot being loaded.
const snapshotFD = "snapshot"

func (v *VM) migrationStatus() (string, error) {
	out, err := v.QMP("query-migrate", nil, 5*time.Second)
	if err != nil {
		return "", err
	}
	var m struct {
		Status    string `json:"status"`
		ErrorDesc string `json:"error-desc"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("query-migrate: %w", err)
	}
	if m.Status == "failed" || m.Status == "cancelled" {
		return m.Status, fmt.Errorf("migration %s: %s", m.Status, m.ErrorDesc)
	}
	return m.Status, nil
}

func (v *VM) waitMigration(timeout time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("migration not done within %s", timeout)
		}
		select {
		case <-v.exited:
			return v.ExitError()
		case <-time.After(2 * time.Millisecond): // a restore takes ~0.1 s

		}
	}
}

// shellQuote quotes s for the shell QEMU runs exec: migrations with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// MachineSignature is QEMU's command line for cfg with what changes from
// run to run (file paths, the forwarded port) left out: a snapshot fits
// only a QEMU whose machine has the same signature.
func MachineSignature(cfg Config) string {
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	cfg.Kernel, cfg.Initrd, cfg.Console, cfg.Stderr = "KERNEL", "INITRD", "CONSOLE", "STDERR"
	cfg.Incoming = false
	v := &VM{cfg: cfg, sockDir: "SOCKDIR"}
	return strings.Join(v.Args("SOCKDIR/qmp.sock"), " ")
}
