package evidence

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

var kinds = map[Kind]bool{
	KindPageFault: true, KindNullDeref: true, KindPagingRequest: true, KindGPF: true, KindBug: true,
	KindWarning: true, KindHungTask: true, KindSoftLockup: true, KindHardLockup: true, KindPanic: true,
	KindOops: true, KindKASAN: true, KindKMSAN: true, KindKFENCE: true, KindKCSAN: true, KindUBSAN: true,
	KindLockdep: true, KindRCUStall: true, KindMemoryLeak: true, KindAtomicSleep: true, KindAtomicSchedule: true,
	KindBadPage: true, KindListCorruption: true, KindRefcount: true, KindODEBUG: true, KindSpinlock: true,
}

// FuzzParse checks what must hold for any input: no panic, Parse and
// ParseBytes agree, and every record is well formed and points at a line
// of the input, in order (two reports glued on one line share it).
func FuzzParse(f *testing.F) {
	for _, log := range logFiles(f) {
		b, err := os.ReadFile(log)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(pf61))
	f.Add([]byte("[    1.0] INFO: task a:1 blocked for more than 5 seconds.\r\n[    1.1] Call Trace:\r\n[    1.2]  <TASK>\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Parse(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("Parse(%q) error = %v; want nil", in, err)
		}
		if b := ParseBytes(in); !reflect.DeepEqual(b, got) {
			t.Fatalf("ParseBytes(%q) = %+v; want Parse's %+v", in, b, got)
		}
		lines := bytes.Count(in, []byte("\n"))
		if len(in) > 0 && in[len(in)-1] != '\n' {
			lines++
		}
		prev := 0
		for i, o := range got {
			// Two reports glued on one line start on the same line.
			if o.Line < 1 || o.Line > lines || o.Line < prev {
				t.Errorf("Parse(%q)[%d].Line = %d; want in [%d, %d]", in, i, o.Line, max(prev, 1), lines)
			}
			prev = o.Line
			if !kinds[o.Kind] {
				t.Errorf("Parse(%q)[%d].Kind = %q; want a known kind", in, i, o.Kind)
			}
			if o.Title == "" || o.Message == "" {
				t.Errorf("Parse(%q)[%d] = title %q, message %q; want both set", in, i, o.Title, o.Message)
			}
			if len(o.Text) == 0 || len(o.Text) > maxText {
				t.Errorf("Parse(%q)[%d] has %d lines of text; want 1..%d", in, i, len(o.Text), maxText)
			}
			if o.CallTrace == nil {
				t.Errorf("Parse(%q)[%d].CallTrace = nil; want a slice", in, i)
			}
			for _, fr := range o.CallTrace {
				if strings.HasPrefix(fr, "?") || strings.TrimSpace(fr) != fr {
					t.Errorf("Parse(%q)[%d].CallTrace has %q; want reliable frames, trimmed", in, i, fr)
				}
			}
			if o.CPU < -1 || o.PID < 0 || o.Time < 0 {
				t.Errorf("Parse(%q)[%d] = cpu %d, pid %d, time %v; want cpu >= -1, pid >= 0, time >= 0", in, i, o.CPU, o.PID, o.Time)
			}
		}
	})
}

// BenchmarkParse parses a log of real size: the boot and oopses of the
// captured 6.1 run followed by every other log, repeated to about 1 MiB.
func BenchmarkParse(b *testing.B) {
	var one []byte
	for _, log := range logFiles(b) {
		data, err := os.ReadFile(log)
		if err != nil {
			b.Fatal(err)
		}
		one = append(one, data...)
	}
	in := bytes.Repeat(one, 1<<20/len(one)+1)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
