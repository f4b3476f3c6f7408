package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/runner"
	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/source"
	"github.com/kernel-lab/lab/internal/textutil"
)

func (g *globals) fetchOptions(cache string) image.FetchOptions {
	return image.FetchOptions{
		CacheDir: cache, Mirror: g.mirror, SecurityMirror: g.securityMirror,
		SnapshotMirror: g.snapshotMirror, Log: g.logger(),
	}
}

func (g *globals) imagesCmd() *cobra.Command {
	var offline, markdown bool
	c := &cobra.Command{
		Use:   "images",
		Short: "list the kernel images: locked build, what the mirror serves now, cached or not, stale or not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, cache, err := g.treeAndCache(cmd.Context())
			if err != nil {
				return err
			}
			specs, err := g.images(tree, nil)
			if err != nil {
				return err
			}
			if markdown {
				imagesMarkdown(g.stdout, specs)
				return nil
			}
			return g.listImages(cmd.Context(), specs, cache, offline)
		},
	}
	c.Flags().BoolVar(&offline, "offline", false, "do not ask the mirror what it serves now")
	c.Flags().BoolVar(&markdown, "markdown", false, "print README's kernel table from the images and their locks (a test checks README holds it)")
	c.AddCommand(g.imagesUpdateCmd(), g.imagesAddCmd())
	return c
}

// listImages prints one line per image. Asking the mirror uses the lists
// lab already fetched, updating those older than the lock.
func (g *globals) listImages(ctx context.Context, specs []*image.Spec, cache string, offline bool) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	snaps, err := runner.Snapshots(cache, false)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "IMAGE\tSUITE\tLOCKED\tMIRROR NOW\tCACHE\tSNAPSHOT\tSTATE")
	for _, s := range specs {
		locked := s.PackageVersion()
		if !s.Locked() {
			locked = "(no lock)"
		}
		cached := "not cached"
		if s.Locked() && image.New(s, cache).Cached() {
			cached = "cached"
		}
		now, state := "?", "offline"
		if !offline {
			now, state = g.mirrorState(ctx, s, cache)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Suite, locked, now, cached, snapshotState(snaps, s), state)
	}
	return tw.Flush()
}

// snapshotState sums up the snapshots of s's locked release: "none", or
// per accelerator how many (one per initramfs: --kmods builds its own),
// with "damaged" for those without a seal (an interrupted save; the next
// run that needs one makes it again). lab images does not hash them:
// lab doctor checks each against its seal.
func snapshotState(snaps []runner.SnapshotEntry, s *image.Spec) string {
	count := map[string]int{}
	var accels []string
	damaged := 0
	for _, e := range snaps {
		if e.Image != s.Name || e.Release != s.Release {
			continue
		}
		if !e.Sealed {
			damaged++
			continue
		}
		if count[e.Accel] == 0 {
			accels = append(accels, e.Accel)
		}
		count[e.Accel]++
	}
	sort.Strings(accels)
	var parts []string
	for _, a := range accels {
		p := a
		if count[a] > 1 {
			p += fmt.Sprintf("×%d", count[a])
		}
		parts = append(parts, p)
	}
	if damaged > 0 {
		parts = append(parts, fmt.Sprintf("%d damaged", damaged))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// mirrorState says what the mirror serves for s now and how the lock
// stands against it.
func (g *globals) mirrorState(ctx context.Context, s *image.Spec, cache string) (now, state string) {
	opts := g.fetchOptions(cache)
	l, err := image.Resolve(ctx, s, opts, true)
	if err != nil {
		var gone *image.SeriesGoneError
		if errors.As(err, &gone) {
			return "none", "series gone: " + strings.Join(gone.Serves, ", ")
		}
		return "?", "mirror: " + textutil.FirstLine(err.Error())
	}
	now = l.KernelPackage().Version
	switch {
	case !s.Locked():
		return now, "no lock: lab images update " + s.Name
	case !sameBuild(s.Packages, l.Packages):
		served, err := image.Served(ctx, s, opts)
		if err != nil {
			return now, "mirror: " + textutil.FirstLine(err.Error())
		}
		if !served {
			return now, "stale: locked build gone (runs follow the series; --locked refuses)"
		}
		return now, "newer build served (lab images update " + s.Name + ")"
	}
	return now, "current"
}

func sameBuild(a, b []image.Package) bool {
	if len(a) != len(b) {
		return false
	}
	have := map[string]string{}
	for _, p := range a {
		have[p.Name] = p.SHA256
	}
	for _, p := range b {
		if have[p.Name] != p.SHA256 {
			return false
		}
	}
	return true
}

func (g *globals) imagesUpdateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "update [NAME...]",
		Short: "resolve each image's series on the mirror now and rewrite its lock (images/NAME.lock) for review",
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, cache, err := g.treeAndCache(cmd.Context())
			if err != nil {
				return err
			}
			specs, err := g.images(tree, args)
			if err != nil {
				return err
			}
			var errs []error
			for _, s := range specs {
				l, err := image.Resolve(cmd.Context(), s, g.fetchOptions(cache), true)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if s.Locked() && sameBuild(s.Packages, l.Packages) {
					fmt.Fprintf(g.stdout, "%s: unchanged (%s, %s)\n", s.Name, l.KernelPackage().Version, l.Release)
					continue
				}
				// Keep the dates of unchanged packages: they say when the
				// build was first seen, which a snapshot archive needs.
				for i, p := range l.Packages {
					for _, o := range s.Packages {
						if o.Name == p.Name && o.SHA256 == p.SHA256 && o.Date != "" {
							l.Packages[i].Date = o.Date
						}
					}
				}
				lockFile, copied, err := projectLockFile(tree, s)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if err := image.WriteLock(lockFile, l); err != nil {
					errs = append(errs, err)
					continue
				}
				from := "(no lock)"
				if s.Locked() {
					from = s.PackageVersion() + " (" + s.Release + ")"
				}
				wrote := relPath(tree.Project, lockFile)
				if copied != "" {
					wrote = relPath(tree.Project, copied) + " (lab's own, copied) and " + wrote
				}
				fmt.Fprintf(g.stdout, "%s: %s -> %s (%s); wrote %s\n", s.Name, from, l.KernelPackage().Version, l.Release, wrote)
			}
			return errors.Join(errs...)
		},
	}
}

// projectLockFile is where lab images update writes s's lock: beside its
// spec when the spec is the project's, else into the project's images/
// with a copy of the spec (returned as copied), which from then on replaces
// lab's own image of that name. lab's own images are read-only when lab
// was installed (they live in Go's module cache), and a project should not
// rewrite the lab it uses.
func projectLockFile(tree source.Tree, s *image.Spec) (lockFile, copied string, err error) {
	dir := tree.AddedImagesDir()
	if filepath.Dir(s.File) == dir {
		return s.LockFile, "", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	copied = filepath.Join(dir, filepath.Base(s.File))
	if _, err := os.Stat(copied); err == nil {
		return "", "", fmt.Errorf("%s: the project already has a file of this name, but lab read image %s from %s", copied, s.Name, s.File)
	}
	if err := safefile.Copy(copied, s.File); err != nil {
		return "", "", err
	}
	// The module cache's files are read-only; the project's copy is the
	// user's to edit.
	if err := os.Chmod(copied, 0o644); err != nil {
		return "", "", err
	}
	return image.LockPath(copied), copied, nil
}

func relPath(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func (g *globals) imagesAddCmd() *cobra.Command {
	var o image.AddOptions
	c := &cobra.Command{
		Use:   "add NAME --suite SUITE (--package linux-image-RELEASE[=VERSION] | --series X.Y)",
		Short: "add any Debian kernel the mirror serves as an image: writes images/NAME.yaml and its lock",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, cache, err := g.treeAndCache(cmd.Context())
			if err != nil {
				return err
			}
			o.Name = args[0]
			s, err := image.Add(cmd.Context(), tree.AddedImagesDir(), o, g.fetchOptions(cache))
			if err != nil {
				return err
			}
			how := "on the host with " + s.Target().Tool(s.Compiler)
			if s.BuildRoot != nil {
				how = "in a " + s.BuildRoot.Suite + " build root with " + s.Compiler
			}
			fmt.Fprintf(g.stdout, "%s: %s %s (%s) from %s; modules build %s; wrote %s and %s\n",
				s.Name, s.Packages[0].Name, s.PackageVersion(), s.Release, s.Suite, how,
				relPath(tree.Project, s.File), relPath(tree.Project, s.LockFile))
			fmt.Fprintf(g.stdout, "try: lab run --kernel %s chardev-unsafe\n", s.Name)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Suite, "suite", "", "Debian suite that serves the kernel (bookworm, bookworm-security, sid …)")
	f.StringVar(&o.Package, "package", "", "kernel package, linux-image-RELEASE[=VERSION] (default version: the newest served)")
	f.StringVar(&o.Series, "series", "", "upstream series (6.1): the newest kernel of it the suite serves")
	f.StringVar(&o.Arch, "arch", "", "the kernel's architecture, amd64 or arm64 (default amd64)")
	f.StringVar(&o.Flavour, "flavour", "", "Debian kernel flavour (default: the architecture's, amd64 or arm64)")
	f.StringVar(&o.Compiler, "compiler", "", "compiler for modules (default: the one the headers ask for)")
	f.StringVar(&o.Description, "description", "", "one line for lab images")
	return c
}

// treeAndCache are lab's source tree and cache, for commands that need both.
func (g *globals) treeAndCache(ctx context.Context) (tree source.Tree, cache string, err error) {
	if tree, err = g.tree(ctx); err != nil {
		return source.Tree{}, "", err
	}
	cache, err = g.cacheDir()
	return tree, cache, err
}

// imagesMarkdown writes README's table of kernel images from the specs and
// their locks, so that the table cannot drift from images/*.lock.
func imagesMarkdown(w io.Writer, specs []*image.Spec) {
	fmt.Fprintln(w, "| image | kernel | from | modules built with |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, s := range specs {
		name := "`" + s.Name + "`"
		if s.Name == DefaultKernel {
			name += " (default)"
		}
		built := "host " + s.Compiler
		if t := s.Target(); !t.Native() {
			built = fmt.Sprintf("host %s (cross, %s)", t.Tool(s.Compiler), t.Name)
		}
		if s.BuildRoot != nil {
			built = fmt.Sprintf("%s in a Debian %s build root (debootstrap, made once, needs root)", s.Compiler, s.BuildRoot.Suite)
		} else if s.BuiltWith() != s.Compiler {
			built += fmt.Sprintf(" (the kernel was built with %s)", s.BuiltWith())
		}
		fmt.Fprintf(w, "| %s | %s (%s) | %s | %s |\n", name, s.PackageVersion(), s.Release, s.Suite, built)
	}
}
