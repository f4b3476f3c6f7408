package results

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/kernel-lab/lab/internal/safefile"
	"github.com/kernel-lab/lab/internal/textutil"
)

// WriteReports renders report.md, report.html and junit.xml into dir from
// the results alone, so `lab report` can redo them for any run, finished or
// not.
func WriteReports(dir string, m *Matrix) error {
	for name, render := range map[string]func(io.Writer, *Matrix) error{
		"report.md":   Markdown,
		"report.html": HTML,
		"junit.xml":   JUnit,
	} {
		var b strings.Builder
		if err := render(&b, m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := safefile.WriteAtomic(filepath.Join(dir, name), []byte(b.String())); err != nil {
			return err
		}
	}
	return nil
}

// Table writes the matrix for a terminal: experiments as rows, kernels as
// columns, each cell the verdict and what the kernel did.
func Table(w io.Writer, m *Matrix) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "experiment")
	for _, k := range m.Kernels {
		fmt.Fprintf(tw, "\t%s", k)
	}
	fmt.Fprintln(tw)
	for _, e := range m.Experiments {
		fmt.Fprint(tw, e)
		for _, k := range m.Kernels {
			r := m.Cell(e, k)
			fmt.Fprintf(tw, "\t%s", cellText(r))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, d := range m.Differences() {
		fmt.Fprintf(w, "\n%s differs between kernels:\n", d.Experiment)
		for i, k := range d.Kernels {
			fmt.Fprintf(w, "  %-14s %s\n", k, d.Says[i])
		}
		for _, a := range d.Arch {
			fmt.Fprintf(w, "  architectural: %s\n", a)
		}
	}
	c := m.Counts()
	fmt.Fprintf(w, "\n%d pass, %d fail, %d error", c[Pass], c[Fail], c[Error])
	if c["missing"] > 0 {
		fmt.Fprintf(w, ", %d not run", c["missing"])
	}
	if m.Run != nil && !m.Run.Complete {
		fmt.Fprint(w, " (incomplete run)")
	}
	fmt.Fprintln(w)
}

func cellText(r *Result) string {
	if r == nil {
		return "-"
	}
	t := strings.ToUpper(r.Verdict) + ": " + Observation(r)
	if r.Repeats != nil {
		t += " [" + r.Repeats.String()
		if r.Repeats.Flaky {
			t += "; flaky"
		}
		t += "]"
	}
	return t
}

// Section is a part of report.md and report.html that another package
// computed (the comparison with a baseline): a title, a sentence, and a
// list whose strong items lead.
type Section struct {
	Title string
	Intro string
	Items []SectionItem
}

// SectionItem is one line of a Section, with lines under it.
type SectionItem struct {
	Text   string
	Strong bool
	Sub    []string
}

func sectionMarkdown(w io.Writer, s Section) {
	fmt.Fprintf(w, "## %s\n\n%s\n\n", mdEscape(s.Title), mdEscape(s.Intro))
	for _, it := range s.Items {
		if it.Strong {
			fmt.Fprintf(w, "- **%s**\n", mdEscape(it.Text))
		} else {
			fmt.Fprintf(w, "- %s\n", mdEscape(it.Text))
		}
		for _, sub := range it.Sub {
			fmt.Fprintf(w, "  - %s\n", mdEscape(sub))
		}
	}
	if len(s.Items) > 0 {
		fmt.Fprintln(w)
	}
}

// Markdown writes report.md, fit for a CI step summary.
func Markdown(w io.Writer, m *Matrix) error {
	fmt.Fprintf(w, "# lab run %s\n\n", m.Run.RunID)
	c := m.Counts()
	fmt.Fprintf(w, "%d pass, %d fail, %d error", c[Pass], c[Fail], c[Error])
	if c["missing"] > 0 {
		fmt.Fprintf(w, ", %d not run", c["missing"])
	}
	if !m.Run.Complete {
		fmt.Fprint(w, " — **incomplete run**")
	}
	fmt.Fprint(w, "\n\n")
	for _, sec := range m.Sections {
		sectionMarkdown(w, sec)
	}
	fmt.Fprint(w, "| experiment |")
	for _, k := range m.Kernels {
		fmt.Fprintf(w, " %s |", k)
	}
	fmt.Fprint(w, "\n|---|")
	for range m.Kernels {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, e := range m.Experiments {
		fmt.Fprintf(w, "| %s |", mdEscape(e))
		for _, k := range m.Kernels {
			r := m.Cell(e, k)
			icon := map[string]string{Pass: "✅", Fail: "❌", Error: "⚠️"}[verdictOf(r)]
			fmt.Fprintf(w, " %s %s |", icon, mdEscape(cellText(r)))
		}
		fmt.Fprintln(w)
	}
	if ds := m.Differences(); len(ds) > 0 {
		fmt.Fprint(w, "\n## Where kernels differ\n\n")
		for _, d := range ds {
			fmt.Fprintf(w, "**%s**\n\n", mdEscape(d.Experiment))
			for i, k := range d.Kernels {
				fmt.Fprintf(w, "- %s: %s\n", k, mdEscape(d.Says[i]))
			}
			for _, a := range d.Arch {
				fmt.Fprintf(w, "- architectural: %s\n", mdEscape(a))
			}
			fmt.Fprintln(w)
		}
	}
	if builds := m.Builds(); len(builds) > 0 {
		fmt.Fprint(w, "\n## Kernel builds\n\n")
		for _, b := range builds {
			fmt.Fprintf(w, "- %s\n", mdEscape(b))
		}
	}
	var bad []*Result
	for _, e := range m.Experiments {
		for _, k := range m.Kernels {
			if r := m.Cell(e, k); r != nil && r.Verdict != Pass {
				bad = append(bad, r)
			}
		}
	}
	if len(bad) > 0 {
		fmt.Fprint(w, "\n## Not passing\n\n")
		for _, r := range bad {
			why := r.Reason
			if r.Verdict == Error {
				why = r.ErrorKind + ": " + textutil.FirstLine(r.Error)
			}
			fmt.Fprintf(w, "- %s on %s: %s — %s\n", mdEscape(r.Experiment), r.Kernel.Name, r.Verdict, mdEscape(why))
		}
	}
	return nil
}

func verdictOf(r *Result) string {
	if r == nil {
		return ""
	}
	return r.Verdict
}

// mdEscape keeps kernel text from breaking (or injecting into) the table.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// JUnit writes junit.xml: one testcase per experiment and kernel.
func JUnit(w io.Writer, m *Matrix) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Time      float64  `xml:"time,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Error     *failure `xml:"error,omitempty"`
		Skipped   *struct {
			Message string `xml:"message,attr"`
		} `xml:"skipped,omitempty"`
		SystemOut string `xml:"system-out,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "lab " + m.Run.RunID}
	for _, e := range m.Experiments {
		for _, k := range m.Kernels {
			r := m.Cell(e, k)
			tc := testcase{Name: e, Classname: "lab." + k}
			s.Tests++
			switch {
			case r == nil:
				s.Skipped++
				tc.Skipped = &struct {
					Message string `xml:"message,attr"`
				}{"not run (incomplete run)"}
			case r.Verdict == Fail:
				s.Failures++
				tc.Failure = &failure{Message: r.Reason, Type: "fail", Text: Observation(r)}
			case r.Verdict == Error:
				s.Errors++
				tc.Error = &failure{Message: r.ErrorKind, Type: r.ErrorKind, Text: r.Error}
			}
			if r != nil {
				tc.Time = float64(r.TimingsMS["total"]) / 1000
				tc.SystemOut = Observation(r)
			}
			s.Cases = append(s.Cases, tc)
		}
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// HTML writes report.html: one self-contained file (no scripts, no network)
// with the matrix and, per cell, the steps, the oops excerpt, the process
// states and the timings. Everything from the guest is escaped by
// html/template: console text is untrusted.
func HTML(w io.Writer, m *Matrix) error {
	type cell struct {
		ID, Experiment, Kernel, Verdict, Text string
		R                                     *Result
	}
	type row struct {
		Experiment string
		Cells      []cell
	}
	var rows []row
	var details []cell
	for ei, e := range m.Experiments {
		rw := row{Experiment: e}
		for ki, k := range m.Kernels {
			r := m.Cell(e, k)
			c := cell{ID: fmt.Sprintf("c%d-%d", ei, ki), Experiment: e, Kernel: k, Verdict: verdictOf(r), Text: Observation(r), R: r}
			if r == nil {
				c.Verdict = "missing"
			}
			rw.Cells = append(rw.Cells, c)
			if r != nil {
				details = append(details, c)
			}
		}
		rows = append(rows, rw)
	}
	return htmlTemplate.Execute(w, map[string]any{
		"M": m, "Rows": rows, "Details": details, "Counts": m.Counts(), "Diffs": m.Differences(),
	})
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pcName":   PCName,
	"secs":     func(ms int64) string { return fmt.Sprintf("%.1f s", float64(ms)/1000) },
	"join":     strings.Join,
	"timeline": TimelineSVG,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>lab run {{.M.Run.RunID}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table.matrix{border-collapse:collapse}
table.matrix th,table.matrix td{border:1px solid #bbb;padding:.4em .6em;vertical-align:top}
td.pass{background:#e6f4e6}td.fail{background:#fde2e2}td.error{background:#fff1cc}td.missing{background:#eee}
td a{color:inherit;text-decoration:none}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
.verdict{font-weight:bold;text-transform:uppercase}
section{border-top:1px solid #ccc;margin-top:1.5em}
</style></head><body>
<h1>lab run {{.M.Run.RunID}}</h1>
<p>{{index .Counts "pass"}} pass, {{index .Counts "fail"}} fail, {{index .Counts "error"}} error{{with index .Counts "missing"}}, {{.}} not run{{end}}{{if not .M.Run.Complete}} — <strong>incomplete run</strong>{{end}}</p>
{{range .M.Sections}}<section class="extra"><h2>{{.Title}}</h2><p>{{.Intro}}</p><ul>{{range .Items}}<li>{{if .Strong}}<strong>{{.Text}}</strong>{{else}}{{.Text}}{{end}}{{with .Sub}}<ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}</li>{{end}}</ul></section>
{{end}}<table class="matrix" id="matrix">
<thead><tr><th>experiment</th>{{range .M.Kernels}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr><th>{{.Experiment}}</th>{{range .Cells}}<td class="cell {{.Verdict}}" data-kernel="{{.Kernel}}" data-experiment="{{.Experiment}}"><a href="#{{.ID}}"><span class="verdict">{{.Verdict}}</span><br>{{.Text}}</a></td>{{end}}</tr>
{{end}}</tbody></table>
{{with .Diffs}}<h2>Where kernels differ</h2>{{range $d := .}}<h3>{{$d.Experiment}}</h3><ul>{{range $i, $k := $d.Kernels}}<li>{{$k}}: {{index $d.Says $i}}</li>{{end}}{{range $d.Arch}}<li>architectural: {{.}}</li>{{end}}</ul>{{end}}{{end}}
{{range .Details}}{{$r := .R}}<section id="{{.ID}}">
<h2>{{.Experiment}} on {{.Kernel}}: <span class="verdict">{{$r.Verdict}}</span></h2>
<p>{{$r.Summary}}</p>
<p>{{$r.Kernel.Release}} ({{$r.Kernel.PackageVersion}}), accel {{$r.Accel}}; boot {{secs (index $r.TimingsMS "boot")}}, total {{secs (index $r.TimingsMS "total")}}</p>
{{with $r.Reason}}<p><strong>Why:</strong> {{.}}</p>{{end}}
{{with $r.Repeats}}<p><strong>{{.N}} repeats</strong>{{if .Flaky}} (flaky){{end}}: {{.Passed}} passed{{with .ExpectedRate}}, expected rate {{.}}{{end}}; the steps below are repeat 1's, each repeat's record is in repeat-NN/.</p><ul>{{range .Distribution}}<li>{{.Count}}/{{$r.Repeats.N}} {{.Label}}: rate {{printf "%.2f" .Rate}}, 95% interval {{printf "%.2f" .Low}}–{{printf "%.2f" .High}}</li>{{end}}</ul>{{end}}
{{with $r.Error}}<p><strong>Error ({{$r.ErrorKind}}):</strong></p><pre>{{.}}</pre>{{end}}
{{timeline $r}}
<table class="matrix"><tr><th>#</th><th>step</th><th>outcome</th><th>ms</th></tr>
{{range $r.Steps}}<tr><td>{{.Index}}</td><td>{{.Action}} {{.Target}}</td><td>{{if .NoAnswer}}no answer: {{.Error}}{{else if .OK}}ok{{else}}{{.Errno}} {{.Error}}{{end}}{{with .Data}} “{{.}}”{{end}}{{with .Process}}; {{.Comm}} {{.State}}{{with .Wchan}}, wchan {{.}}{{end}}{{end}}</td><td>{{.MS}}</td></tr>
{{end}}</table>
{{range $r.Processes}}<p>Process {{.Comm}} (pid {{.PID}}): <strong>{{.State}}</strong>{{with .Wchan}}, wchan {{.}}{{end}}{{if .Stack}}<pre>{{join .Stack "\n"}}</pre>{{end}}{{with .HungTaskReport}}<pre>{{.}}</pre>{{end}}</p>
{{end}}
{{range $r.Oopses}}{{$o := .}}<h3>{{.Title}}</h3><p>{{.Kind}}{{with .RIP}}, {{pcName $o.Arch}} {{.}}{{end}}{{with .CR2}}, CR2 {{.}}{{end}}{{with .Comm}}, task {{.}}{{end}}{{with .LastUnloaded}}, last unloaded {{.}}{{end}}{{if .RecursiveFault}}, recursive fault{{end}}</p>
{{with .Resolved}}<p>What the raw addresses were:</p><ul class="resolved">{{range .}}<li><code>{{.String}}</code></li>{{end}}</ul>{{end}}
<pre>{{join .Text "\n"}}</pre>
{{end}}
{{range $r.Notes}}<p>Note: {{.}}</p>
{{end}}
</section>
{{end}}
</body></html>
`))
