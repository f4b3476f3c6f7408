package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeCheckout makes a directory with lab's go.mod and the given folders.
func fakeCheckout(t *testing.T, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+ModulePath+"\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFindCheckoutFromWorkingDirectory(t *testing.T) {
	root := fakeCheckout(t, "experiments/sub")
	t.Chdir(filepath.Join(root, "experiments", "sub"))
	tr, err := Find(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Module != root || tr.Project != root || tr.Installed {
		t.Errorf("Find = %+v; want module and project %s, not installed", tr, root)
	}
	if got := tr.ExperimentDirs(); !slices.Equal(got, []string{filepath.Join(root, "experiments")}) {
		t.Errorf("ExperimentDirs = %q; want the checkout's only", got)
	}
	if got := tr.ProjectKmods(); got != nil {
		t.Errorf("ProjectKmods = %q; want none in a checkout (its kmods/ is lab's own)", got)
	}
}

func TestFindRootMustBeLab(t *testing.T) {
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	_, err := Find(context.Background(), Options{Root: other})
	if err == nil || !strings.Contains(err.Error(), "--root") || !strings.Contains(err.Error(), ModulePath) {
		t.Errorf("Find(--root %s) error = %v; want one naming --root and lab's module", other, err)
	}
}

// A go.mod of another module above the working directory is not lab's: a
// user's project that is itself a Go module must not be taken for lab.
func TestFindIgnoresOtherModules(t *testing.T) {
	proj := t.TempDir()
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/mydriver\n"), 0o644)
	if dir, ok := checkoutAbove(proj); ok {
		t.Errorf("checkoutAbove(%s) = %s; want none", proj, dir)
	}
	lab := fakeCheckout(t)
	os.MkdirAll(filepath.Join(lab, "a", "b"), 0o755)
	if dir, ok := checkoutAbove(filepath.Join(lab, "a", "b")); !ok || dir != lab {
		t.Errorf("checkoutAbove(inside lab) = %q, %v; want %s", dir, ok, lab)
	}
}

// A project's folders come before lab's own for experiments and images,
// and beside them for kernel modules.
func TestLayeredProject(t *testing.T) {
	lab := fakeCheckout(t, "experiments", "images", "kmods")
	proj := t.TempDir()
	os.MkdirAll(filepath.Join(proj, "experiments"), 0o755)
	os.MkdirAll(filepath.Join(proj, "kmods"), 0o755)
	tr, err := Find(context.Background(), Options{Root: lab, Project: proj})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tr.ExperimentDirs(), []string{filepath.Join(proj, "experiments"), filepath.Join(lab, "experiments")}; !slices.Equal(got, want) {
		t.Errorf("ExperimentDirs = %q; want %q", got, want)
	}
	// The project has no images/: lab's own only.
	if got, want := tr.ImageDirs(), []string{filepath.Join(lab, "images")}; !slices.Equal(got, want) {
		t.Errorf("ImageDirs = %q; want %q", got, want)
	}
	if got, want := tr.ProjectKmods(), []string{filepath.Join(proj, "kmods")}; !slices.Equal(got, want) {
		t.Errorf("ProjectKmods = %q; want %q", got, want)
	}
	if got, want := tr.AddedImagesDir(), filepath.Join(proj, "images"); got != want {
		t.Errorf("AddedImagesDir = %s; want %s", got, want)
	}
	if got, want := tr.ResultsDir(), filepath.Join(proj, "results"); got != want {
		t.Errorf("ResultsDir = %s; want %s", got, want)
	}
}

// A test binary is built from a checkout, not installed by version:
// outside the checkout it must say so and how to fix it, not guess.
func TestFindOutsideCheckoutBuiltFromCheckout(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Find(context.Background(), Options{})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "go install "+ModulePath+"/cmd/lab@") {
		t.Errorf("Find outside the checkout = %v; want ErrNotInstalled with the go install command", err)
	}
}

// go mod download's own error reaches the user with the module named.
func TestDownloadError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOMODCACHE", t.TempDir())
	_, err := download(context.Background(), ModulePath+"@v0.0.0-nothere")
	if err == nil || !strings.Contains(err.Error(), ModulePath+"@v0.0.0-nothere") {
		t.Errorf("download of a version nowhere = %v; want an error naming it", err)
	}
}
