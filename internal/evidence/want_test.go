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
// ripfn, optional, is RIPFunction ("ripfn=" for none); rip is the raw RIP
// as printed ("-" for none); title runs to the end of the line. TestWant
// checks them on their own, so that a golden file rewritten with -update
// cannot hide a wrong title.
//
// A log kept byte for byte as a kernel printed it (testdata/real, which
// other packages' tests read too) has its wants in a sidecar file instead,
// NAME.want beside NAME.log, in the same "# " lines. Every log must have
// wants one way or the other.

var reWantKey = regexp.MustCompile(`(?:^| )(kind|guilty|ripfn|rip|frames|title)=`)

type want struct {
	kind, guilty, rip, title string
	ripfn                    *string // RIPFunction; nil when not given
	frames                   int     // reliable frames in CallTrace; -1 when not given
}

// wantPath is the sidecar file of a log's wants.
func wantPath(log string) string { return strings.TrimSuffix(log, ".log") + ".want" }

// readLog returns a log without its "# " header lines, and the wants of
// its header or, when it has none, of its sidecar file.
func readLog(t testing.TB, path string) ([]byte, []want) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, ws := readWants(t, path, b)
	if ws == nil {
		side, err := os.ReadFile(wantPath(path))
		if err == nil {
			if rest, sws := readWants(t, wantPath(path), side); len(bytes.TrimSpace(rest)) == 0 {
				ws = sws
			} else {
				t.Fatalf("%s: a line that is not a \"# \" comment: %q", wantPath(path), rest)
			}
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return b, ws
}

// readWants takes the "# " lines at the start of b and returns the rest
// and the wants among them.
func readWants(t testing.TB, path string, b []byte) ([]byte, []want) {
	t.Helper()
	var ws []want
	for bytes.HasPrefix(b, []byte("# ")) || bytes.HasPrefix(b, []byte("#\n")) {
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
			case "ripfn":
				w.ripfn = &v
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
	for _, log := range logFiles(t) {
		in, ws := readLog(t, log)
		if ws == nil {
			t.Errorf("%s has no hand-checked # want: lines (in its header or %s)", log, wantPath(log))
			continue
		}
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
				if string(o.Kind) != w.kind || o.Guilty != w.guilty || o.RIP != w.rip || o.Title != w.title {
					t.Errorf("ParseBytes(%s)[%d] = kind %q guilty %q rip %q title %q; want kind %q guilty %q rip %q title %q",
						log, i, o.Kind, o.Guilty, o.RIP, o.Title, w.kind, w.guilty, w.rip, w.title)
				}
				if w.ripfn != nil && o.RIPFunction != *w.ripfn {
					t.Errorf("ParseBytes(%s)[%d] has rip_function %q; want %q", log, i, o.RIPFunction, *w.ripfn)
				}
				if w.frames >= 0 && len(o.CallTrace) != w.frames {
					t.Errorf("ParseBytes(%s)[%d] has %d frames %q; want %d", log, i, len(o.CallTrace), o.CallTrace, w.frames)
				}
			}
		})
	}
}
