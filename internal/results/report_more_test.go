package results

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarkdownEscapesKernelText: kernel text in a cell or a reason cannot
// break report.md's table or inject markup.
func TestMarkdownEscapesKernelText(t *testing.T) {
	if got := mdEscape("a|b\nc <x> `d` *e* _f_ [g](h)"); got != `a\|b c &lt;x&gt; 'd' \*e\* \_f\_ \[g\](h)` {
		t.Errorf("mdEscape = %q", got)
	}
	r := &Result{Experiment: "e|x", Kernel: Kernel{Name: "k"}, Verdict: Error, ErrorKind: KindQEMUExited, Error: "qemu said: *boom*\nsecond line"}
	m := NewMatrix(&Run{RunID: "r", Complete: true}, []*Result{r})
	m.Sections = []Section{{Title: "Empty", Intro: "nothing | changed"}}
	var b strings.Builder
	if err := Markdown(&b, m); err != nil {
		t.Fatal(err)
	}
	want := "# lab run r\n\n0 pass, 0 fail, 1 error\n\n" +
		"## Empty\n\nnothing \\| changed\n\n" +
		"| experiment | k |\n|---|---|\n" +
		"| e\\|x | ⚠️ ERROR: error: qemu-exited |\n" +
		"\n## Not passing\n\n- e\\|x on k: error — qemu-exited: qemu said: \\*boom\\*\n"
	if b.String() != want {
		t.Errorf("report.md:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestJUnitCases: each cell is a testcase whose outcome a CI reads: a
// fail with its reason, an error with its kind, a missing cell skipped,
// times in seconds, and what the kernel did as its output.
func TestJUnitCases(t *testing.T) {
	pass := &Result{Experiment: "a", Kernel: Kernel{Name: "k1"}, Verdict: Pass, TimingsMS: map[string]int64{"total": 1500}}
	fail := &Result{Experiment: "a", Kernel: Kernel{Name: "k2"}, Verdict: Fail, Reason: "step 2: want EIO", Steps: []Step{{Action: "read", Errno: "EBUSY"}}}
	errd := &Result{Experiment: "b", Kernel: Kernel{Name: "k1"}, Verdict: Error, ErrorKind: KindGuestHang, Error: "the guest did not answer"}
	m := NewMatrix(&Run{RunID: "r9"}, []*Result{pass, fail, errd})
	var b strings.Builder
	if err := JUnit(&b, m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), xml.Header+"<testsuite name=\"lab r9\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\">\n") || !strings.HasSuffix(b.String(), "</testsuite>\n") {
		t.Errorf("junit.xml:\n%s", b.String())
	}
	var suite struct {
		Cases []struct {
			Name      string  `xml:"name,attr"`
			Classname string  `xml:"classname,attr"`
			Time      float64 `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Out string `xml:"system-out"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal([]byte(b.String()), &suite); err != nil {
		t.Fatal(err)
	}
	if len(suite.Cases) != 4 {
		t.Fatalf("%d testcases; want 4", len(suite.Cases))
	}
	c := suite.Cases
	if c[0].Name != "a" || c[0].Classname != "lab.k1" || c[0].Time != 1.5 || c[0].Failure != nil || c[0].Error != nil || c[0].Skipped != nil || c[0].Out != "as expected, nothing reported" {
		t.Errorf("pass case = %+v", c[0])
	}
	if f := c[1].Failure; f == nil || f.Message != "step 2: want EIO" || f.Type != "fail" || f.Text != "read EBUSY" || c[1].Out != "read EBUSY" {
		t.Errorf("fail case = %+v", c[1])
	}
	if e := c[2].Error; e == nil || e.Message != KindGuestHang || e.Type != KindGuestHang || e.Text != "the guest did not answer" || c[2].Out != "error: guest-hang" {
		t.Errorf("error case = %+v", c[2])
	}
	if s := c[3].Skipped; s == nil || s.Message != "not run (incomplete run)" || c[3].Name != "b" || c[3].Classname != "lab.k2" || c[3].Time != 0 || c[3].Out != "" {
		t.Errorf("missing case = %+v", c[3])
	}
}

// TestWriteReportsFailsWhereItCannotWrite: a report that cannot be
// written is an error, not a silent gap.
func TestWriteReportsFailsWhereItCannotWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if err := WriteReports(dir, NewMatrix(&Run{RunID: "r"}, nil)); err == nil {
		t.Error("WriteReports into a missing directory succeeded")
	}
	ok := t.TempDir()
	if err := WriteReports(ok, NewMatrix(&Run{RunID: "r", Complete: true}, nil)); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(ok, "report.md"))
	if string(md) != "# lab run r\n\n0 pass, 0 fail, 0 error\n\n| experiment |\n|---|\n" {
		t.Errorf("report.md of an empty run = %q", md)
	}
}
