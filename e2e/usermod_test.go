package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestUserModule runs README's "your own module" example as a user would:
// the module's directory and the experiment file live outside lab's tree;
// lab builds the module with the kernel's headers and compiler, loads it,
// and names the addresses of its oops with the module's own symbols.
func TestUserModule(t *testing.T) {
	needVM(t)
	home := t.TempDir()
	src := filepath.Join("..", "docs", "examples", "mydrv")
	mod := filepath.Join(home, "mydrv")
	if err := os.Mkdir(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"mydrv.c", "Makefile"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(mod, f), b, 0o644)
	}
	exp := filepath.Join(home, "mydrv-rmmod.yaml")
	b, err := os.ReadFile(filepath.Join(src, "mydrv-rmmod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(exp, b, 0o644)

	code, _, dir := runLab(t, "run", "--kmods", mod, exp)
	r := readResult(t, dir, "debian-6.1", "mydrv-rmmod")
	if code != 0 || r.Verdict != results.Pass {
		t.Fatalf("lab run --kmods %s %s = exit %d, verdict %s (%s%s)", mod, exp, code, r.Verdict, r.Reason, r.Error)
	}
	if s := step(t, r, 5, "read", "A"); !s.NoAnswer {
		t.Errorf("step 5: read after rmmod answered: %+v", s)
	}
	named := false
	for _, o := range r.Oopses {
		for _, x := range o.Resolved {
			if x.Module == "mydrv" && x.Unloaded && strings.HasPrefix(x.Symbol, "mydrv_fops") {
				named = true
			}
		}
	}
	if !named {
		t.Errorf("no oops address named mydrv:mydrv_fops (module unloaded): %+v", r.Oopses)
	}
	found := false
	for _, l := range r.Modules {
		found = found || l.Name == "mydrv"
	}
	if !found {
		t.Errorf("no layout recorded for mydrv: %+v", r.Modules)
	}
}
