// Package source finds what lab is built from and what it reads: its own
// module source (the guest agent, u-root's commands, the holder and the
// built-in kernel modules are built from it, the built-in experiments and
// kernel images are read from it), and a user's project directory whose
// experiments/, images/ and kmods/ are layered on top of the built-in ones.
//
// Inside lab's checkout both are the checkout, as they always were. A lab
// installed with `go install github.com/kernel-lab/lab/cmd/lab@VERSION` runs
// from any directory: its source is the copy of its own module version that
// go install put in the Go module cache. That copy is what embedding would
// have carried, with two advantages: it is the source the binary was built
// from, checksum-verified against go.sum's database and read-only, and the
// guest agent and u-root's commands must be built from Go source anyway
// (for the guest, with CGO off), which an embedded file system cannot feed
// to the go command.
package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// ModulePath is lab's Go module path.
const ModulePath = "github.com/kernel-lab/lab"

// Tree is where one lab command reads and writes.
type Tree struct {
	// Module is lab's module source: its checkout, or the module cache's
	// read-only copy of the installed version. Never written.
	Module string
	// Project is the user's directory: results/ and images added with
	// lab images add go there, and its experiments/, images/ and kmods/
	// are read before the built-in ones. In a checkout it is the checkout.
	Project string
	// Version names the lab that ran: git describe in a checkout, the
	// module version when installed.
	Version string
	// Installed says Module is the module cache's copy, not a checkout.
	Installed bool
}

// Options say where to look. Both may be empty.
type Options struct {
	Root    string // --root: lab's checkout
	Project string // --project: the user's directory (default: the checkout, else the working directory)
}

// Find locates lab's source and the project: --root, else the checkout the
// working directory is in, else the module version this binary was
// installed from.
func Find(ctx context.Context, o Options) (Tree, error) {
	var t Tree
	switch {
	case o.Root != "":
		dir, err := filepath.Abs(o.Root)
		if err != nil {
			return Tree{}, err
		}
		if !isCheckout(dir) {
			return Tree{}, fmt.Errorf("--root %s: not lab's source tree (no go.mod of module %s)", o.Root, ModulePath)
		}
		t = Tree{Module: dir, Project: dir}
	default:
		wd, err := os.Getwd()
		if err != nil {
			return Tree{}, err
		}
		if dir, ok := checkoutAbove(wd); ok {
			t = Tree{Module: dir, Project: dir}
			break
		}
		mod, err := installed(ctx)
		if err != nil {
			return Tree{}, err
		}
		t = Tree{Module: mod.Dir, Project: wd, Version: mod.Version, Installed: true}
	}
	if o.Project != "" {
		p, err := filepath.Abs(o.Project)
		if err != nil {
			return Tree{}, err
		}
		t.Project = p
	}
	if t.Version == "" {
		t.Version = gitVersion(t.Module)
	}
	return t, nil
}

// ExperimentDirs are the directories experiments are looked up in, the
// project's first: a project experiment of a built-in's name replaces it.
func (t Tree) ExperimentDirs() []string { return t.layered("experiments") }

// ImageDirs are the directories kernel images are looked up in, the
// project's first.
func (t Tree) ImageDirs() []string { return t.layered("images") }

// ProjectKmods is the project's kmods/ when it has one (and is not lab's
// own): it is built beside lab's kmods/ like a --kmods directory. A module
// name declared in both is an error where they are read, not a silent
// replacement: an experiment would load a different module than its author
// built.
func (t Tree) ProjectKmods() []string {
	if dirs := t.layered("kmods"); len(dirs) == 2 {
		return dirs[:1]
	}
	return nil
}

// ResultsDir is where runs are written unless --results says otherwise.
func (t Tree) ResultsDir() string { return filepath.Join(t.Project, "results") }

// AddedImagesDir is where lab images add writes: the project's images/.
func (t Tree) AddedImagesDir() string { return filepath.Join(t.Project, "images") }

// layered is the project's sub folder (when it is a folder and not the
// module's own) followed by the module's.
func (t Tree) layered(sub string) []string {
	builtin := filepath.Join(t.Module, sub)
	own := filepath.Join(t.Project, sub)
	if own == builtin {
		return []string{builtin}
	}
	if fi, err := os.Stat(own); err == nil && fi.IsDir() {
		return []string{own, builtin}
	}
	return []string{builtin}
}

// checkoutAbove is the nearest directory at or above dir holding lab's
// go.mod.
func checkoutAbove(dir string) (string, bool) {
	for {
		if isCheckout(dir) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isCheckout(dir string) bool {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(mod), "\n")
	return strings.TrimSpace(first) == "module "+ModulePath
}

// module is what go mod download -json says of one module version.
type module struct {
	Path, Version, Dir, Error string
}

// ErrNotInstalled says a binary built from a checkout ran outside it.
var ErrNotInstalled = errors.New("not inside lab's checkout, and this lab was built from a checkout, not installed by version, so it does not know where its source is")

// installed finds the module cache copy of the version this binary was
// built from. go mod download only reads the module cache when the version
// is there (go install put it there), and fetches it through GOPROXY,
// verified by GOSUMDB, when the cache was cleaned since.
func installed(ctx context.Context) (module, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != ModulePath || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return module{}, fmt.Errorf("%w: run it inside the checkout, pass --root CHECKOUT, or install a version: go install %s/cmd/lab@latest", ErrNotInstalled, ModulePath)
	}
	return download(ctx, bi.Main.Path+"@"+bi.Main.Version)
}

// download runs go mod download -json for one path@version, outside any
// module and workspace so that neither the working directory's go.mod nor
// GOFLAGS=-mod=vendor changes what it means.
func download(ctx context.Context, pathAtVersion string) (module, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", pathAtVersion)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var m module
	if jerr := json.Unmarshal(out, &m); jerr == nil && m.Error != "" {
		return module{}, fmt.Errorf("find lab's source %s in the Go module cache: %s", pathAtVersion, m.Error)
	}
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return module{}, fmt.Errorf("find lab's source %s: lab builds its guest agent with Go, and go is not on PATH", pathAtVersion)
		}
		return module{}, fmt.Errorf("find lab's source %s in the Go module cache: go mod download: %v\n%s", pathAtVersion, err, stderr.String())
	}
	if m.Dir == "" {
		return module{}, fmt.Errorf("find lab's source %s: go mod download named no directory", pathAtVersion)
	}
	return m, nil
}

// gitVersion is git describe of a checkout, "unknown" when git cannot say.
func gitVersion(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
