package initramfs

import (
	"os"
	"strings"
	"testing"
)

// TestFloorLine: the host waits for the very line cmd/lab-floor prints
// (the floor program cannot import this package: it must stay tiny).
func TestFloorLine(t *testing.T) {
	b, err := os.ReadFile("../../cmd/lab-floor/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `const Line = "`+FloorLine+`"`) {
		t.Errorf("cmd/lab-floor does not print %q", FloorLine)
	}
}
