package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kernel-lab/lab/internal/results"
)

// TestBadShardExits2: a malformed --shard is refused with exit 2 before
// anything is fetched (the cache directory stays absent).
func TestBadShardExits2(t *testing.T) {
	for _, bad := range []string{"0/2", "3/2", "x/y", "2"} {
		dir := t.TempDir()
		cache := filepath.Join(dir, "cache")
		var out, errb bytes.Buffer
		code := Main([]string{"--root", "../..", "--cache", cache, "matrix", "--results", filepath.Join(dir, "results"), "--shard", bad, "chardev-safe"}, &out, &errb)
		if code != ExitError || !strings.Contains(errb.String(), `--shard "`+bad+`"`) {
			t.Errorf("lab matrix --shard %s = exit %d, stderr %q; want exit 2 naming the flag and its value", bad, code, errb.String())
		}
		if _, err := os.Stat(cache); !os.IsNotExist(err) {
			t.Errorf("lab matrix --shard %s touched the cache before refusing it", bad)
		}
		if _, err := os.Stat(filepath.Join(dir, "results")); !os.IsNotExist(err) {
			t.Errorf("lab matrix --shard %s wrote results before refusing it", bad)
		}
	}
}

// shardDir writes a finished shard run holding the given cells
// ("kernel/experiment" = verdict) of the matrix kernels × experiments.
func shardDir(t *testing.T, dir, name string, cells map[string]string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	os.MkdirAll(d, 0o700)
	run := &results.Run{RunID: name, Complete: true, Shard: name,
		Planned: &results.Plan{Kernels: []string{"debian-5.10", "debian-6.1"}, Experiments: []string{"chardev-safe"}}}
	for cell, verdict := range cells {
		k, e, _ := strings.Cut(cell, "/")
		run.Kernels, run.Experiments = append(run.Kernels, k), []string{e}
		c, _ := results.CellDir(d, k, e)
		if err := results.Write(c, &results.Result{RunID: name, Experiment: e, Kernel: results.Kernel{Name: k}, Verdict: verdict}); err != nil {
			t.Fatal(err)
		}
	}
	if err := results.WriteRun(d, run); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReportMerge: lab report --merge exits as lab matrix would for the
// whole matrix, and refuses a cell given twice naming both directories.
func TestReportMerge(t *testing.T) {
	dir := t.TempDir()
	pass1 := shardDir(t, dir, "1of2", map[string]string{"debian-5.10/chardev-safe": results.Pass})
	pass2 := shardDir(t, dir, "2of2", map[string]string{"debian-6.1/chardev-safe": results.Pass})
	fail2 := shardDir(t, dir, "2of2-fail", map[string]string{"debian-6.1/chardev-safe": results.Fail})
	err2 := shardDir(t, dir, "2of2-error", map[string]string{"debian-6.1/chardev-safe": results.Error})
	for _, tc := range []struct {
		name string
		dirs []string
		code int
		want string
	}{
		{"all pass", []string{pass1, pass2}, ExitPass, "2 pass, 0 fail, 0 error\n"},
		{"a fail", []string{pass1, fail2}, ExitFail, "1 pass, 1 fail, 0 error\n"},
		{"an error", []string{pass1, err2}, ExitError, "1 pass, 0 fail, 1 error\n"},
		{"a shard missing", []string{pass1}, ExitError, "1 not run (incomplete run)"},
		{"a cell twice", []string{pass1, pass2, fail2}, ExitError, "chardev-safe on debian-6.1 has a result in both " + pass2 + " and " + fail2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged")
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"report", "--merge", out}, tc.dirs...), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.want) {
				t.Errorf("lab report --merge = exit %d\n%s%s\nwant exit %d and %q", code, stdout.String(), stderr.String(), tc.code, tc.want)
			}
			if _, err := os.Stat(filepath.Join(out, "junit.xml")); (err == nil) != (tc.name != "a cell twice") {
				t.Errorf("junit.xml written: %v; want it only when the merge succeeds", err == nil)
			}
		})
	}
}
