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
