package protocol

import "time"

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
	// AgentBinary is the agent (cmd/lab-agent); /init, a small C program
	// (agent/init/init.c), mounts the root and starts it.
	AgentBinary = "/lab/bin/lab-agent"
	// Port is the SSH port inside the guest.
	Port = 22
)

// DefaultStepTimeout is how long the agent waits for a step's answer when
// the request names no timeout.
const DefaultStepTimeout = 10 * time.Second
