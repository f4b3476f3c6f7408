package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/evidence"
	"github.com/kernel-lab/lab/internal/results"
	"github.com/kernel-lab/lab/internal/symbolize"
)

func (g *globals) evidenceCmd() *cobra.Command {
	var asJSON bool
	var systemMap string
	var modules []string
	c := &cobra.Command{
		Use:   "evidence [FILE|-]",
		Short: "parse a kernel console log or dmesg output from anywhere into oops records",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = os.Stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			// Stream: each report is printed as it closes, so memory stays
			// flat however long the log.
			var sym *symbolize.Table
			if systemMap != "" || len(modules) > 0 {
				s, closeAll, err := symbolizer(systemMap, modules)
				if err != nil {
					return err
				}
				defer closeAll()
				sym = s
			}
			return evidence.Stream(in, func(o evidence.Report) {
				if sym != nil {
					sym.Annotate(&o)
				}
				if asJSON {
					b, _ := json.Marshal(o)
					fmt.Fprintln(g.stdout, string(b))
					return
				}
				fmt.Fprintf(g.stdout, "line %d: %s\n", o.Line, results.OopsLine(o))
				for _, r := range o.Resolved {
					fmt.Fprintf(g.stdout, "  %s\n", r)
				}
				for _, f := range o.CallTrace {
					fmt.Fprintf(g.stdout, "    %s\n", f)
				}
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON record a line")
	c.Flags().StringVar(&systemMap, "symbols", "", "System.map (or /proc/kallsyms output) of the kernel that printed the log")
	c.Flags().StringArrayVar(&modules, "module", nil, "NAME=ADDR:FILE.ko (ADDR: the module's .text address, e.g. from /proc/modules) or NAME=FILE.ko:SECTION=ADDR,… (addresses from /sys/module/NAME/sections); repeatable")
	return c
}

// symbolizer builds the symbol table from the files --symbols and --module
// name: unlike a run's sources, a file that cannot be read is an error.
func symbolizer(systemMap string, modules []string) (*symbolize.Table, func(), error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	var kernel io.Reader
	if systemMap != "" {
		f, err := os.Open(systemMap)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		kernel = f
	}
	var mods []symbolize.Module
	for _, spec := range modules {
		m, path, err := parseModuleFlag(spec)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("--module %s: %w", spec, err)
		}
		files = append(files, f)
		m.Object = f
		mods = append(mods, m)
	}
	s, err := symbolize.Read(kernel, mods)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return s, closeAll, nil
}

// parseModuleFlag reads NAME=ADDR:FILE.ko or NAME=FILE.ko:SEC=ADDR,SEC=ADDR.
func parseModuleFlag(spec string) (symbolize.Module, string, error) {
	bad := fmt.Errorf("--module %q: want NAME=ADDR:FILE.ko or NAME=FILE.ko:.text=ADDR,.rodata=ADDR", spec)
	name, rest, ok := strings.Cut(spec, "=")
	if !ok || name == "" {
		return symbolize.Module{}, "", bad
	}
	m := symbolize.Module{Name: name, Sections: map[string]uint64{}}
	first, second, ok := strings.Cut(rest, ":")
	if !ok {
		return m, "", bad
	}
	if addr, err := strconv.ParseUint(strings.TrimPrefix(first, "0x"), 16, 64); err == nil {
		// Only .text is placed: the other sections' addresses depend on
		// the loader's layout, and a guessed address would name a wrong
		// symbol with confidence.
		m.Sections[".text"] = addr
		return m, second, nil
	}
	for _, kv := range strings.Split(second, ",") {
		sec, a, ok := strings.Cut(kv, "=")
		addr, err := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64)
		if !ok || err != nil {
			return m, "", bad
		}
		m.Sections[sec] = addr
	}
	return m, first, nil
}
