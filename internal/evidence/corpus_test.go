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
//
// The function floor is below 1: four wants name a function that
// syzkaller's rules of today look past (allocators matching alloc_page,
// klist_ helpers since 2022) or strip (the ksys_ prefix), as syzbot
// titled some of those reports before its rules changed.
const (
	floorDetection = 1.00  // logs with a crash where lab found a report
	floorFound     = 1.00  // wanted reports (every one, not only the first) that lab found
	floorKind      = 1.00  // wanted reports of the wanted kind
	floorFunction  = 0.975 // wanted reports blaming the wanted function
)

func TestCorpus(t *testing.T) {
	logs, err := filepath.Glob("testdata/corpus/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no corpus logs: %v", err)
	}
	var crashes, detected, clean int
	var reports, found, kinds, funcs, extra int // over every wanted report
	byArch, byKind := map[string]int{}, map[string]int{}
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
		} else {
			detected++
		}
		// Every wanted report is scored against the report in the same
		// place, not only the first: a log that holds a WARNING and the
		// BUG after it wants both named right.
		for i, w := range ws {
			reports++
			byKind[w.kind]++
			if i >= len(got) {
				if len(got) > 0 {
					t.Logf("MISS %s[%d]: no report; want %s", name, i, w.title)
				}
				continue
			}
			o := got[i]
			found++
			if i == 0 {
				byArch[archOf(o.Arch)]++
			}
			if string(o.Kind) == w.kind {
				kinds++
			} else {
				t.Logf("KIND %s[%d]: %s; want %s", name, i, o.Kind, w.kind)
			}
			if titleFunc(o.Title) == w.guilty {
				funcs++
			} else {
				t.Logf("FUNC %s[%d]: %q; want %q", name, i, o.Title, w.title)
			}
		}
		if len(got) > len(ws) {
			extra += len(got) - len(ws)
			t.Logf("EXTRA %s: %d reports past the %d wanted", name, len(got)-len(ws), len(ws))
		}
	}
	pct := func(n, d int) float64 {
		if d == 0 {
			return 1
		}
		return float64(n) / float64(d)
	}
	t.Logf("corpus: %d crash logs, %d clean; detection %.1f%% of logs; over %d wanted reports: found %.1f%%, kind %.1f%%, title function %.1f%%; %d extra reports",
		crashes, clean, 100*pct(detected, crashes), reports, 100*pct(found, reports), 100*pct(kinds, reports), 100*pct(funcs, reports), extra)
	t.Logf("by architecture (first report): %v", byArch)
	t.Logf("by wanted kind: %v", byKind)
	if pct(detected, crashes) < floorDetection || pct(found, reports) < floorFound ||
		pct(kinds, reports) < floorKind || pct(funcs, reports) < floorFunction {
		t.Errorf("corpus agreement fell below its floors (detection %.3f, found %.3f, kind %.3f, function %.3f)",
			floorDetection, floorFound, floorKind, floorFunction)
	}
}

// archOf names a report's architecture for the corpus tally.
func archOf(a string) string {
	if a == "" {
		return "unknown"
	}
	return a
}

// titleFunc is the function a title blames: what follows its last " in ".
func titleFunc(title string) string {
	i := strings.LastIndex(title, " in ")
	if i < 0 {
		return ""
	}
	return title[i+len(" in "):]
}
