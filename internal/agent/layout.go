// Package agent is the guest side of lab: it runs inside the VM as u-root's
// uinit, loads the NIC modules, brings up the network and serves experiment
// steps over SSH. Holders and unloads run in child processes of their own so
// that a step that never returns leaves the agent free to observe it.
package agent

// Paths inside the initramfs that the host fills in (see internal/initramfs).
const (
	// ModulesDir holds the experiment's modules, NAME.ko. It is not
	// /lib/modules because u-root's init insmods every .ko found there.
	ModulesDir = "/lab/modules"
	// BootModulesDir holds the kernel's own modules the guest needs
	// before networking (virtio_net and its dependencies), loaded in the
	// order listed in BootModulesOrder.
	BootModulesDir   = "/lab/boot"
	BootModulesOrder = "/lab/boot/order"
	// HostKeyFile is the agent's SSH host key (PEM), made fresh per run.
	HostKeyFile = "/lab/keys/host_key"
	// AuthorizedKeyFile is the run's client public key (authorized_keys format).
	AuthorizedKeyFile = "/lab/keys/authorized_key"
	// HolderBinary is the single-threaded C program that holds files open
	// (holder/holder.c).
	HolderBinary = "/lab/bin/lab-holder"
	// ReadyMarker is written to /dev/kmsg once the SSH server listens; the
	// host watches the console for it before it dials.
	ReadyMarker = "lab-agent: ready"
	// UnloadedMarker, followed by the module name, is written to /dev/kmsg
	// when a delete_module returns success.
	UnloadedMarker = "lab-agent: unloaded "
	// Port is the SSH port inside the guest.
	Port = 22
)
