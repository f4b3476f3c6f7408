package results

import (
	"math"
	"slices"
	"testing"

	"github.com/kernel-lab/lab/internal/evidence"
)

// TestSignatureOfARealRun: the signature of the real debian-6.1
// chardev-unsafe cell kept as test data, fact by fact as read off its
// result.json by hand: no address, PID, time or data in it.
func TestSignatureOfARealRun(t *testing.T) {
	r, err := Read("testdata/cells/chardev-unsafe-pass/result.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"verdict pass",
		"step 1 load chardev_unsafe: ok",
		"step 2 open A: ok",
		"step 3 read A: ok, data matched",
		"step 4 unload chardev_unsafe: ok",
		"step 5 read A: no answer",
		"step 6 observe A: ok",
		"report page fault in vfs_read",
		"report page fault in filp_close",
		"process A: X",
	}
	if got := r.Signature.Lines(); !slices.Equal(got, want) {
		t.Errorf("signature of a schema 1 record, computed on read:\n%q\nwant\n%q", got, want)
	}
	if l := r.Signature.Label(); l != "step 5 read no answer; page fault in vfs_read then page fault in filp_close; holder-A X" {
		t.Errorf("Label = %q", l)
	}
}

func TestSignatureLeavesOutWhatVaries(t *testing.T) {
	mk := func(pid int, addr, data string, ms int64, hung int) *Result {
		r := &Result{Verdict: Pass,
			Steps:     []Step{{Index: 1, Action: "read", Target: "A", OK: true, Data: data, MS: ms, At: float64(ms)}},
			Processes: []Process{{Holder: "A", PID: pid, Comm: "holder-A", State: "D (disk sleep)"}},
		}
		r.Oopses = append(r.Oopses, evidence.Report{Kind: evidence.KindPageFault, Title: "BUG: unable to handle page fault for address: " + addr, PID: pid, Time: float64(ms)})
		for range hung {
			r.Oopses = append(r.Oopses, evidence.Report{Kind: evidence.KindHungTask, Title: "INFO: task holder-A blocked in lab_read", Guilty: "lab_read", PID: pid})
		}
		return r
	}
	a, b := SignatureOf(mk(87, "ffffffffc04f3190", "0 times", 3, 5)), SignatureOf(mk(91, "ffffffffc020f1b0", "1 times", 9, 4))
	if a.Key() != b.Key() {
		t.Errorf("signatures differ in what must not count:\n%s\n--\n%s", a.Key(), b.Key())
	}
	if len(a.Reports) != 2 || a.Reports[0].Title != "BUG: unable to handle page fault for address: ADDR" {
		t.Errorf("reports %+v; want the address replaced and the hung task once", a.Reports)
	}
	c := mk(87, "ffffffffc04f3190", "0 times", 3, 0)
	c.Processes[0].State = "X (dead)"
	if SignatureOf(c).Key() == a.Key() {
		t.Error("a holder in X has the signature of one in D")
	}
}

func TestWilson(t *testing.T) {
	// Textbook values of the 95% Wilson score interval.
	for _, c := range []struct {
		k, n     int
		low, hig float64
	}{
		{0, 10, 0, 0.2775}, {10, 10, 0.7225, 1}, {5, 10, 0.2366, 0.7634}, {1, 20, 0.0089, 0.2361}, {0, 0, 0, 1},
	} {
		lo, hi := Wilson(c.k, c.n)
		if math.Abs(lo-c.low) > 5e-4 || math.Abs(hi-c.hig) > 5e-4 {
			t.Errorf("Wilson(%d, %d) = %.4f–%.4f; want %.4f–%.4f", c.k, c.n, lo, hi, c.low, c.hig)
		}
	}
}

func TestDistribute(t *testing.T) {
	crash := &Result{Verdict: Pass, Oopses: []evidence.Report{{Kind: evidence.KindNullDeref, Title: "BUG: kernel NULL pointer dereference in fault_read"}}}
	quiet := &Result{Verdict: Pass}
	rp := Distribute([]*Result{quiet, crash, crash, quiet, crash})
	if rp.N != 5 || rp.Passed != 5 || !rp.Flaky || len(rp.Distribution) != 2 {
		t.Fatalf("Distribute = %+v", rp)
	}
	top := rp.Distribution[0]
	if top.Count != 3 || !slices.Equal(top.Repeats, []int{2, 3, 5}) || top.Label != "kernel NULL pointer dereference in fault_read" {
		t.Errorf("most frequent = %+v; want the crash, repeats 2 3 5", top)
	}
	if s := rp.String(); s != "3/5 kernel NULL pointer dereference in fault_read, 2/5 no report" {
		t.Errorf("String = %q", s)
	}
	if s := Distribute([]*Result{quiet, quiet}).String(); s != "2/2 same" {
		t.Errorf("String = %q; want 2/2 same", s)
	}
}

// TestDifferencesIgnoreWhatVaries: kthread-unsafe's oops on 5.10 and on
// 6.12 (real titles: the RIP lies in freed module text, so the title is the
// first line with its address) and timer-unsafe's __run_timers.part.0
// (5.10's gcc-10 clone) against __run_timers are the same behaviour; a
// holder in D against X is not.
func TestDifferencesIgnoreWhatVaries(t *testing.T) {
	cell := func(kernel, title, guilty string, state string) *Result {
		r := &Result{Experiment: "e", Kernel: Kernel{Name: kernel}, Verdict: Pass,
			Oopses: []evidence.Report{{Kind: evidence.KindPageFault, Title: title, Guilty: guilty}}}
		if state != "" {
			r.Processes = []Process{{Holder: "A", Comm: "holder-A", State: state}}
		}
		return r
	}
	m := NewMatrix(&Run{}, []*Result{
		cell("debian-5.10", "BUG: unable to handle page fault for address: ffffffffc003503b", "", ""),
		cell("debian-6.12", "BUG: unable to handle page fault for address: ffffffffc0230047", "", ""),
	})
	if ds := m.Differences(); len(ds) != 0 {
		t.Errorf("addresses make a difference: %+v", ds)
	}
	m = NewMatrix(&Run{}, []*Result{
		cell("debian-5.10", "BUG: unable to handle page fault in __run_timers.part.0", "__run_timers.part.0", ""),
		cell("debian-6.12", "BUG: unable to handle page fault in __run_timers", "__run_timers", ""),
	})
	if ds := m.Differences(); len(ds) != 0 {
		t.Errorf("a compiler's clone suffix makes a difference: %+v", ds)
	}
	m = NewMatrix(&Run{}, []*Result{
		cell("debian-5.10", "BUG: unable to handle page fault in vfs_read", "vfs_read", "D (disk sleep)"),
		cell("debian-6.1", "BUG: unable to handle page fault in vfs_read", "vfs_read", "X (dead)"),
	})
	ds := m.Differences()
	if len(ds) != 1 || ds[0].Says[0] != "page fault in vfs_read; holder-A D" || ds[0].Says[1] != "page fault in vfs_read; holder-A X" {
		t.Errorf("D against X: %+v", ds)
	}
}
