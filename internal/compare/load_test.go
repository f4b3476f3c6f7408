package compare

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTwoResultFilesPairWhateverTheyHold: lab diff of two result.json
// files compares them even when kernel and experiment differ; B's image
// names the cell, A's is the one it was compared against.
func TestTwoResultFilesPairWhateverTheyHold(t *testing.T) {
	a := load(t, "testdata/run-a/debian-6.1/chardev-unsafe/result.json")
	b := load(t, "testdata/run-b/debian-7.2/chardev-unsafe/result.json")
	if !a.Single || len(a.Cells) != 1 {
		t.Fatalf("a result.json loads as %d cells, single %v; want one cell, single", len(a.Cells), a.Single)
	}
	rep, err := Compare(a, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 1 {
		t.Fatalf("cells %+v; want the two files paired into one", rep.Cells)
	}
	c := rep.Cells[0]
	want := []string{"report: page fault in filp_close → page fault in filp_flush"}
	if c.Name() != "chardev-unsafe on debian-7.2 (against debian-6.1)" || c.Status != Changed || !slices.Equal(texts(c), want) {
		t.Errorf("%s: %s %q; want chardev-unsafe on debian-7.2 (against debian-6.1) changed %q", c.Name(), c.Status, texts(c), want)
	}
	// A result file against a run directory pairs by cell, as two runs do.
	rep, err = Compare(a, load(t, "testdata/run-b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Count(); n[Same] != 1 || n[New] != 5 || len(rep.Cells) != 6 {
		t.Errorf("result.json against a run: %v; want 1 same, 5 new", n)
	}
}

func TestLoadErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noExp := write("no-exp.json", `{"schema": 1, "verdict": "pass", "kernel": {"name": "debian-6.1"}}`)
	noVerdict := write("no-verdict.json", `{"schema": 1, "experiment": "chardev-unsafe", "kernel": {"name": "debian-6.1"}}`)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), filepath.Join(dir, "missing") + ": no such run directory or result.json"},
		{noExp, noExp + ": not a lab result.json (no experiment or verdict)"},
		{noVerdict, noVerdict + ": not a lab result.json (no experiment or verdict)"},
		{empty, empty + " is not a lab run: it has no <kernel>/<experiment>/result.json"},
		{"testdata/run-a/debian-6.1/chardev-unsafe", "testdata/run-a/debian-6.1/chardev-unsafe is a cell's directory, not a run's: give its result.json, or the run directory two levels up"},
	} {
		s, err := Load(tc.path)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Load(%s) = %+v, %v\nwant error %s", tc.path, s, err, tc.want)
		}
	}
	if _, err := Load(write("bad.json", `{"schema": 1,`)); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("a broken result.json: %v; want an error naming it", err)
	}
}
