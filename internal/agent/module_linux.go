package agent

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// loadModule loads a .ko file by finit_module. Compressed modules (.ko.xz,
// .ko.zst on 6.12+) are handed to the kernel to decompress.
func loadModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if n := len(path); n > 3 && (path[n-3:] == ".xz" || path[n-4:] == ".zst") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

// deleteModule unloads a module the way rmmod does: O_NONBLOCK, so a module
// in use fails with EWOULDBLOCK instead of waiting.
func deleteModule(name string) error {
	if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("delete_module %s: %w", name, err)
	}
	return nil
}
