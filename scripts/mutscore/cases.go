package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// gremlins v0.6.0 never runs a mutant in the condition of a case clause
// (`switch { case a < b: … }`): Go's cover profile gives the clause's
// condition no block (its counted block starts after the colon), and
// gremlins runs only mutants inside a covered block, so it reports each
// one NOT COVERED whatever the tests do (go-gremlins/gremlins#298, open;
// #299 would fix it). mutscore runs those mutants itself: it applies the
// mutation to a copy of the file and runs the package's tests with
// `go test -overlay`, which swaps the file for the build without touching
// the working tree.

// caseMutant is a mutant gremlins left in a case clause's condition.
func caseMutant(line string) bool {
	return strings.HasPrefix(strings.TrimSpace(line), "case ")
}

// The operators each kind of mutant swaps, as gremlins swaps them.
var mutations = map[string]map[string]string{
	"CONDITIONALS_BOUNDARY": {"<": "<=", "<=": "<", ">": ">=", ">=": ">"},
	"CONDITIONALS_NEGATION": {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"},
	"ARITHMETIC_BASE":       {"+": "-", "-": "+", "*": "/", "/": "*", "%": "*"},
	"INCREMENT_DECREMENT":   {"++": "--", "--": "++"},
	// gremlins turns a minus into a plus (-x → +x, a-b → a+b).
	"INVERT_NEGATIVES": {"-": "+"},
}

// mutate returns line with the operator at column (1-based) swapped as
// kind swaps it.
func mutate(line string, column int, kind string) (string, error) {
	table, ok := mutations[kind]
	c := column - 1
	if !ok || c < 0 || c >= len(line) {
		return "", fmt.Errorf("cannot apply %s at column %d", kind, column)
	}
	op := line[c : c+1]
	if c+2 <= len(line) {
		if _, two := table[line[c:c+2]]; two {
			op = line[c : c+2]
		}
	}
	repl, ok := table[op]
	if !ok {
		return "", fmt.Errorf("no %s operator at column %d of %q", kind, column, line)
	}
	return line[:c] + repl + line[c+len(op):], nil
}

// runCaseMutant applies one mutant to file (lines are its source) and
// runs the tests of the package in dir; it says whether they failed
// (killed). A mutant that does not build is killed too, as gremlins
// counts it.
func runCaseMutant(dir, file string, lines []string, line, column int, kind string) (killed bool, err error) {
	mutated, err := mutate(lines[line-1], column, kind)
	if err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp("", "mutscore-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	copyLines := append([]string(nil), lines...)
	copyLines[line-1] = mutated
	mutFile := filepath.Join(tmp, filepath.Base(file))
	if err := os.WriteFile(mutFile, []byte(strings.Join(copyLines, "\n")), 0o600); err != nil {
		return false, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return false, err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: mutFile}})
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o600); err != nil {
		return false, err
	}
	cmd := exec.Command("go", "test", "-short", "-count=1", "-overlay", overlayFile, "./"+filepath.ToSlash(dir))
	out, err := cmd.CombinedOutput()
	if err == nil {
		return false, nil
	}
	if _, ok := err.(*exec.ExitError); ok {
		return true, nil
	}
	return false, fmt.Errorf("go test: %v: %s", err, out)
}
