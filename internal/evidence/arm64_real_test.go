package evidence

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// arm64Want is what TestARM64Real checks of one report, each value read
// by hand off the console: the fields a .want line does not hold.
type arm64Want struct {
	kind    Kind
	arch    string // "arm64" from pstate, the x registers and "Mem abort info:"; "" for a bare panic line
	address string // Address: the banner's "at virtual address X" (arm64 prints no CR2)
	// rip is the "pc : " line as printed; checkRIP false leaves it to the
	// .want line, where a PC with no symbol ("pc : 0x64") is disputed.
	rip      string
	checkRIP bool
	frames   []string // the first three frames of "Call trace:", in order
	nframes  int
	comm     string
	pid      int
	oops     int    // N of "[#N]"
	errCode  string // the ESR of "Internal error: Oops: ESR [#N] SMP"
	tainted  string
	last     string // "[last unloaded: NAME(OE)]" without its flags
	linked   []string
	// recursive: "Fixing recursive fault but reboot is needed!" follows
	// the report; complete: its "---[ end trace" line was printed.
	recursive, complete bool
	title               string
	time                float64
}

// virtio61 is what Debian's 6.1 arm64 kernel links in under QEMU virt.
var virtio61 = []string{"virtio_net", "net_failover", "failover", "virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev"}

// TestARM64Real checks the reports of real arm64 captures (Debian's arm64
// kernels under QEMU virt, TCG; testdata/real) field by field, beyond
// their .want lines: arm64 words its fault banner, register dump and trace
// differently from x86 (no CR2, "pc : ", "Call trace:" without "? "
// frames, the ESR as the die code), and the fields must come out the same.
func TestARM64Real(t *testing.T) {
	tests := []struct {
		log     string
		release string
		want    []arm64Want
	}{
		{"debian-6.1-arm64-chardev-unsafe.console.log", "6.1.0-57-arm64", []arm64Want{
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355f0120",
				rip: "vfs_read+0xb0/0x2d0", checkRIP: true,
				frames: []string{"vfs_read+0xb0/0x2d0", "ksys_read+0x7c/0x114", "__arm64_sys_read+0x24/0x30"}, nframes: 9,
				comm: "holder-A", pid: 87, oops: 1, errCode: "0000000096000007", tainted: "G OE",
				last: "chardev_unsafe", linked: virtio61, complete: true,
				title: "BUG: unable to handle kernel paging request in vfs_read", time: 3.056856},
			// The dying task faults on f_op->flush; the trace runs through
			// die() and the first fault's frames.
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355f0188",
				rip: "filp_close+0x28/0xa0", checkRIP: true,
				frames: []string{"filp_close+0x28/0xa0", "put_files_struct+0x138/0x140", "exit_files+0x60/0xb0"}, nframes: 23,
				comm: "holder-A", pid: 87, oops: 2, errCode: "0000000096000007", tainted: "G D OE",
				last: "chardev_unsafe", linked: virtio61, recursive: true, complete: true,
				title: "BUG: unable to handle kernel paging request in filp_close", time: 3.078677},
		}},
		{"debian-6.1-arm64-proc-leak.console.log", "6.1.0-57-arm64", []arm64Want{
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355f0110",
				rip: "proc_reg_llseek+0x90/0xf0", checkRIP: true,
				frames: []string{"proc_reg_llseek+0x90/0xf0", "__arm64_sys_lseek+0xc0/0xe0", "invoke_syscall+0x68/0xe0"}, nframes: 8,
				comm: "holder-A", pid: 87, oops: 1, errCode: "0000000096000007", tainted: "G OE",
				last: "proc_leak", linked: virtio61, complete: true,
				title: "BUG: unable to handle kernel paging request in proc_reg_llseek", time: 2.708361},
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355f0118",
				rip: "close_pdeo+0x64/0x180", checkRIP: true,
				frames: []string{"close_pdeo+0x64/0x180", "proc_reg_release+0xa0/0x100", "__fput+0x90/0x274"}, nframes: 24,
				comm: "holder-A", pid: 87, oops: 2, errCode: "0000000096000007", tainted: "G D OE",
				last: "proc_leak", linked: virtio61, recursive: true, complete: true,
				title: "BUG: unable to handle kernel paging request in close_pdeo", time: 2.715827},
			// Another task, after the recursive fault: not recursive itself.
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355f0118",
				rip: "proc_reg_open+0xa8/0x23c", checkRIP: true,
				frames: []string{"proc_reg_open+0xa8/0x23c", "do_dentry_open+0x1bc/0x490", "vfs_open+0x34/0x40"}, nframes: 13,
				comm: "holder-B", pid: 89, oops: 3, errCode: "0000000096000007", tainted: "G D OE",
				last: "proc_leak", linked: virtio61, complete: true,
				title: "BUG: unable to handle kernel paging request in proc_reg_open", time: 2.847266},
		}},
		// An instruction abort (ESR 0x86...) at the freed thread function:
		// pc and the first frame are the bare address, then kthread.
		{"debian-6.1-arm64-kthread-unsafe.console.log", "6.1.0-57-arm64", []arm64Want{
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355ef07c",
				frames: []string{"0xffffc725355ef07c", "kthread+0xe0/0xe4", "ret_from_fork+0x10/0x20"}, nframes: 3,
				comm: "kthread_unsafe", pid: 91, oops: 1, errCode: "0000000086000007", tainted: "G OE",
				last: "kthread_unsafe", linked: virtio61, complete: true,
				title: "BUG: unable to handle kernel paging request in kthread", time: 3.044235},
		}},
		// A branch to 0x64 through the stale notifier_block: the banner's
		// address is the NULL page's, and timer_safe, loading ("(OE+)"),
		// is linked in.
		{"debian-6.1-arm64-notifier-unsafe.console.log", "6.1.0-57-arm64", []arm64Want{
			{kind: KindNullDeref, arch: "arm64", address: "0000000000000064",
				frames: []string{"0x64", "load_module+0x19c0/0x2210", "__do_sys_init_module+0x1e0/0x220"}, nframes: 10,
				comm: "insmod", pid: 97, oops: 1, errCode: "0000000086000007", tainted: "G OE",
				last: "notifier_unsafe", linked: append([]string{"timer_safe"}, virtio61...), complete: true,
				time: 5.504064},
		}},
		// A write (ESR 0x96000047, WnR = 1) to the freed timer in the idle
		// task's softirq (PID 0), then the panic as a report of its own:
		// the console ends before "---[ end Kernel panic".
		{"debian-6.1-arm64-timer-unsafe.console.log", "6.1.0-57-arm64", []arm64Want{
			{kind: KindPagingRequest, arch: "arm64", address: "ffffc725355f13d0",
				rip: "__run_timers+0x128/0x3bc", checkRIP: true,
				frames: []string{"__run_timers+0x128/0x3bc", "run_timer_softirq+0x28/0x50", "handle_softirqs+0x118/0x300"}, nframes: 20,
				comm: "swapper/0", pid: 0, oops: 1, errCode: "0000000096000047", tainted: "G OE",
				last: "timer_unsafe", linked: virtio61, complete: true,
				title: "BUG: unable to handle kernel paging request in __run_timers", time: 4.405483},
			{kind: KindPanic, checkRIP: true, title: "Kernel panic - not syncing: Oops: Fatal exception in interrupt", time: 4.411428},
		}},
		{"debian-6.12-arm64-chardev-unsafe.console.log", "6.12.118+deb12-arm64", []arm64Want{
			{kind: KindPagingRequest, arch: "arm64", address: "ffff95a563c4d128",
				rip: "vfs_read+0xb0/0x330", checkRIP: true,
				frames: []string{"vfs_read+0xb0/0x330", "ksys_read+0x7c/0x120", "__arm64_sys_read+0x24/0x38"}, nframes: 9,
				comm: "holder-A", pid: 134, oops: 1, errCode: "0000000096000007", tainted: "G OE",
				last: "chardev_unsafe", linked: []string{"virtio_net", "net_failover", "failover"}, complete: true,
				title: "BUG: unable to handle kernel paging request in vfs_read", time: 3.383852},
			{kind: KindPagingRequest, arch: "arm64", address: "ffff95a563c4d180",
				rip: "filp_flush+0x28/0x98", checkRIP: true,
				frames: []string{"filp_flush+0x28/0x98", "filp_close+0x20/0x48", "put_files_struct+0x138/0x148"}, nframes: 24,
				comm: "holder-A", pid: 134, oops: 2, errCode: "0000000096000007", tainted: "G D OE",
				last: "chardev_unsafe", linked: []string{"virtio_net", "net_failover", "failover"}, recursive: true, complete: true,
				title: "BUG: unable to handle kernel paging request in filp_flush", time: 3.392332},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "real", tt.log))
			if err != nil {
				t.Fatal(err)
			}
			got := ParseBytes(b)
			if len(got) != len(tt.want) {
				t.Fatalf("ParseBytes = %d reports; want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				o := got[i]
				if o.Kind != w.kind || o.Arch != w.arch {
					t.Errorf("[%d] kind %q arch %q; want %q %q", i, o.Kind, o.Arch, w.kind, w.arch)
				}
				if w.title != "" && o.Title != w.title {
					t.Errorf("[%d] title %q; want %q", i, o.Title, w.title)
				}
				if o.Address != w.address || o.CR2 != "" {
					t.Errorf("[%d] address %q CR2 %q; want %q and no CR2", i, o.Address, o.CR2, w.address)
				}
				if w.checkRIP && o.RIP != w.rip {
					t.Errorf("[%d] RIP %q; want the pc line's %q", i, o.RIP, w.rip)
				}
				if len(o.CallTrace) != w.nframes || len(o.CallTrace) < len(w.frames) || !slices.Equal(o.CallTrace[:len(w.frames)], w.frames) {
					t.Errorf("[%d] %d frames %q; want %d starting %q", i, len(o.CallTrace), o.CallTrace, w.nframes, w.frames)
				}
				if o.Comm != w.comm || o.PID != w.pid {
					t.Errorf("[%d] comm %q pid %d; want %q %d", i, o.Comm, o.PID, w.comm, w.pid)
				}
				if o.OopsNumber != w.oops || o.ErrorCode != w.errCode || o.Tainted != w.tainted {
					t.Errorf("[%d] oops #%d error code %q tainted %q; want #%d %q %q", i, o.OopsNumber, o.ErrorCode, o.Tainted, w.oops, w.errCode, w.tainted)
				}
				if o.LastUnloaded != w.last || !slices.Equal(o.ModulesLinkedIn, w.linked) {
					t.Errorf("[%d] last unloaded %q, linked in %q; want %q, %q", i, o.LastUnloaded, o.ModulesLinkedIn, w.last, w.linked)
				}
				if o.RecursiveFault != w.recursive || o.Complete != w.complete {
					t.Errorf("[%d] recursive fault %v complete %v; want %v %v", i, o.RecursiveFault, o.Complete, w.recursive, w.complete)
				}
				if o.Time != w.time {
					t.Errorf("[%d] time %v; want %v", i, o.Time, w.time)
				}
				wantRelease, wantCPU := tt.release, 0
				if w.kind == KindPanic {
					wantRelease, wantCPU = "", -1 // the panic line names neither
				}
				if o.KernelRelease != wantRelease || o.CPU != wantCPU {
					t.Errorf("[%d] release %q CPU %d; want %q %d", i, o.KernelRelease, o.CPU, wantRelease, wantCPU)
				}
				// An oops in interrupt context and its panic are two
				// reports: the oops does not take the panic as its own.
				if o.Panic != "" {
					t.Errorf("[%d] panic %q; want none (the panic is its own report)", i, o.Panic)
				}
				if o.IsCrash() != (w.kind != KindPanic) {
					t.Errorf("[%d] IsCrash() = %v for a %s", i, o.IsCrash(), w.kind)
				}
			}
		})
	}
}
