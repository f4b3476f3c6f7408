package evidence

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A log under testdata may open with hand-checked expectations, one line
// per report in order, written from reading the log and the kernel
// source, not from the parser's output:
//
//	# want: kind=kasan guilty=lab_release rip=- title=KASAN: slab-use-after-free Read in lab_release
//
// frames, optional, is the number of reliable frames in the call trace;
// rip is the raw RIP as printed ("-" for none); title runs to the end of
// the line. TestWant checks them on their own, so that a golden file
// rewritten with -update cannot hide a wrong title.

var reWantKey = regexp.MustCompile(`(?:^| )(kind|guilty|rip|frames|title)=`)

type want struct {
	kind, guilty, rip, title string
	frames                   int // reliable frames in CallTrace; -1 when not given
}

// readLog returns a log without its "# " header lines, and the wants.
func readLog(t testing.TB, path string) ([]byte, []want) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ws []want
	for bytes.HasPrefix(b, []byte("# ")) {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		line := string(b[:i])
		b = b[i+1:]
		rest, ok := strings.CutPrefix(line, "# want: ")
		if !ok {
			continue
		}
		// Values run to the next " key=": a RIP may hold a space
		// ("f+0x1/0x2 [mod]").
		w := want{frames: -1}
		idx := reWantKey.FindAllStringSubmatchIndex(rest, -1)
		if len(idx) == 0 {
			t.Fatalf("%s: no key=value in %q", path, line)
		}
		for i, m := range idx {
			end := len(rest)
			if i+1 < len(idx) {
				end = idx[i+1][0]
			}
			v := rest[m[1]:end]
			switch rest[m[2]:m[3]] {
			case "kind":
				w.kind = v
			case "guilty":
				w.guilty = v
			case "rip":
				w.rip = strings.TrimPrefix(v, "-")
			case "frames":
				w.frames, _ = strconv.Atoi(v)
			case "title":
				w.title = v
			}
		}
		ws = append(ws, w)
	}
	return b, ws
}

func TestWant(t *testing.T) {
	checked := 0
	for _, log := range logFiles(t) {
		in, ws := readLog(t, log)
		if ws == nil {
			continue
		}
		checked++
		t.Run(strings.TrimPrefix(log, "testdata/"), func(t *testing.T) {
			got := ParseBytes(in)
			if len(got) != len(ws) {
				var titles []string
				for _, o := range got {
					titles = append(titles, o.Title)
				}
				t.Fatalf("ParseBytes(%s) = %d reports %q; want %d", log, len(got), titles, len(ws))
			}
			for i, w := range ws {
				o := got[i]
				if o.Kind != w.kind || o.Guilty != w.guilty || o.RIP != w.rip || o.Title != w.title {
					t.Errorf("ParseBytes(%s)[%d] = kind %q guilty %q rip %q title %q; want kind %q guilty %q rip %q title %q",
						log, i, o.Kind, o.Guilty, o.RIP, o.Title, w.kind, w.guilty, w.rip, w.title)
				}
				if w.frames >= 0 && len(o.CallTrace) != w.frames {
					t.Errorf("ParseBytes(%s)[%d] has %d frames %q; want %d", log, i, len(o.CallTrace), o.CallTrace, w.frames)
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no log under testdata has # want: lines")
	}
}
