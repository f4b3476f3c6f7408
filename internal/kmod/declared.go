package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DeclaredIn maps every module name that a family in dirs builds (its
// obj-m lines) to the family's directory, so that an experiment naming a
// module nobody builds is rejected before anything is built or booted.
// dirs are lab's kmods/ and a user's --kmods: each is one family (it holds
// a Kbuild or a Makefile with obj-m) or a folder of families. A module two
// families build is an error naming both.
func DeclaredIn(dirs []string) (map[string]string, error) {
	fams, err := FamilyDirs(dirs)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, fam := range fams {
		names, err := objM(fam)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if other, dup := out[name]; dup && other != fam {
				return nil, fmt.Errorf("module %s is built by two families: %s and %s", name, other, fam)
			}
			out[name] = fam
		}
	}
	return out, nil
}

// FamilyDirs lists the module families in dirs: a directory with its own
// Kbuild (or a Makefile naming obj-m, as out-of-tree modules usually have)
// is one family; otherwise its subdirectories that are families are.
func FamilyDirs(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if isFamily(abs) {
			out = append(out, abs)
			continue
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, fmt.Errorf("module directory %s: %w", d, err)
		}
		n := len(out)
		for _, e := range entries {
			if e.IsDir() && isFamily(filepath.Join(abs, e.Name())) {
				out = append(out, filepath.Join(abs, e.Name()))
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("module directory %s: no Kbuild (or Makefile with obj-m) in it or its subdirectories", d)
		}
	}
	sort.Strings(out)
	return out, nil
}

func isFamily(dir string) bool {
	names, err := objM(dir)
	return err == nil && len(names) > 0
}

// objM reads the obj-m lines of dir's Kbuild, else of its Makefile.
func objM(dir string) ([]string, error) {
	for _, file := range []string{"Kbuild", "Makefile"} {
		f, err := os.Open(filepath.Join(dir, file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
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
					names = append(names, name)
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return names, nil
	}
	return nil, nil
}
