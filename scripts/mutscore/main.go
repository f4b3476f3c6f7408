// Command mutscore reads the JSON reports gremlins wrote (one per package,
// gremlins unleash -o) and prints, per package, the mutation score the
// project holds itself to: killed ÷ (killed + lived + not covered), with
// the mutants judged equivalent (listed in .gremlins-equivalent, each with
// its reason) left out of the count. It exits 1 when a package is under
// the goal. make mutate runs it; docs/testing.md has the table.
//
// An equivalent mutant is named by its file, its kind and the code of its
// line, not the line's number, so that an edit above it does not undo the
// judgement: rate.go CONDITIONALS_BOUNDARY `return p >= r.Value-eps`.
//
// gremlins' own "test efficacy" leaves out the mutants no test covers,
// which would hide an untested function: they count here.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type report struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

func main() {
	goal := flag.Float64("goal", 85, "the score every package must reach, in percent")
	equivFile := flag.String("equivalent", ".gremlins-equivalent", "mutants judged equivalent: 'FILE TYPE `CODE`  # reason' a line")
	src := flag.String("src", "internal", "where each package's source is (a report PKG.json is of SRC/PKG)")
	cases := flag.Bool("cases", true, "run the mutants gremlins leaves NOT COVERED in case clauses' conditions (cases.go)")
	flag.Parse()
	equiv, err := readEquivalent(*equivFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutscore:", err)
		os.Exit(2)
	}
	failed := false
	fmt.Printf("%-22s %7s %6s %8s %6s %7s\n", "package", "killed", "lived", "uncov.", "equiv.", "score")
	for _, path := range flag.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mutscore:", err)
			os.Exit(2)
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintf(os.Stderr, "mutscore: %s: %v\n", path, err)
			os.Exit(2)
		}
		pkg := strings.TrimSuffix(filepath.Base(path), ".json")
		var killed, lived, uncovered, skipped, ranCases int
		var survivors []string
		for _, f := range r.Files {
			source, _ := os.ReadFile(filepath.Join(*src, pkg, f.FileName))
			lines := strings.Split(string(source), "\n")
			for _, m := range f.Mutations {
				id := fmt.Sprintf("%s:%d:%d %s", f.FileName, m.Line, m.Column, m.Type)
				if m.Line >= 1 && m.Line <= len(lines) && equiv.holds(f.FileName, m.Type, lines[m.Line-1]) {
					skipped++
					continue
				}
				switch m.Status {
				case "KILLED", "TIMED OUT":
					killed++
				case "LIVED":
					lived++
					survivors = append(survivors, "lived "+id)
				case "NOT COVERED":
					if *cases && m.Line >= 1 && m.Line <= len(lines) && caseMutant(lines[m.Line-1]) {
						k, err := runCaseMutant(filepath.Join(*src, pkg), filepath.Join(*src, pkg, f.FileName), lines, m.Line, m.Column, m.Type)
						switch {
						case err != nil:
							fmt.Fprintf(os.Stderr, "mutscore: %s: %v\n", id, err)
						case k:
							killed++
							ranCases++
							continue
						default:
							lived++
							ranCases++
							survivors = append(survivors, "lived (case, run by mutscore) "+id)
							continue
						}
					}
					uncovered++
					survivors = append(survivors, "not covered "+id)
				}
			}
		}
		total := killed + lived + uncovered
		score := 100.0
		if total > 0 {
			score = 100 * float64(killed) / float64(total)
		}
		mark := ""
		if score < *goal {
			mark, failed = "  < goal", true
		}
		fmt.Printf("%-22s %7d %6d %8d %6d %6.1f%%%s\n", pkg, killed, lived, uncovered, skipped, score, mark)
		if ranCases > 0 {
			fmt.Printf("    (%d mutants in case clauses, which gremlins does not run, run by mutscore and counted above)\n", ranCases)
		}
		sort.Strings(survivors)
		for _, s := range survivors {
			fmt.Printf("    %s\n", s)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// equivalents are the mutants judged equivalent, as file and kind to the
// code their line holds.
type equivalents map[[2]string][]string

func (e equivalents) holds(file, kind, line string) bool {
	for _, code := range e[[2]string{file, kind}] {
		if strings.Contains(line, code) {
			return true
		}
	}
	return false
}

func readEquivalent(path string) (equivalents, error) {
	out := equivalents{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "`", 3)
		if len(fields) != 3 || len(strings.Fields(fields[0])) != 2 || fields[1] == "" {
			return nil, fmt.Errorf("%s:%d: want FILE TYPE `CODE`  # reason", path, n)
		}
		if _, reason, ok := strings.Cut(fields[2], "#"); !ok || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: an equivalent mutant needs its reason after #", path, n)
		}
		ft := strings.Fields(fields[0])
		key := [2]string{ft[0], ft[1]}
		out[key] = append(out[key], fields[1])
	}
	return out, sc.Err()
}
