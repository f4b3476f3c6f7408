package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/corpus holds real crash logs collected from public sources
// (syzkaller's report testdata, issue threads, mailing lists), each with
// NAME.source beside it naming where it came from, and "# want:" lines
// written by hand from reading the log before the parser ever saw it:
// the kind, the guilty function by the syzbot convention, and the title.
// A log named clean-*.log has no crash and wants no report.
//
// TestCorpus measures agreement rather than demanding it: a real log may
// hold a report whose convention lab does not follow yet. It fails when
// agreement drops below the floors, which are the figures reached when
// they were set, so that a regression shows.
const (
	floorDetection = 1.00 // logs with a crash where lab found a report
	floorKind      = 1.00 // first reports of the wanted kind
	floorFunction  = 1.00 // first reports blaming the wanted function
)

func TestCorpus(t *testing.T) {
	logs, err := filepath.Glob("testdata/corpus/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no corpus logs: %v", err)
	}
	var crashes, detected, kinds, funcs, clean int
	for _, log := range logs {
		name := filepath.Base(log)
		if _, err := os.Stat(strings.TrimSuffix(log, ".log") + ".source"); err != nil {
			t.Errorf("%s has no .source sidecar naming where it came from", log)
		}
		in, ws := readLog(t, log)
		got := ParseBytes(in)
		if strings.HasPrefix(name, "clean-") {
			clean++
			for _, o := range got {
				t.Errorf("%s: a log without a crash gave %q (line %d)", log, o.Title, o.Line)
			}
			continue
		}
		if len(ws) == 0 {
			t.Errorf("%s has no # want: lines", log)
			continue
		}
		crashes++
		if len(got) == 0 {
			t.Logf("MISS %s: no report; want %s", name, ws[0].title)
			continue
		}
		detected++
		w, o := ws[0], got[0]
		if string(o.Kind) == w.kind {
			kinds++
		} else {
			t.Logf("KIND %s: %s; want %s", name, o.Kind, w.kind)
		}
		if titleFunc(o.Title) == w.guilty {
			funcs++
		} else {
			t.Logf("FUNC %s: %q; want %q", name, o.Title, w.title)
		}
	}
	pct := func(n, d int) float64 {
		if d == 0 {
			return 1
		}
		return float64(n) / float64(d)
	}
	t.Logf("corpus: %d crash logs, %d clean; detection %.1f%%, kind %.1f%%, title function %.1f%%",
		crashes, clean, 100*pct(detected, crashes), 100*pct(kinds, crashes), 100*pct(funcs, crashes))
	if pct(detected, crashes) < floorDetection || pct(kinds, crashes) < floorKind || pct(funcs, crashes) < floorFunction {
		t.Errorf("corpus agreement fell below its floors (detection %.2f, kind %.2f, function %.2f)",
			floorDetection, floorKind, floorFunction)
	}
}

// titleFunc is the function a title blames: what follows its last " in ".
func titleFunc(title string) string {
	i := strings.LastIndex(title, " in ")
	if i < 0 {
		return ""
	}
	return title[i+len(" in "):]
}
