package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kernel-lab/lab/internal/"

func design(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// labImports is each internal package (by its path below internal/) and
// the internal packages it imports, from go list.
func labImports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	res := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		res[pkg] = nil
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				res[pkg] = append(res[pkg], strings.TrimPrefix(imp, module))
			}
		}
	}
	return res
}

// section is the text of design.md from heading to the next heading of
// the same level.
func section(doc, heading string) string {
	i := strings.Index(doc, heading)
	if i < 0 {
		return ""
	}
	rest := doc[i+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestDesignPackages: "Packages and their imports" names every package,
// and each package's bullet (the one that starts with it) names every lab
// package it imports; a bullet that says it "imports nothing of lab", and
// each package of the "Leaves:" bullet, imports none.
func TestDesignPackages(t *testing.T) {
	doc := section(design(t), "## Packages and their imports")
	imports := labImports(t)
	for pkg := range imports {
		if pkg == "docs" {
			continue
		}
		if !strings.Contains(doc, "`"+filepath.Base(pkg)+"`") {
			t.Errorf("design.md's package list does not name %s", pkg)
		}
	}
	bullets := regexp.MustCompile("(?m)^- ").Split(doc, -1)
	quoted := regexp.MustCompile("`([a-z/]+)`")
	for _, b := range bullets[1:] {
		if strings.HasPrefix(b, "Leaves:") {
			for _, m := range quoted.FindAllStringSubmatch(b, -1) {
				if imps, ok := imports[m[1]]; ok && len(imps) > 0 {
					t.Errorf("design.md calls %s a leaf; it imports %v", m[1], imps)
				}
			}
			continue
		}
		first := quoted.FindStringSubmatch(b)
		if first == nil || !strings.HasPrefix(b, "`"+first[1]+"`") {
			continue
		}
		pkg := first[1]
		imps, ok := imports[pkg]
		if !ok {
			continue
		}
		if strings.Contains(b, "imports nothing of lab") && len(imps) > 0 {
			t.Errorf("design.md says %s imports nothing of lab; it imports %v", pkg, imps)
		}
		for _, imp := range imps {
			if !strings.Contains(b, "`"+filepath.Base(imp)+"`") {
				t.Errorf("design.md's bullet for %s does not name %s, which it imports", pkg, imp)
			}
		}
	}
}

// stringConsts are the string constants of a Go file whose names match re.
func stringConsts(t *testing.T, file string, re *regexp.Regexp) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !re.MatchString(n.Name) || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[n.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return out
}

// TestDesignProtocol: the protocol section lists every action the
// protocol defines and every console marker the agent writes.
func TestDesignProtocol(t *testing.T) {
	doc := section(design(t), "## The guest protocol")
	for name, v := range stringConsts(t, filepath.Join("..", "protocol", "protocol.go"), regexp.MustCompile(`^Action[A-Z]`)) {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(doc) {
			t.Errorf("design.md's protocol section does not list the action %s (%q)", name, v)
		}
	}
	markers := stringConsts(t, filepath.Join("..", "protocol", "markers.go"), regexp.MustCompile(`Marker$`))
	for k, v := range stringConsts(t, filepath.Join("..", "protocol", "keys.go"), regexp.MustCompile(`Marker$`)) {
		markers[k] = v
	}
	for name, v := range markers {
		words := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(v, "lab-agent: ")), ":")
		if !strings.Contains(doc, words) {
			t.Errorf("design.md's protocol section does not list the console marker %s (%q)", name, words)
		}
	}
}
