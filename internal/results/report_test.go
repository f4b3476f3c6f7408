package results

import (
	"bytes"
	"encoding/xml"
	stdhtml "html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

func sampleMatrix() *Matrix {
	unsafe61 := &Result{Experiment: "chardev-unsafe", Kernel: Kernel{Name: "debian-6.1"}, Verdict: Pass,
		Steps: []Step{{Index: 4, Action: "unload", OK: true}, {Index: 5, Action: "read", NoAnswer: true}},
		Oopses: []evidence.Report{{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault in vfs_read", RIP: "vfs_read+0x8a/0x310",
			Text:     []string{"BUG: unable to handle page fault for address: ffffffffc0483190", "<script>alert(1)</script>"},
			Resolved: []evidence.Resolved{{What: "CR2", Address: "ffffffffc0483190", Symbol: "fops+0x10", Module: "chardev_unsafe", Unloaded: true, UnloadedBefore: 0.05}}}},
		Processes: []Process{{Comm: "holder-A", State: "X (dead)"}},
		Notes:     []string{"holder-A is still D & never reported"},
		TimingsMS: map[string]int64{"boot": 6000, "total": 11000}}
	unsafe510 := &Result{Experiment: "chardev-unsafe", Kernel: Kernel{Name: "debian-5.10"}, Verdict: Fail, Reason: "step 6: process state: want X, got D (disk sleep)",
		Steps:     []Step{{Index: 4, Action: "unload", OK: true}, {Index: 5, Action: "read", NoAnswer: true, Process: &StepProcess{State: "D (disk sleep)"}}},
		Oopses:    []evidence.Report{{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault in vfs_read", RIP: "vfs_read+0x5b/0x1a0"}},
		Processes: []Process{{Comm: "holder-A", State: "D (disk sleep)"}}}
	safe61 := &Result{Experiment: "chardev-safe", Kernel: Kernel{Name: "debian-6.1"}, Verdict: Pass,
		Steps: []Step{{Index: 4, Action: "unload", OK: false, Errno: "EAGAIN"}}}
	safe612 := &Result{Experiment: "chardev-safe", Kernel: Kernel{Name: "debian-6.12"}, Verdict: Error, ErrorKind: KindGuestHang, Error: "step 3: the guest did not answer"}
	run := &Run{RunID: "r1", Kernels: []string{"debian-6.12", "debian-6.1", "debian-5.10"}, Experiments: []string{"chardev-safe", "chardev-unsafe"}}
	return NewMatrix(run, []*Result{unsafe61, unsafe510, safe61, safe612})
}

func TestMatrixLayout(t *testing.T) {
	m := sampleMatrix()
	if got := strings.Join(m.Kernels, " "); got != "debian-5.10 debian-6.1 debian-6.12" {
		t.Errorf("Kernels = %s; want sorted by version", got)
	}
	for _, tc := range []struct{ e, k, want string }{
		{"chardev-safe", "debian-6.1", "rmmod EAGAIN"},
		{"chardev-unsafe", "debian-6.1", "oops: page fault in vfs_read, holder-A X"},
		{"chardev-unsafe", "debian-5.10", "oops: page fault in vfs_read, holder-A D"},
		{"chardev-safe", "debian-6.12", "error: guest-hang"},
		{"chardev-safe", "debian-5.10", "not run"},
	} {
		if got := Observation(m.Cell(tc.e, tc.k)); got != tc.want {
			t.Errorf("Observation(%s, %s) = %q; want %q", tc.e, tc.k, got, tc.want)
		}
	}
	ds := m.Differences()
	if len(ds) != 2 || ds[1].Experiment != "chardev-unsafe" || !strings.Contains(ds[1].Says[0], "holder-A D") || !strings.Contains(ds[1].Says[1], "holder-A X") {
		t.Errorf("Differences() = %+v; want chardev-safe and chardev-unsafe (D on 5.10, X on 6.1)", ds)
	}
}

func TestReports(t *testing.T) {
	m := sampleMatrix()
	dir := t.TempDir()
	if err := WriteReports(dir, m); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if bytes.Contains(html, []byte("<script>alert(1)</script>")) || !bytes.Contains(html, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) {
		t.Errorf("report.html does not escape console text")
	}
	// As a browser shows it (html/template writes + as &#43;).
	shown := stdhtml.UnescapeString(string(html))
	for _, want := range []string{"CR2 ffffffffc0483190 = chardev_unsafe:fops+0x10 (module unloaded 0.05 s before)", "Note: holder-A is still D & never reported"} {
		if !strings.Contains(shown, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if n := bytes.Count(html, []byte(`<td class="cell `)); n != 6 {
		t.Errorf("report.html has %d matrix cells; want 3 kernels x 2 experiments = 6", n)
	}
	// The timeline's SVG names its namespace, which is a name, not a link.
	self := bytes.ReplaceAll(html, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil)
	if bytes.Contains(self, []byte("http://")) || bytes.Contains(self, []byte("https://")) || bytes.Contains(self, []byte("<script")) {
		t.Errorf("report.html must be self-contained, with no links out and no scripts")
	}
	var junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Cases    []struct {
			Name string `xml:"name,attr"`
		} `xml:"testcase"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err := xml.Unmarshal(b, &junit); err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	if junit.Tests != 6 || junit.Failures != 1 || junit.Errors != 1 || junit.Skipped != 2 || len(junit.Cases) != 6 {
		t.Errorf("junit = %d tests, %d failures, %d errors, %d skipped; want 6, 1, 1, 2", junit.Tests, junit.Failures, junit.Errors, junit.Skipped)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"| experiment | debian-5.10 | debian-6.1 | debian-6.12 |", "incomplete run", "## Where kernels differ", "chardev-unsafe on debian-5.10: fail"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	var table bytes.Buffer
	Table(&table, m)
	if !strings.Contains(table.String(), "PASS: rmmod EAGAIN") || !strings.Contains(table.String(), "2 pass, 1 fail, 1 error, 2 not run") {
		t.Errorf("Table = \n%s", table.String())
	}
}

func TestWriteAtomicLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, &Result{Experiment: "x"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "result.json" {
		t.Errorf("dir after Write = %v; want only result.json", entries)
	}
	r, err := Read(filepath.Join(dir, "result.json"))
	if err != nil || r.Schema != Schema {
		t.Errorf("Read = %+v, %v; want schema %d", r, err, Schema)
	}
}

// TestPartialRun reads a run that stopped half way (run.json incomplete,
// one planned cell without a result) and rebuilds its reports.
func TestPartialRun(t *testing.T) {
	dir := t.TempDir()
	run := &Run{RunID: "r2", Kernels: []string{"debian-6.1"}, Experiments: []string{"chardev-safe", "chardev-unsafe"}}
	if err := WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	cell, _ := CellDir(dir, "debian-6.1", "chardev-safe")
	if err := Write(cell, &Result{Experiment: "chardev-safe", Kernel: Kernel{Name: "debian-6.1"}, Verdict: Pass}); err != nil {
		t.Fatal(err)
	}
	got, rs, err := LoadRun(dir)
	if err != nil || got.Complete || len(rs) != 1 {
		t.Fatalf("LoadRun = %+v, %d results, %v; want incomplete with 1 result", got, len(rs), err)
	}
	m := NewMatrix(got, rs)
	if c := m.Counts(); c[Pass] != 1 || c["missing"] != 1 {
		t.Errorf("Counts() = %v; want 1 pass, 1 missing", c)
	}
	if err := WriteReports(dir, m); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(cell); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("cell directory mode = %v, %v; want 0700", st.Mode().Perm(), err)
	}
}

// TestKernelBuilds: report.md says which build each kernel ran and how it
// relates to its lock.
func TestKernelBuilds(t *testing.T) {
	m := sampleMatrix()
	followed := m.Cell("chardev-unsafe", "debian-6.1")
	followed.Kernel.Release, followed.Kernel.PackageVersion = "6.1.0-57-amd64", "6.1.192-3"
	followed.Provenance.Lock = &LockProvenance{
		LockedRelease: "6.1.0-56-amd64", Followed: true,
		Locked:   map[string]string{"linux-kbuild-6.1": "6.1.192-2"},
		Resolved: map[string]string{"linux-kbuild-6.1": "6.1.192-3"},
		Note:     "debian-6.1: locked 6.1.192-2 is gone; running 6.1.192-3",
	}
	locked := m.Cell("chardev-unsafe", "debian-5.10")
	locked.Kernel.Release, locked.Kernel.PackageVersion = "5.10.0-32-amd64", "5.10.223-1"
	locked.Provenance.Lock = &LockProvenance{Locked: map[string]string{"x": "1"}, Resolved: map[string]string{"x": "1"}}
	want := []string{
		"debian-5.10: 5.10.223-1 (5.10.0-32-amd64), as locked",
		"debian-6.1: 6.1.192-3 (6.1.0-57-amd64); locked 6.1.192-2 is gone; running 6.1.192-3",
	}
	if got := m.Builds(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Builds() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var md bytes.Buffer
	if err := Markdown(&md, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "## Kernel builds\n\n- debian-5.10: 5.10.223-1 (5.10.0-32-amd64), as locked\n- debian-6.1: 6.1.192-3") {
		t.Errorf("report.md lacks the kernel builds:\n%s", md.String())
	}
}
