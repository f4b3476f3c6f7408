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
	// The parsing paths of issue 25's rule classes: prefixes (quote,
	// journal, talosctl, Android caller), wrapped banners, a dentry
	// joined with its WARNING, decoded, bare and powerpc frames, "..."
	// cuts, MIPS dies.
	for _, seed := range []string{
		"> Apr 28 10:17:39 nixos kernel: BUG: kernel NULL pointer dereference, address: 0000000000000030\n> Apr 28 10:17:39 nixos kernel: RIP: 0010:f+0x1b/0x350 [m]\n",
		"kernel: BUG: unable to handle page fault for address: ffffffffffffffe0\nkernel: RIP: 0010:f+0x6d/0xa0\n",
		"10.0.10.113: kern: warning: [2025-08-14T09:05:56.6Z]: WARNING: CPU: 4 PID: 0 at x.h:653 f+0x8f1/0x910\n",
		"[ 3041.9] [5:    kworker/5:1:  130] BUG: KASAN: slab-use-after-free in f+0xe8/0x280\n[ 3041.9] [5:    kworker/5:1:  130] Call trace:\n",
		"[  800.4] WARNING: CPU: 0 PID: 0 at\nkernel/x.c:128 f.constprop.0+0xe0/0xe8\n[  800.5] Call trace:\n[  800.6]  f+0x1/0x2\n",
		"[  677.5] Unable to handle kernel NULL pointer dereference at\nvirtual address 00000144\n[  677.6] Internal error: Oops: 17 [#1] SMP ARM\n",
		"------------[ cut here ]------------\nBUG: Dentry ffff{i=1a}  still in use (1) [unmount of f2fs loop0]\nWARNING: CPU: 0 PID: 1 at fs/dcache.c:1675 umount_check+0x189/0x1e0\nCall Trace:\n d_walk+0x1f6/0x6e0\n",
		"[ 1021.2][ C1] BUG: KASAN: use-after-free in dst_destroy (net/core/dst.c:118) \n[ 1021.3][ C1] Read of size 8 at addr ffff by task a/1\n[ 1021.4][ C1] Call Trace:\n[ 1021.5][ C1] kasan_report (mm/kasan/report.c:162) \n[ 1021.6][ C1] dst_destroy (net/core/dst.c:118) [inline]\n",
		"WARNING: CPU: 1 PID: 2 at block/bio.c:229 bio_free\npc : bio_free\n Call trace:\n  bio_free\n  bio_put\n",
		"NIP [c001b780] do_page_fault+0x484/0x720\nCall Trace:\n[cb981cb0] [c000424c] DataAccess_virt+0xd4/0xe4\n--- interrupt: 300 at __copy_tofrom_user+0x110/0x20c\nLR [c0172b04] core_sys_select+0x3e8/0x594\n---- interrupt: 3000 at 0x7fffb3d04764\n[c0000003f038fa60] [c0000000002b1aa4]\n",
		"[161.3] WARNING: CPU: 5 PID: 276 at lib/debugobjects.c:514 debug_print_object+0x80/0xb0\n...\n[161.4] debug_object_free+0xeb/0x110\n",
		"[    1.3] CPU 0 Unable to handle kernel paging request at virtual address 00000000, epc == 804dd50c, ra == 804dd4f0\n[    1.4] Oops[#1]:\n[    1.5] epc   : 804dd50c f+0x3c/0x114\n[    3.8] Reserved instruction in kernel code[#1]:\n",
		"x0 : 0000000000000300 Call trace:\n__alloc_skb+0x104/0x1b0\n",
	} {
		f.Add([]byte(seed))
	}
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
