package experiment

import (
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]string{">= 0.9": ">= 0.9", "0.5": ">= 0.5", "<0.1": "< 0.1", "== 1": "== 1", " > 0 ": "> 0"} {
		r, err := ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"", ">= 1.5", "-0.1", ">= ninety", "=> 0.9"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
	for _, c := range []struct {
		rate string
		p    float64
		want bool
	}{{">= 0.9", 0.9, true}, {">= 0.9", 0.8, false}, {"> 0.5", 0.5, false}, {"> 0.5", 0.6, true},
		{"<= 0.2", 0.2, true}, {"<= 0.2", 0.3, false}, {"< 0.2", 0.2, false}, {"< 0.2", 0.1, true},
		{"== 0.5", 0.5, true}, {"== 0.5", 0.45, false}} {
		r, _ := ParseRate(c.rate)
		if got := r.Holds(c.p); got != c.want {
			t.Errorf("%s holds for %v = %v; want %v", c.rate, c.p, got, c.want)
		}
	}
}

func TestRateInAFile(t *testing.T) {
	s, err := Parse("flaky.yaml", []byte("name: flaky\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\nexpect:\n  rate: \">= 0.4\"\n  kernels:\n    debian-5.10: {rate: \"< 0.2\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Expect.For("debian-6.1").Rate; r == nil || r.String() != ">= 0.4" {
		t.Errorf("rate on 6.1 = %v", r)
	}
	if r := s.Expect.For("debian-5.10").Rate; r == nil || r.String() != "< 0.2" {
		t.Errorf("rate on 5.10 = %v", r)
	}
	_, err = Parse("flaky.yaml", []byte("name: flaky\nsummary: s\nmodules: [m]\nsteps:\n  - load: m\nexpect:\n  rate: most\n"))
	if err == nil || !strings.Contains(err.Error(), "flaky.yaml:7") {
		t.Errorf("bad rate: %v; want an error at flaky.yaml:7", err)
	}
}

func TestJudgeRepeats(t *testing.T) {
	spec := func(rate string) *Spec {
		s := &Spec{Name: "e"}
		if rate != "" {
			s.Expect.Rate, _ = ParseRate(rate)
		}
		return s
	}
	reps := func(verdicts ...string) []*results.Result {
		var out []*results.Result
		for _, v := range verdicts {
			r := &results.Result{Verdict: v, Kernel: results.Kernel{Name: "k"}}
			if v == results.Fail {
				r.Reason = "step 5: answer: want no answer, got answer"
			}
			if v == results.Error {
				r.ErrorKind, r.Error = results.KindGuestHang, "no reply"
			}
			out = append(out, r)
		}
		return out
	}
	judge := func(s *Spec, rs []*results.Result) *results.Result {
		agg := *rs[0]
		agg.Repeats = results.Distribute(rs)
		JudgeRepeats(s, &agg, rs)
		return &agg
	}
	if v := judge(spec(""), reps("pass", "pass", "pass")).Verdict; v != results.Pass {
		t.Errorf("3 passes = %s", v)
	}
	agg := judge(spec(""), reps("pass", "fail", "pass"))
	if agg.Verdict != results.Fail || !strings.Contains(agg.Reason, "1 of 3 repeats failed") || !strings.Contains(agg.Reason, "repeat 2:") {
		t.Errorf("one failure without a rate = %s %q", agg.Verdict, agg.Reason)
	}
	if agg := judge(spec(">= 0.6"), reps("pass", "fail", "pass")); agg.Verdict != results.Pass || agg.Repeats.ExpectedRate != ">= 0.6" {
		t.Errorf("2/3 against >= 0.6 = %s (%s)", agg.Verdict, agg.Repeats.ExpectedRate)
	}
	if agg := judge(spec(">= 0.9"), reps("pass", "fail", "pass")); agg.Verdict != results.Fail || !strings.Contains(agg.Reason, "2 of 3 repeats passed") {
		t.Errorf("2/3 against >= 0.9 = %s %q", agg.Verdict, agg.Reason)
	}
	if agg := judge(spec(">= 0.1"), reps("pass", "error", "pass")); agg.Verdict != results.Error || agg.ErrorKind != results.KindGuestHang {
		t.Errorf("an errored repeat = %s %s", agg.Verdict, agg.ErrorKind)
	}
}
