package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/image"
)

// The docs cannot drift from the code: each test here fails when README or
// docs/ say something the code does not do.

// TestReadmeKernelTable: README's table of kernel images is what lab
// images --markdown prints from images/*.lock.
func TestReadmeKernelTable(t *testing.T) {
	specs, err := image.LoadDir(filepath.Join("..", "..", "images"))
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	imagesMarkdown(&table, specs)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, table.Bytes()) {
		t.Errorf("README.md's kernel table is not what lab images --markdown prints from the locks; replace it with:\n%s", table.String())
	}
}

// allFlags are every flag of every lab command, by name (the last
// command's of a name several have); each is every command's.
func allFlags() map[string]*pflag.Flag {
	out := map[string]*pflag.Flag{}
	for name, fs := range eachFlag() {
		out[name] = fs[len(fs)-1]
	}
	return out
}

func eachFlag() map[string][]*pflag.Flag {
	g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	out := map[string][]*pflag.Flag{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { out[f.Name] = append(out[f.Name], f) }
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(g.newRoot())
	return out
}

// foreignFlags are flags the docs name that belong to other programs.
var foreignFlags = map[string]string{
	"version":                "qemu-system-x86_64 --version",
	"no-install-recommends":  "apt-get install",
	"workflow":               "gh run list, in docs/ci.md",
	"status":                 "gh run list",
	"branch":                 "gh run list",
	"unload":                 "lab-holder --unload, the guest's C helper",
	"spare":                  "lab-holder --spare",
	"keep-directory-symlink": "tar, in a note on unpacking headers",
}

// TestDocsNameRealFlags: every --flag README.md and docs/*.md name is a
// flag of some lab command (or, listed above, another program's).
func TestDocsNameRealFlags(t *testing.T) {
	flags := allFlags()
	docs, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	docs = append(docs, filepath.Join("..", "..", "README.md"))
	re := regexp.MustCompile(`(?:^|[\s(\x60\[])--([a-z][a-z0-9-]*[a-z0-9])`)
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := flags[m[1]]; !ok && foreignFlags[m[1]] == "" {
				t.Errorf("%s names --%s, which no lab command has", filepath.Base(doc), m[1])
			}
		}
	}
}

// TestFlagHelp: cobra takes a back-quoted word of a flag's usage as its
// value name (--shard I/N), so a back quote must hold just that; and a flag
// that an environment variable sets says so in its help.
func TestFlagHelp(t *testing.T) {
	flags := allFlags()
	for name, f := range flags {
		if strings.Count(f.Usage, "`") > 2 {
			t.Errorf("--%s: usage has more than one back-quoted word: %q", name, f.Usage)
		}
		if v, _ := pflag.UnquoteUsage(f); strings.ContainsAny(v, " -") {
			t.Errorf("--%s: value name %q is not one word (a back-quoted phrase in its usage)", name, v)
		}
	}
	for name, env := range map[string]string{
		"cache": image.EnvCache, "mirror": image.EnvMirror, "security-mirror": image.EnvSecurityMirror,
		"snapshot-mirror": image.EnvSnapshotMirror, "accel": accel.EnvAccel,
	} {
		if f := flags[name]; f == nil || !strings.Contains(f.Usage, "$"+env) {
			t.Errorf("--%s: its help does not say $%s sets it", name, env)
		}
	}
	for name, want := range map[string]string{"shard": "I/N", "merge": "OUT"} {
		if v, _ := pflag.UnquoteUsage(flags[name]); v != want {
			t.Errorf("--%s renders as --%s %s; want --%s %s", name, name, v, name, want)
		}
	}
	// One help text per flag that means the same on every command.
	for name, fs := range eachFlag() {
		if !slices.Contains([]string{"accel", "qemu", "results", "cache", "mirror", "locked", "cold", "timeout", "run-timeout", "dump"}, name) {
			continue
		}
		for _, f := range fs[1:] {
			if f.Usage != fs[0].Usage {
				t.Errorf("--%s has two help texts: %q and %q", name, fs[0].Usage, f.Usage)
			}
		}
	}
}
