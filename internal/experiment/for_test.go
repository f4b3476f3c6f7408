package experiment

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestStepExpectFor: a kernel's override replaces exactly the fields it
// sets, every one of them; the base keeps the rest; another kernel gets
// the base.
func TestStepExpectFor(t *testing.T) {
	b := func(v bool) *bool { return &v }
	s := func(v string) *string { return &v }
	i := func(v int64) *int64 { return &v }
	base := StepExpect{OK: b(true), Errno: []string{"EIO"}, DataContains: s("base"), Answer: b(true), State: []string{"S"},
		Wchan: s("w"), Stack: s("st"), Exists: b(true), Report: b(false), MinMS: i(1), MaxMS: i(2), Exit: i(0),
		StdoutContains: s("out"), Return: i(3), Line: 10}
	over := &StepExpect{OK: b(false), Errno: []string{"ENXIO"}, DataContains: s("k"), Answer: b(false), State: []string{"X"},
		Wchan: s("w2"), Stack: s("st2"), Exists: b(false), Report: b(true), ReportTitle: regexp.MustCompile("x"), MinMS: i(5),
		MaxMS: i(6), Exit: i(1), StdoutContains: s("o2"), Return: i(4), Line: 20}
	base.Kernels = map[string]*StepExpect{"k": over}
	got := base.For("k")
	got.Kernels = nil
	want := *over
	if !reflect.DeepEqual(got, want) {
		t.Errorf("For(k) =\n%+v\nwant the override in every field\n%+v", got, want)
	}
	if other := base.For("other"); !reflect.DeepEqual(other, base) {
		t.Errorf("For(other) = %+v; want the base", other)
	}
	// An override of one field leaves the others as the base has them.
	base.Kernels = map[string]*StepExpect{"k": {State: []string{"D"}, Line: 30}}
	one := base.For("k")
	if strings.Join(one.State, "") != "D" || *one.OK != true || one.Errno[0] != "EIO" || *one.DataContains != "base" || *one.Return != 3 || one.Line != 30 {
		t.Errorf("a one-field override: %+v", one)
	}
}

func TestRunExpectFor(t *testing.T) {
	b := func(v bool) *bool { return &v }
	r, _ := ParseRate(">= 0.5")
	base := RunExpect{Crash: b(true), CrashTitle: regexp.MustCompile("a"), RIP: regexp.MustCompile("b"), RecursiveFault: b(true),
		Warning: b(false), Panic: b(false), HungTasks: []string{"rmmod"}, Rate: r, Line: 1}
	r2, _ := ParseRate("< 0.1")
	over := &RunExpect{Crash: b(false), CrashTitle: regexp.MustCompile("c"), RIP: regexp.MustCompile("d"), RecursiveFault: b(false),
		Warning: b(true), Panic: b(true), HungTasks: []string{"holder-A"}, Rate: r2, Line: 2}
	base.Kernels = map[string]*RunExpect{"k": over}
	got := base.For("k")
	got.Kernels = nil
	if !reflect.DeepEqual(got, *over) {
		t.Errorf("For(k) = %+v; want the override in every field %+v", got, *over)
	}
	base.Kernels = map[string]*RunExpect{"k": {Panic: b(true), Line: 3}}
	one := base.For("k")
	if !*one.Panic || !*one.Crash || one.Rate.String() != ">= 0.5" || one.HungTasks[0] != "rmmod" || one.RIP.String() != "b" {
		t.Errorf("a one-field override: %+v", one)
	}
}

// TestJudgeRepeatsNamesTheRepeats: the reason and the error say which
// repeats failed or could not complete, and the error kind is the first
// errored repeat's.
func TestJudgeRepeatsNamesTheRepeats(t *testing.T) {
	reps := []*results.Result{
		{Verdict: results.Pass},
		{Verdict: results.Error, ErrorKind: results.KindAgentLost, Error: "lost\nmore"},
		{Verdict: results.Error, ErrorKind: results.KindGuestHang, Error: "hung"},
	}
	agg := *reps[0]
	agg.Repeats = results.Distribute(reps)
	JudgeRepeats(&Spec{}, &agg, reps)
	if agg.ErrorKind != results.KindAgentLost || agg.Error != "2 of 3 repeats could not complete: repeat 2: agent-lost: lost; repeat 3: guest-hang: hung" {
		t.Errorf("error %s %q", agg.ErrorKind, agg.Error)
	}
}
