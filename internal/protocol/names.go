package protocol

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,56}$`)

// ValidName tells whether s may name a module, a holder or a step id:
// letters, digits, _ and -, at most 56 (a holder's name becomes its comm
// and a module's its file name).
func ValidName(s string) bool { return nameRE.MatchString(s) }

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
