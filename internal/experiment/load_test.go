package experiment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestParseMoreErrors: mistakes each refused with its exact message at its
// line, and nothing else said about them.
func TestParseMoreErrors(t *testing.T) {
	const head = "name: x\nsummary: s\nsteps:\n"
	for _, tc := range []struct{ yaml, want string }{
		{head + "  - sleep: 0s\n", `x.yaml:4: sleep must be a positive duration like 5s or 300ms, not "0s"`},
		{head + "  - sleep: -1s\n", `x.yaml:4: sleep must be a positive duration like 5s or 300ms, not "-1s"`},
		{head + "  - sleep: 1s\n    timeout: 0s\n", `x.yaml:5: timeout must be a positive duration like 5s or 300ms, not "0s"`},
		{"name: x\nsummary: s\nmodules: [good, \"bad one\"]\nsteps:\n  - load: good\n", `x.yaml:3: module name "bad one": use letters, digits, _ and - only`},
		{"name: x\nsummary: s\nmodules: bad/one\nsteps:\n  - sleep: 1s\n", `x.yaml:3: module name "bad/one": use letters, digits, _ and - only`},
		{"name: x\nsummary: s\nmodules: []\nsteps:\n  - sleep: 1s\n", `x.yaml:3: modules must not be empty`},
		{head + "  - read: A\n", `x.yaml:4: read: "A" is not a holder opened by an earlier step`},
		{head + "  - observe: A\n", `x.yaml:4: observe: "A" is not a holder opened by an earlier step nor the id of an earlier async step`},
		{head + "  - open: {holder: A, path: /dev/m}\n  - open: {holder: A, path: /dev/n}\n", `x.yaml:5: holder "A" is opened twice`},
		{"name: x\nsummary: s\nmodules: [m]\nsteps:\n  - unload: m\n    async: true\n    id: u\n  - unload: m\n    async: true\n    id: u\n", `x.yaml:8: id "u" is used twice`},
		{head + "  - sleep: 1s\n    async: true\n    id: z\n", `x.yaml:4: sleep cannot be async (read, seek, close, write, ioctl, mmap, exec and unload can)`},
		{head + "  - 3\n", `x.yaml:4: a step must be a mapping like {read: A}, not a number`},
		{head + "  - sleep: 1s\n    sleep: 2s\n", `x.yaml:5: step: "sleep" given twice`},
		{"summary: s\nname: x\n", `x.yaml:1: experiment: missing field "steps"`},
		{"name: x\nsteps: []\n", "x.yaml:1: experiment: missing field \"summary\"\nx.yaml:2: steps must be a non-empty list"},
		{head + "  - sleep: 1s\nexpect: {rate: \">= 2\"}\n", `x.yaml:5: rate: ">= 2": want an operator (>=, >, <=, <, ==) and a share of repeats between 0 and 1, like ">= 0.9"`},
		{head + "  - sleep: 1s\nexpect: {crash_title: a, oops_title: b}\n", `x.yaml:5: expect: give crash_title (or the older oops_title), not both`},
		{head + "  - sleep: 1s\n    expect: {report: true, oops: false}\n", `x.yaml:5: expect: give report (or the older oops), not both`},
		{head + "  - sleep: 1s\n    expect: {kernels: {k: {kernels: {}}}}\n", `x.yaml:5: kernels.k: unknown field "kernels"`},
		{head + "  - sleep: 1s\nexpect: {kernels: {k: {kernels: {}}}}\n", `x.yaml:5: kernels.k: unknown field "kernels"`},
	} {
		wantParseError(t, tc.yaml, tc.want)
	}
	// The errors of an async step are each said once.
	_, err := Parse("x.yaml", []byte(head+"  - sleep: 1s\n    async: true\n"))
	if err == nil || err.Error() != "x.yaml:4: an async step needs an id for await to name\nx.yaml:4: sleep cannot be async (read, seek, close, write, ioctl, mmap, exec and unload can)" {
		t.Errorf("async sleep without id: %v", err)
	}
}

// TestParseObserveAsync: observe may name the id of an earlier async step
// (its process) instead of a holder, and await names it too.
func TestParseObserveAsync(t *testing.T) {
	s, err := Parse("x.yaml", []byte("name: x\nsummary: s\nmodules: [m]\nsteps:\n  - unload: m\n    async: true\n    id: u\n  - observe: u\n    expect: {state: D}\n  - await: u\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps[1].Target != "u" || s.Steps[2].Target != "u" || !s.Steps[0].Async || s.Steps[0].ID != "u" {
		t.Errorf("steps = %+v", s.Steps)
	}
}

// TestLoadDirLayers: LoadDir gives the experiments sorted by file name, an
// earlier directory's file replacing a later one's of the same name.
func TestLoadDirLayers(t *testing.T) {
	project, lab := t.TempDir(), t.TempDir()
	write := func(dir, name, summary string) {
		y := "name: " + name + "\nsummary: " + summary + "\nsteps:\n  - sleep: 1s\n"
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(project, "d", "project")
	write(project, "b", "project")
	write(lab, "b", "lab")
	write(lab, "a", "lab")
	write(lab, "c", "lab")
	os.WriteFile(filepath.Join(lab, "notes.txt"), []byte("not yaml"), 0o644)
	specs, err := LoadDir(project, lab)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Name+"="+s.Summary)
	}
	if want := "a=lab b=project c=lab d=project"; strings.Join(got, " ") != want {
		t.Errorf("LoadDir = %s; want %s", strings.Join(got, " "), want)
	}
	// One bad file fails the whole load, naming its file and line.
	os.WriteFile(filepath.Join(lab, "e.yaml"), []byte("name: e\nsummary: s\nsteps: 1\n"), 0o644)
	if _, err := LoadDir(project, lab); err == nil || err.Error() != filepath.Join(lab, "e.yaml")+":3: steps must be a non-empty list" {
		t.Errorf("LoadDir with a bad file = %v", err)
	}
	if _, err := Load(filepath.Join(lab, "none.yaml")); err == nil || !os.IsNotExist(err) {
		t.Errorf("Load(missing) = %v; want a not-exist error", err)
	}
}

// TestJudgeRepeatsPerKernel: the expected rate is the kernel's own where
// it has one, and is recorded on the cell; without a rate none is.
func TestJudgeRepeatsPerKernel(t *testing.T) {
	s, err := Parse("r.yaml", []byte("name: r\nsummary: s\nsteps:\n  - sleep: 1s\nexpect:\n  rate: \">= 0.5\"\n  kernels:\n    old: {rate: \"< 0.5\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cell := func(kernel string, verdicts ...string) *results.Result {
		var reps []*results.Result
		for _, v := range verdicts {
			reps = append(reps, &results.Result{Kernel: results.Kernel{Name: kernel}, Verdict: v, Reason: "r"})
		}
		agg := *reps[0]
		agg.Reason, agg.Error, agg.ErrorKind = "stale", "stale", "stale"
		agg.Repeats = results.Distribute(reps)
		JudgeRepeats(s, &agg, reps)
		return &agg
	}
	for _, tc := range []struct {
		kernel   string
		verdicts []string
		verdict  string
		reason   string
		rate     string
	}{
		{"new", []string{"pass", "fail"}, results.Pass, "", ">= 0.5"},
		{"new", []string{"fail", "fail", "pass", "fail"}, results.Fail, "1 of 4 repeats passed, rate 0.25 (95% interval 0.05–0.70); want >= 0.5", ">= 0.5"},
		{"old", []string{"fail", "fail", "pass", "fail"}, results.Pass, "", "< 0.5"},
		{"old", []string{"pass", "fail"}, results.Fail, "1 of 2 repeats passed, rate 0.50 (95% interval 0.09–0.91); want < 0.5", "< 0.5"},
	} {
		agg := cell(tc.kernel, tc.verdicts...)
		if agg.Verdict != tc.verdict || agg.Reason != tc.reason || agg.Error != "" || agg.ErrorKind != "" || agg.Repeats.ExpectedRate != tc.rate {
			t.Errorf("%s %v: %s %q (error %q %q, rate %q); want %s %q, rate %q", tc.kernel, tc.verdicts,
				agg.Verdict, agg.Reason, agg.Error, agg.ErrorKind, agg.Repeats.ExpectedRate, tc.verdict, tc.reason, tc.rate)
		}
	}
	plain := &Spec{Name: "p"}
	reps := []*results.Result{{Verdict: results.Pass}, {Verdict: results.Fail, Reason: "step 1: ok: want true, got false"}}
	agg := *reps[0]
	agg.Repeats = results.Distribute(reps)
	JudgeRepeats(plain, &agg, reps)
	want := "1 of 2 repeats failed (every repeat must pass; expect.rate allows fewer): repeat 2: step 1: ok: want true, got false"
	if agg.Verdict != results.Fail || agg.Reason != want || agg.Repeats.ExpectedRate != "" {
		t.Errorf("no rate, one failure: %s %q rate %q; want fail %q", agg.Verdict, agg.Reason, agg.Repeats.ExpectedRate, want)
	}
}
