package evidence

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/**/*.golden.json from the parser's output")

// logFiles returns the console logs under testdata: the synthetic ones
// written for each format, and the ones captured from real kernels under
// testdata/real.
func logFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"testdata/*.log", "testdata/real/*.log"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no console logs under testdata")
	}
	return files
}

func goldenPath(log string) string {
	return strings.TrimSuffix(log, ".log") + ".golden.json"
}

func marshal(t testing.TB, v []Report) []byte {
	t.Helper()
	if v == nil {
		v = []Report{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden parses every log under testdata and compares the records
// with the golden file beside it. Run with -update to rewrite them, then
// read the diff against the log before committing it.
func TestGolden(t *testing.T) {
	for _, log := range logFiles(t) {
		t.Run(strings.TrimPrefix(log, "testdata/"), func(t *testing.T) {
			in, _ := readLog(t, log)
			got, err := Parse(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("Parse(%s) error = %v; want nil", log, err)
			}
			gotJSON := marshal(t, got)
			golden := goldenPath(log)
			if *update {
				if err := os.WriteFile(golden, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(gotJSON, want) {
				t.Errorf("Parse(%s) = %s; want %s", log, gotJSON, want)
			}
		})
	}
}
