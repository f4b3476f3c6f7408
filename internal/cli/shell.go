package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/agentclient"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/runner"
)

// shellCmd is lab shell: an interactive shell in a guest, for looking
// around by hand with the lab's kernel and modules.
func (g *globals) shellCmd() *cobra.Command {
	f := &runFlags{}
	var kernel string
	var load []string
	c := &cobra.Command{
		Use:   "shell",
		Short: "an interactive shell in a guest (u-root's gosh), with modules loaded; the VM stops when it exits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.accelSource = accelSource(cmd)
			return g.shell(cmd.Context(), f, kernel, load)
		},
	}
	c.Flags().StringVarP(&kernel, "kernel", "k", DefaultKernel, "kernel image (a name in images/)")
	c.Flags().StringSliceVar(&load, "load", nil, "modules to load before the shell starts (from kmods/ or --kmods); repeatable")
	c.Flags().StringVar(&g.accel, "accel", accelDefault(), usageAccel)
	c.Flags().StringVar(&g.qemu, "qemu", "qemu-system-x86_64", usageQEMU)
	c.Flags().StringVar(&g.resultsDir, "results", "", usageResults)
	c.Flags().StringArrayVar(&f.kmods, "kmods", nil, "your module directory, built beside lab's kmods/; repeatable")
	c.Flags().BoolVar(&f.gdb, "gdb", false, "start QEMU's gdbstub on 127.0.0.1 (and nokaslr), pause before the kernel starts and print the gdb command")
	c.Flags().IntVar(&f.gdbStep, "gdb-step", 0, "with --gdb (implied): pause before loading the Nth --load module instead")
	return c
}

func (g *globals) shell(parent context.Context, f *runFlags, kernel string, load []string) error {
	if err := g.checkAccel(); err != nil {
		return err
	}
	tree, cache, err := g.treeAndCache(parent)
	if err != nil {
		return err
	}
	declared, err := f.layerKmods(tree)
	if err != nil {
		return err
	}
	for _, m := range load {
		if _, ok := declared[m]; !ok {
			return fmt.Errorf("--load %s: no Kbuild file in kmods/ or a --kmods directory builds it", m)
		}
	}
	specs, err := g.images(tree, []string{kernel})
	if err != nil {
		return err
	}
	if f.gdbStep != 0 {
		f.gdb = true
	}
	if f.gdbStep < 0 || f.gdbStep > len(load) {
		return fmt.Errorf("--gdb-step %d: the shell's steps are its %d --load modules; give 1 to %d", f.gdbStep, len(load), len(load))
	}
	resultsDir := g.resultsFor(tree)
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	o := runner.Options{
		RepoRoot: tree.Module, CacheDir: cache, Mirror: g.mirror, SecurityMirror: g.securityMirror,
		SnapshotMirror: g.snapshotMirror, Kmods: f.kmods, Accel: g.accel, QEMU: g.qemu,
		Progress: g.stderr, Log: g.logger(), LabVersion: tree.Version,
		GDB: f.gdb, GDBStep: f.gdbStep, Commands: true, // gosh and what is typed there
	}
	p, err := runner.Prepare(ctx, o, specs[0])
	if err != nil {
		return err
	}
	runID := results.NewRunID(time.Now())
	runDir, err := results.RunDir(resultsDir, runID)
	if err != nil {
		return err
	}
	sio, restore := terminalIO(os.Stdin, g.stdout)
	defer restore()
	code, dir, err := runner.Shell(ctx, o, p, load, runID, runDir, sio)
	restore()
	if dir != "" {
		fmt.Fprintf(g.stderr, "lab: the VM is stopped; console log: %s\n", filepath.Join(dir, "console.log"))
	}
	if err != nil {
		return err
	}
	g.exit = min(code, 255)
	return nil
}

// checkAccel is lab run's early check of --accel.
func (g *globals) checkAccel() error {
	if err := accel.Validate(g.accel, nil); err != nil {
		return fmt.Errorf("%s: %w", g.accelSource, err)
	}
	return nil
}

// terminalIO connects the shell to the host terminal. On a terminal it
// switches it to raw mode, so every key (Ctrl-C, Ctrl-D, arrows) goes to
// the guest's pty and the guest's line discipline acts on it, and it
// forwards the terminal's size as it changes. restore undoes raw mode; it
// may be called more than once.
func terminalIO(in *os.File, out io.Writer) (runner.ShellIO, func()) {
	sio := runner.ShellIO{Stdin: in, Stdout: out, Term: os.Getenv("TERM"), Size: agentclient.WinSize{Cols: 80, Rows: 24}}
	if sio.Term == "" {
		sio.Term = "vt100"
	}
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return sio, func() {}
	}
	if w, h, err := term.GetSize(fd); err == nil {
		sio.Size = agentclient.WinSize{Cols: w, Rows: h}
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return sio, func() {}
	}
	resize := make(chan agentclient.WinSize, 1)
	sio.Resize = resize
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				if w, h, err := term.GetSize(fd); err == nil {
					select {
					case resize <- agentclient.WinSize{Cols: w, Rows: h}:
					default:
					}
				}
			case <-done:
				return
			}
		}
	}()
	restored := false
	return sio, func() {
		if restored {
			return
		}
		restored = true
		signal.Stop(winch)
		close(done)
		term.Restore(fd, old)
	}
}
