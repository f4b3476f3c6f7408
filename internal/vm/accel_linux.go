package vm

import (
	"os"

	"golang.org/x/sys/unix"
)

// kvmAPIVersion is KVM_GET_API_VERSION's answer on every kernel since 2.6.22.
const kvmAPIVersion = 12

// KVMUsable says whether /dev/kvm can be opened and speaks the stable API.
// It cannot tell a host whose KVM creates VMs that never run, or on which
// QEMU dies setting MSRs (both seen on real machines): package accel's
// probe boots a kernel to find out.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	v, err := unix.IoctlRetInt(int(f.Fd()), 0xAE00) // KVM_GET_API_VERSION
	return err == nil && v == kvmAPIVersion
}
