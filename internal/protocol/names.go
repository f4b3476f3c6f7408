package protocol

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ValidName tells whether s may name a module, a holder or a step id:
// letters, digits, _ and -, at most 56 (a holder's name becomes its comm
// and a module's its file name).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 56 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckPath keeps the paths of experiments to the kernel's own file
// systems in the guest: an experiment is about what the kernel does with
// device and proc files, and a YAML file must not reach anything else. The
// experiment loader refuses such a file and the agent such a request.
func CheckPath(p string) error {
	if p == "" || !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("path %q must be absolute and clean", p)
	}
	for _, dir := range []string{"/dev/", "/proc/", "/sys/"} {
		if strings.HasPrefix(p, dir) {
			return nil
		}
	}
	return fmt.Errorf("path %q is outside /dev, /proc and /sys", p)
}

// SysctlPath is the file under /proc/sys a sysctl key names, or an error
// for a key that leaves /proc/sys.
func SysctlPath(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") {
		return "", fmt.Errorf("sysctl key %q must be relative to /proc/sys without ..", key)
	}
	p := filepath.Clean("/proc/sys/" + key)
	if !strings.HasPrefix(p, "/proc/sys/") {
		return "", fmt.Errorf("sysctl key %q must be relative to /proc/sys without ..", key)
	}
	return p, nil
}

// ExecDir is where u-root's commands lie in the guest; exec runs only
// these, by name: an experiment drives the kernel through the guest's own
// tools, and names no file outside the initramfs.
const ExecDir = "/bbin"

// CheckCommand tells whether argv may be run by an exec step: a u-root
// command given by name, and a bounded command line.
func CheckCommand(argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("exec needs a command")
	}
	if !ValidName(argv[0]) {
		return fmt.Errorf("exec command %q: give one of u-root's commands by name (letters, digits, _ and -)", argv[0])
	}
	n := 0
	for _, a := range argv {
		n += len(a) + 1
	}
	if n > MaxLine {
		return fmt.Errorf("exec command line is %d bytes; at most %d", n, MaxLine)
	}
	return nil
}

// MaxLine bounds what one step may carry to a holder or a command: the
// holder reads one line of at most 4096 bytes, and hex doubles the data.
const MaxLine = 1024

// OpenModes are the modes open takes.
var OpenModes = []string{"r", "w", "rw"}
