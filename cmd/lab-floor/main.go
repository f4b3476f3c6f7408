// Command lab-floor is the boot-time floor lab bench measures against: the
// smallest /init that proves userspace runs. It prints one line through
// the kernel log (the way lab's agent reports ready) and powers the
// machine off. There is no busybox on the hosts lab is measured on, so the
// floor is this static Go binary.
package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// Line is what the host waits for on the console.
const Line = "lab-floor: userspace up"

func main() {
	// The kernel's built-in initramfs has no /dev/kmsg; devtmpfs does.
	_ = os.MkdirAll("/dev", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		f.WriteString(Line + "\n")
		f.Close()
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
