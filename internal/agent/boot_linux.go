package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/kernel-lab/lab/internal/protocol"
)

// Guest addresses of QEMU's user network: no DHCP needed, the host forwards
// a loopback port to GuestIP:22.
var (
	GuestIP   = net.IPv4(10, 0, 2, 15)
	GatewayIP = net.IPv4(10, 0, 2, 2)
)

// Boot prepares the guest: every kernel message on the console (the host
// reads the console as ground truth), the boot modules loaded in order, and
// the first NIC configured.
func Boot() error {
	kmsg("lab-agent: started")
	// console_loglevel 7 so module messages (pr_info) reach the serial log.
	_ = os.WriteFile("/proc/sys/kernel/printk", []byte("7 4 1 7"), 0)
	if err := loadBootModules(); err != nil {
		return err
	}
	// Each boot phase leaves a line, so the kernel's timestamps on the
	// console say where a cold boot spends its time.
	kmsg("lab-agent: boot modules loaded")
	if err := configureNetwork(10 * time.Second); err != nil {
		return err
	}
	kmsg("lab-agent: network up")
	return nil
}

func loadBootModules() error {
	order, err := os.ReadFile(protocol.BootModulesOrder)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(string(order)) {
		err := loadModule(filepath.Join(protocol.BootModulesDir, name), "")
		if err != nil && !strings.Contains(err.Error(), "file exists") {
			return fmt.Errorf("boot module: %w", err)
		}
	}
	return nil
}

// configureNetwork waits for the NIC to appear (the driver probes
// asynchronously after insmod) and gives it QEMU's user-net address.
func configureNetwork(wait time.Duration) error {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	deadline := time.Now().Add(wait)
	var nic netlink.Link
	for nic == nil {
		links, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		for _, l := range links {
			if l.Type() == "device" && l.Attrs().Name != "lo" {
				nic = l
				break
			}
		}
		if nic == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("no network interface within %s (is the NIC driver among the boot modules?)", wait)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: GuestIP, Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrAdd(nic, addr); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("address %s on %s: %w", addr, nic.Attrs().Name, err)
	}
	if err := netlink.LinkSetUp(nic); err != nil {
		return fmt.Errorf("bring up %s: %w", nic.Attrs().Name, err)
	}
	route := &netlink.Route{LinkIndex: nic.Attrs().Index, Gw: GatewayIP}
	if err := netlink.RouteAdd(route); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("default route via %s: %w", GatewayIP, err)
	}
	return nil
}

// Ready tells the host, through the console, that steps can be sent.
func Ready() { kmsg("%s", protocol.ReadyLine()) }

// Note writes a line of the agent's into the kernel log.
func Note(format string, args ...any) { kmsg("lab-agent: "+format, args...) }

// Fatal tells the host, through the console, why the agent cannot serve.
func Fatal(err error) { kmsg("%s", protocol.FatalLine(err)) }
