//go:build tools

// This file keeps the u-root commands that lab packs into every initramfs in
// go.mod: u-root builds them in module mode from this module's requirements.
// It also pins actionlint, which `make check` runs on the CI workflow, so
// every checkout lints with the same version.
//
// bubbletea is gosh's line editor's (bubbline) terminal library, required
// here at v0.25.0 or later: v0.24 could deadlock as a program quit (its
// renderer's stop held a mutex while its ticker goroutine waited for it;
// charmbracelet/bubbletea#741, fixed in #757). Under TCG that hit about one
// lab shell command line in five: after Enter, nothing more came.
package tools

import (
	_ "github.com/charmbracelet/bubbletea"
	_ "github.com/rhysd/actionlint/cmd/actionlint"
	_ "github.com/u-root/u-root/cmds/core/cat"
	_ "github.com/u-root/u-root/cmds/core/dmesg"
	_ "github.com/u-root/u-root/cmds/core/echo"
	_ "github.com/u-root/u-root/cmds/core/gosh"
	_ "github.com/u-root/u-root/cmds/core/grep"
	_ "github.com/u-root/u-root/cmds/core/init"
	_ "github.com/u-root/u-root/cmds/core/insmod"
	_ "github.com/u-root/u-root/cmds/core/ip"
	_ "github.com/u-root/u-root/cmds/core/kill"
	_ "github.com/u-root/u-root/cmds/core/ls"
	_ "github.com/u-root/u-root/cmds/core/lsmod"
	_ "github.com/u-root/u-root/cmds/core/mknod"
	_ "github.com/u-root/u-root/cmds/core/mount"
	_ "github.com/u-root/u-root/cmds/core/ps"
	_ "github.com/u-root/u-root/cmds/core/rmmod"
	_ "github.com/u-root/u-root/cmds/core/sleep"
)
