// Package initramfs assembles the guest's initramfs from three newc
// segments, concatenated (the kernel unpacks them in order, later entries
// replacing earlier ones):
//
//  1. u-root's core commands and its init, built once per u-root version
//     and command list (building them takes minutes, so it is cached);
//  2. lab's part: the agent as /init, the experiment's modules (without
//     their debug sections) and the kernel's NIC modules, cached by content
//     hash;
//  3. the run's SSH keys, made fresh for every run.
package initramfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/logx"
	"github.com/kernel-lab/lab/internal/protocol"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/u-root/uio/llog"

	"github.com/kernel-lab/lab/internal/safefile"
)

// Commands are the u-root commands in every guest: a shell and the tools a
// person needs to look around a broken kernel by hand.
var Commands = []string{
	"cat", "dmesg", "echo", "gosh", "grep", "init", "insmod", "ip", "kill",
	"ls", "lsmod", "mknod", "mount", "ps", "rmmod", "sleep", "stty", "uname",
}

const urootModule = "github.com/u-root/u-root"

// Options say what goes into an initramfs.
type Options struct {
	// RepoRoot is lab's module root: the agent and the u-root commands are
	// built from its go.mod.
	RepoRoot string
	CacheDir string
	// Modules are the experiment modules, name -> .ko path.
	Modules map[string]string
	// BootModules are the kernel's modules to load before networking, in
	// load order (paths of .ko or .ko.xz files).
	BootModules []string
	Log         *slog.Logger
	// Progress hears about the slow first build (nil: silence).
	Progress io.Writer
	// Commands puts u-root's core commands (gosh, ls, cat …) first, for
	// exec steps and lab shell. Without them the initramfs is about half
	// the size (7 MB against 13 MB): QEMU loads it and the kernel unpacks
	// it on every cold boot, which under TCG costs a noticeable part of a
	// second, and the first run need not build them.
	Commands bool
	// Arch is the guest's architecture: the agent, u-root and the C
	// programs are built for it (the zero value is amd64).
	Arch arch.Arch
}

// Image is a cached initramfs without the run's keys.
type Image struct {
	Path   string
	SHA256 string
}

// Build returns the cached initramfs for o, building what is missing.
func Build(ctx context.Context, o Options) (*Image, error) {
	o.Log = logx.Or(o.Log)
	o.Arch = o.Arch.OrDefault()
	dir := filepath.Join(o.CacheDir, "initramfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	core := ""
	if o.Commands {
		var err error
		if core, err = buildCore(ctx, o, dir); err != nil {
			return nil, err
		}
	}
	agentBin, err := buildAgent(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	holderBin, err := buildC(ctx, o, dir, HolderSource, "lab-holder")
	if err != nil {
		return nil, err
	}
	initBin, err := buildC(ctx, o, dir, InitSource, "lab-init")
	if err != nil {
		return nil, err
	}
	files, err := labFiles(ctx, labBinaries{agent: agentBin, holder: holderBin, init: initBin}, o, dir)
	if err != nil {
		return nil, err
	}
	if !o.Commands {
		files = append(baseFiles(), files...)
	}
	h := sha256.New()
	fmt.Fprintln(h, filepath.Base(core))
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %d %d:%d\n", f.Name, f.Mode, f.FileSize, f.Rmajor, f.Rminor)
		if r, ok := f.ReaderAt.(io.Reader); ok {
			io.Copy(h, r)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))
	out := filepath.Join(dir, "lab-"+key[:16]+".cpio")
	if intact(out, o.Log) {
		return &Image{Path: out, SHA256: key}, nil
	}
	var buf bytes.Buffer
	if core != "" {
		coreBytes, err := os.ReadFile(core)
		if err != nil {
			return nil, err
		}
		buf.Write(coreBytes)
	}
	if err := writeSegment(&buf, files); err != nil {
		return nil, err
	}
	if err := safefile.WriteSealed(out, buf.Bytes()); err != nil {
		return nil, err
	}
	return &Image{Path: out, SHA256: key}, nil
}

// baseFiles are what u-root's base archive gives an initramfs without its
// commands: the root's directories and the console the kernel opens for
// /init's standard input and output before devtmpfs is mounted.
func baseFiles() []cpio.Record {
	return []cpio.Record{
		cpio.Directory("bin", 0o755), cpio.Directory("dev", 0o755), cpio.Directory("etc", 0o755),
		cpio.Directory("proc", 0o755), cpio.Directory("sys", 0o755), cpio.Directory("tmp", 0o777),
		cpio.Directory("usr", 0o755), cpio.Directory("usr/lib", 0o755), cpio.Directory("var", 0o755),
		cpio.Directory("var/log", 0o777),
		cpio.CharDev("dev/console", 0o600, 5, 1), cpio.CharDev("dev/tty", 0o666, 5, 0),
	}
}

// WithKeys writes img plus a segment holding the run's keys to path.
func WithKeys(img *Image, path string, hostPEM, authorizedKey []byte) (string, error) {
	b, err := os.ReadFile(img.Path)
	if err != nil {
		return "", err
	}
	buf := bytes.NewBuffer(b)
	keys := []cpio.Record{
		cpio.StaticFile(strings.TrimPrefix(protocol.HostKeyFile, "/"), string(hostPEM), 0o600),
		cpio.StaticFile(strings.TrimPrefix(protocol.AuthorizedKeyFile, "/"), string(authorizedKey), 0o644),
	}
	if err := writeSegment(buf, keys); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

func writeSegment(w io.Writer, files []cpio.Record) error {
	rw := cpio.Newc.Writer(w)
	for i := range files {
		files[i] = cpio.MakeReproducible(files[i])
	}
	if err := cpio.WriteRecordsAndDirs(rw, files); err != nil {
		return err
	}
	return cpio.WriteTrailer(rw)
}

// labBinaries are the guest programs lab builds: the agent (Go), the
// holder and unloader (C) and /init (C).
type labBinaries struct{ agent, holder, init string }

func labFiles(ctx context.Context, bins labBinaries, o Options, dir string) ([]cpio.Record, error) {
	var files []cpio.Record
	add := func(src, dst string, perm uint64) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files = append(files, cpio.StaticRecord(b, cpio.Info{Name: dst, Mode: cpio.S_IFREG | perm, FileSize: uint64(len(b))}))
		return nil
	}
	// lab's /init replaces u-root's (which would only start the agent): it
	// sets up the root as u-root's init does and runs the agent as PID 1's
	// child (see agent/init/init.c).
	for _, b := range []struct{ src, dst string }{
		{bins.init, "init"}, {bins.agent, protocol.AgentBinary}, {bins.holder, protocol.HolderBinary},
	} {
		if err := add(b.src, strings.TrimPrefix(b.dst, "/"), 0o755); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(o.Modules))
	for n := range o.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ko, err := stripDebug(ctx, o.Modules[n], dir, o.Arch)
		if err != nil {
			return nil, err
		}
		if err := add(ko, strings.TrimPrefix(protocol.ModulesDir, "/")+"/"+n+".ko", 0o644); err != nil {
			return nil, err
		}
	}
	var order []string
	for _, p := range o.BootModules {
		base := filepath.Base(p)
		if err := add(p, strings.TrimPrefix(protocol.BootModulesDir, "/")+"/"+base, 0o644); err != nil {
			return nil, err
		}
		order = append(order, base)
	}
	files = append(files, cpio.StaticFile(strings.TrimPrefix(protocol.BootModulesOrder, "/"), strings.Join(order, "\n")+"\n", 0o644))
	return files, nil
}

// buildCore builds u-root's commands once per u-root version and command
// list. gobusybox rewrites every package into a fresh directory, so Go's
// build cache does not help: this takes a minute or more.
func buildCore(ctx context.Context, o Options, dir string) (string, error) {
	out := corePath(dir, o.RepoRoot, o.Arch)
	if intact(out, o.Log) {
		return out, nil
	}
	unlock, err := safefile.Lock(ctx, out+".lock", o.Log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if intact(out, o.Log) {
		return out, nil
	}
	o.Log.Info("building u-root core commands (once per u-root version)", "commands", len(Commands))
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "lab: building u-root's core commands for the initramfs (once per u-root version, about a minute)\n")
	}
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	var pkgs []string
	for _, c := range Commands {
		pkgs = append(pkgs, urootModule+"/cmds/core/"+c)
	}
	partial := filepath.Join(tmp, "core.cpio")
	env := golang.Default(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH(o.Arch.GOARCH), golang.WithWorkingDir(o.RepoRoot))
	var logBuf bytes.Buffer
	l := llog.New(slog.LevelWarn, func(format string, args ...any) { fmt.Fprintf(&logBuf, format+"\n", args...) })
	err = uimage.Create(l,
		uimage.WithReplaceEnv(env),
		uimage.WithBaseArchive(uimage.DefaultRamfs()),
		uimage.WithBusyboxCommands(pkgs...),
		uimage.WithInit("init"),
		uimage.WithShell("gosh"),
		uimage.WithTempDir(tmp),
		uimage.WithCPIOOutput(partial),
	)
	if err != nil {
		return "", fmt.Errorf("build u-root core: %w\n%s", err, logBuf.String())
	}
	b, err := os.ReadFile(partial)
	if err != nil {
		return "", err
	}
	if err := safefile.WriteSealed(out, b); err != nil {
		return "", err
	}
	o.Log.Info("built u-root core", "path", out, "took", time.Since(start).Round(time.Second))
	return out, nil
}

// builtAgents are the agent binaries this process built, by checkout and
// cache: the agent does not depend on the kernel, and even a build Go's
// cache answers costs about 0.25 s, once per kernel of a matrix before.
var builtAgents struct {
	sync.Mutex
	paths map[[3]string]string
}

// buildAgent builds cmd/lab-agent as a static binary for the guest, once
// per process. Go's build cache makes this quick after the first time.
func buildAgent(ctx context.Context, o Options, dir string) (string, error) {
	builtAgents.Lock()
	defer builtAgents.Unlock()
	key := [3]string{o.RepoRoot, dir, o.Arch.GOARCH}
	if p, ok := builtAgents.paths[key]; ok {
		return p, nil
	}
	p, err := goBuildAgent(ctx, o, dir)
	if err != nil {
		return "", err
	}
	if builtAgents.paths == nil {
		builtAgents.paths = map[[3]string]string{}
	}
	builtAgents.paths[key] = p
	return p, nil
}

func goBuildAgent(ctx context.Context, o Options, dir string) (string, error) {
	tmp, err := os.CreateTemp(dir, "lab-agent-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp.Name(), "./cmd/lab-agent")
	cmd.Dir = o.RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build lab-agent: %v\n%s", err, out)
	}
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	out := filepath.Join(dir, "lab-agent-"+hex.EncodeToString(sum[:])[:16])
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	return out, safefile.WriteAtomic(out, b)
}

// HolderSource and InitSource are the guest's C programs, relative to the
// repo root: the holder (and unloader) and /init.
const (
	HolderSource = "internal/agent/holder/holder.c"
	InitSource   = "internal/agent/init/init.c"
)

// buildC compiles one of the guest's C programs (src, relative to the repo
// root) as a static, stripped binary with the host's C compiler (the same
// one that builds modules), cached by the hash of its flags and source as
// NAME-HASH.
func buildC(ctx context.Context, o Options, dir, src, name string) (string, error) {
	path := filepath.Join(o.RepoRoot, src)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	flags := []string{"-static", "-Os", "-s", "-Wall"}
	key := strings.Join(flags, " ") + "\n"
	cc := "gcc"
	if !o.Arch.Native() {
		// bookworm's cross compilers are versioned only
		// (gcc-12-aarch64-linux-gnu); gcc-aarch64-linux-gnu adds the
		// plain name.
		cc = o.Arch.Tool("gcc-12")
		if _, err := exec.LookPath(o.Arch.Tool("gcc")); err == nil {
			cc = o.Arch.Tool("gcc")
		}
		// An amd64 build keeps the key it always had.
		key = strings.Join(flags, " ") + " --arch=" + o.Arch.Name + "\n"
	}
	sum := sha256.Sum256(append([]byte(key), b...))
	out := filepath.Join(dir, name+"-"+hex.EncodeToString(sum[:])[:16])
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp := out + fmt.Sprintf(".tmp-%d", os.Getpid())
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, cc, append(flags, "-o", tmp, path)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		need := "gcc and libc6-dev"
		if !o.Arch.Native() {
			need = strings.Join(o.Arch.CrossPackages, " and ")
		}
		return "", fmt.Errorf("build %s for %s (needs %s): %v\n%s", src, o.Arch.Name, need, err, msg)
	}
	return out, os.Rename(tmp, out)
}

// corePath is the core archive of this u-root version, command list and
// module graph: the commands are built from repoRoot's go.mod and go.sum,
// so a dependency that changes there (a fix in gosh's line editor, say)
// makes a new archive instead of reusing the old one.
func corePath(dir, repoRoot string, a arch.Arch) string {
	h := sha256.New()
	fmt.Fprintln(h, urootVersion(), strings.Join(Commands, " "))
	if !a.Native() {
		fmt.Fprintln(h, "GOARCH", a.GOARCH) // amd64 keeps its old key
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		b, _ := os.ReadFile(filepath.Join(repoRoot, f))
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return filepath.Join(dir, "core-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio")
}

// CoreCached says where u-root's core archive of this lab lives under
// cacheDir and whether it is there, intact (lab doctor asks: building it
// takes a minute or more).
func CoreCached(cacheDir, repoRoot string, a arch.Arch) (string, bool) {
	p := corePath(filepath.Join(cacheDir, "initramfs"), repoRoot, a)
	return p, intact(p, logx.Or(nil))
}

func urootVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == urootModule {
				return d.Version
			}
		}
	}
	return "unknown"
}

// intact says whether a sealed cache entry exists and still has the content
// it was written with. A damaged entry is removed, to be built again.
func intact(path string, log *slog.Logger) bool {
	if safefile.Sealed(path) {
		return true
	}
	_, errSeal := os.Stat(safefile.SealOf(path))
	_, errFile := os.Stat(path)
	if errSeal != nil || errFile != nil {
		return false // not made yet
	}
	if log != nil {
		log.Warn("cache entry is damaged; building it again", "path", path)
	}
	os.Remove(path)
	os.Remove(safefile.SealOf(path))
	return false
}

// stripDebug returns a copy of the module ko without its debug sections,
// cached by ko's content. The guest never reads them (the kernel loads
// only allocated sections; lab symbolizes on the host, from ko itself),
// and they were most of the initramfs's modules: ~400 KiB a module,
// ~20 KiB stripped, every byte copied into and unpacked by each boot.
func stripDebug(ctx context.Context, ko, dir string, a arch.Arch) (string, error) {
	b, err := os.ReadFile(ko)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	out := filepath.Join(dir, "ko-"+hex.EncodeToString(sum[:])[:16]+".ko")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tmp := out + fmt.Sprintf(".tmp-%d", os.Getpid())
	defer os.Remove(tmp)
	// The host's objcopy knows only its own architecture's relocations.
	cmd := exec.CommandContext(ctx, a.Tool("objcopy"), "--strip-debug", ko, tmp)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("strip %s (needs binutils' %s): %v\n%s", ko, a.Tool("objcopy"), err, msg)
	}
	return out, os.Rename(tmp, out)
}
