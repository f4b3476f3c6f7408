package kmod

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// Declared maps every module name that a Kbuild file under kmodsDir builds
// (its obj-m lines) to the family directory, so that an experiment naming a
// module nobody builds is rejected before anything is built or booted.
func Declared(kmodsDir string) (map[string]string, error) {
	families, err := Families(kmodsDir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, fam := range families {
		f, err := os.Open(filepath.Join(kmodsDir, fam, "Kbuild"))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			rest, ok := strings.CutPrefix(line, "obj-m")
			if !ok {
				continue
			}
			_, objs, ok := strings.Cut(rest, "=")
			if !ok {
				continue
			}
			for _, o := range strings.Fields(objs) {
				if name, ok := strings.CutSuffix(o, ".o"); ok {
					out[name] = filepath.Join(kmodsDir, fam)
				}
			}
		}
		f.Close()
	}
	return out, nil
}
