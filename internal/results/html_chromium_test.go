package results

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHTMLInChromium renders report.html in headless Chromium (installed by
// scripts/setup.sh) and counts the matrix cells in the DOM the browser
// built: one per experiment and kernel.
func TestHTMLInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("needs chromium; skipped with -short")
	}
	m := sampleMatrix()
	out := inChromium(t, m, "1200,900", "LAB_KEEP_SCREENSHOT")
	cells := regexp.MustCompile(`<td class="cell (pass|fail|error|missing)"`).FindAll(out, -1)
	if want := len(m.Kernels) * len(m.Experiments); len(cells) != want {
		t.Errorf("rendered matrix has %d cells; want %d (one per experiment and kernel)", len(cells), want)
	}
	if !regexp.MustCompile(`<table class="matrix" id="matrix">`).Match(out) {
		t.Errorf("rendered DOM has no matrix table")
	}
}

// TestTimelineInChromium renders a report whose cell has a timeline (the
// real chardev-unsafe run, steps placed on the kernel log's clock) and
// checks that the DOM Chromium built holds the inline <svg> with a marker
// per kernel report, each with its title as hover text. LAB_KEEP_TIMELINE
// names a file to keep the screenshot in, for a person to look at.
func TestTimelineInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("needs chromium; skipped with -short")
	}
	r := chardevUnsafe(t)
	m := NewMatrix(&Run{RunID: "timeline", Complete: true, Kernels: []string{r.Kernel.Name}, Experiments: []string{r.Experiment}}, []*Result{r})
	out := inChromium(t, m, "1000,720", "LAB_KEEP_TIMELINE")
	svg := regexp.MustCompile(`(?s)<svg [^>]*class="timeline".*?</svg>`).Find(out)
	if svg == nil {
		t.Fatalf("rendered DOM has no timeline <svg>")
	}
	if n := len(regexp.MustCompile(`<g class="report"`).FindAll(svg, -1)); n != len(r.Oopses) {
		t.Errorf("timeline in the DOM has %d report markers; want %d", n, len(r.Oopses))
	}
	for _, o := range r.Oopses {
		if n := strings.Count(string(svg), "<title>"+o.Title); n != 1 {
			t.Errorf("timeline in the DOM has %d <title>s for %q; want 1", n, o.Title)
		}
	}
	if n := len(regexp.MustCompile(`<rect class="bar"`).FindAll(svg, -1)); n != len(r.Steps) {
		t.Errorf("timeline in the DOM has %d step bars; want %d", n, len(r.Steps))
	}
}

// inChromium writes m's reports, has headless Chromium (installed by
// scripts/setup.sh) build report.html's DOM and take a screenshot of the
// given window size (which must not be blank), and returns the DOM; keep
// names an environment variable that, when set, names a file to keep the
// screenshot in for a person to look at.
func inChromium(t *testing.T, m *Matrix, window, keep string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found: run scripts/setup.sh (apt-get install chromium)")
	}
	dir := t.TempDir()
	if err := WriteReports(dir, m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	page := "file://" + filepath.Join(dir, "report.html")
	dom, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	shot := filepath.Join(dir, "report.png")
	if err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, "--window-size="+window, page)...).Run(); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %s missing or blank: %v", shot, err)
	}
	if path := os.Getenv(keep); path != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(path, b, 0o644)
	}
	return dom
}
