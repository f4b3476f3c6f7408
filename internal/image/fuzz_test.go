package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseSpec: an image file, however broken, gives a spec or an error
// naming the file, never a panic; a spec it accepts has what Fetch needs.
func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob("../../images/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("name: x\nbuild_root: {suite: sid}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSpec("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if s.Name == "" || s.Suite == "" || s.Series == "" || s.Compiler == "" {
			t.Errorf("parseSpec accepted an incomplete spec: %+v", s)
		}
	})
}

// FuzzParseLock: a lock file, however broken, gives a lock or an error
// naming the file; one it accepts has every field Fetch needs, and writes
// back to the same lock.
func FuzzParseLock(f *testing.F) {
	files, _ := filepath.Glob("../../images/*.lock")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("image: x\nrelease: 1\npackages: [{name: a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLock("f.lock", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.lock") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if l.Image == "" || l.Release == "" || len(l.Packages) == 0 {
			t.Fatalf("parseLock accepted an incomplete lock: %+v", l)
		}
		for _, p := range l.Packages {
			if p.Name == "" || p.Version == "" || len(p.SHA256) != 64 {
				t.Errorf("parseLock accepted an incomplete package: %+v", p)
			}
		}
		again, err := parseLock("f.lock", l.Marshal())
		if err != nil {
			t.Fatalf("a lock lab wrote does not load: %v\n%s", err, l.Marshal())
		}
		if len(again.Packages) != len(l.Packages) || again.Release != l.Release || again.Image != l.Image {
			t.Errorf("round trip changed the lock: %+v -> %+v", l, again)
		}
	})
}
