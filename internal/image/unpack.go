package image

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// unpack unpacks every package into a fresh tree next to the image's
// directory, fixes it up, and only then puts it in place, so that a crash
// or a second process never sees a half-made root.
func unpack(ctx context.Context, img *Image, debs map[string]string, log *slog.Logger) error {
	parent := filepath.Dir(img.dir())
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	name := filepath.Base(img.dir())
	// Leftovers of a process that died while holding the lock.
	for _, kind := range []string{"tmp", "old"} {
		old, _ := filepath.Glob(filepath.Join(parent, globEscape(name)+"."+kind+"-*"))
		for _, o := range old {
			log.Info("removing leftover tree", "dir", o)
			if err := os.RemoveAll(o); err != nil {
				return err
			}
		}
	}
	tmp, err := os.MkdirTemp(parent, name+".tmp-")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	for _, p := range img.Spec.Packages {
		deb := debs[p.Name]
		log.Debug("unpacking", "deb", deb)
		if err := UnpackDeb(ctx, deb, root); err != nil {
			return fmt.Errorf("unpacking %s: %w", filepath.Base(deb), err)
		}
	}
	// The fixes point at the final root, not at tmp: tmp is renamed there.
	if err := fixTree(root, img.Root, img.HeadersRel(), log); err != nil {
		return err
	}
	staged := &Image{Spec: img.Spec, Root: root}
	if err := staged.checkLayout(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "stamp"), []byte(img.stamp()+"\n"), 0o644); err != nil {
		return err
	}
	// rename(2) cannot replace a non-empty directory: move the old tree
	// aside first, then delete it once the new one is in place.
	dir := img.dir()
	if _, err := os.Lstat(dir); err == nil {
		aside, err := os.MkdirTemp(parent, name+".old-")
		if err != nil {
			return err
		}
		if err := os.Rename(dir, filepath.Join(aside, "tree")); err != nil {
			return err
		}
		defer os.RemoveAll(aside)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	done = true
	return nil
}

// UnpackDeb extracts the files of deb into root (e.g. into a build root
// for kernels the host cannot build for). Not dpkg-deb -x: the 5.10 and
// 6.1 headers ship ./lib/modules, and extracting that over a merged-/usr
// root replaces its /lib symlink; tar --keep-directory-symlink keeps it.
func UnpackDeb(ctx context.Context, deb, root string) error {
	dpkg := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	tar := exec.CommandContext(ctx, "tar", "-x", "--keep-directory-symlink", "-C", root)
	var dpkgErr, tarErr bytes.Buffer
	dpkg.Stderr = &dpkgErr
	tar.Stderr = &tarErr
	pipe, err := dpkg.StdoutPipe()
	if err != nil {
		return err
	}
	tar.Stdin = pipe
	if err := dpkg.Start(); err != nil {
		return err
	}
	if err := tar.Start(); err != nil {
		dpkg.Process.Kill()
		dpkg.Wait()
		return err
	}
	tarRes := tar.Wait()
	dpkgRes := dpkg.Wait()
	if dpkgRes != nil {
		return fmt.Errorf("dpkg-deb: %w: %s", dpkgRes, strings.TrimSpace(dpkgErr.String()))
	}
	if tarRes != nil {
		return fmt.Errorf("tar: %w: %s", tarRes, strings.TrimSpace(tarErr.String()))
	}
	return nil
}

// usrSrcRe finds absolute /usr/src/ paths (at the start of a word, not
// inside a longer path).
var usrSrcRe = regexp.MustCompile(`(^|[\s=:"'(,;])/usr/src/`)

// fixTree makes the unpacked root usable where it lies rather than at /:
//   - the top-level files of every usr/src/* tree (Debian's headers Makefile
//     includes /usr/src/linux-headers-…-common/Makefile, and 7.2's sets
//     KBUILD_OUTPUT=/usr/src/…) get their /usr/src/ paths pointed into
//     finalRoot;
//   - absolute symlinks (lib/modules/*/build and source point at
//     /usr/src/…) become relative ones inside the root.
//
// Deeper files mention /usr/src only in comments and in scripts an M=
// module build does not run (patch-kernel, Makefile.package).
func fixTree(root, finalRoot, headers string, log *slog.Logger) error {
	srcDirs, _ := filepath.Glob(filepath.Join(root, "usr", "src", "*"))
	rewritten := 0
	for _, d := range srcDirs {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			f := filepath.Join(d, e.Name())
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			nb := usrSrcRe.ReplaceAll(b, []byte("${1}"+finalRoot+"/usr/src/"))
			if bytes.Equal(b, nb) {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if err := os.WriteFile(f, nb, fi.Mode().Perm()); err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, f)
			log.Debug("rewrote /usr/src paths", "file", rel)
			rewritten++
		}
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(headers), "Makefile")); err == nil && rewritten == 0 {
		// Every Debian headers package so far needs the rewrite; none
		// means the layout changed and module builds will fail obscurely.
		log.Warn("no /usr/src paths to rewrite in the headers", "headers", headers)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil || !filepath.IsAbs(target) {
			return err
		}
		rel, err := filepath.Rel(filepath.Dir(p), filepath.Join(root, target))
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		return os.Symlink(rel, p)
	})
}
