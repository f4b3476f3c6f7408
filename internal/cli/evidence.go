package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"lab/internal/evidence"
	"lab/internal/results"
)

func (g *globals) evidenceCmd() *cobra.Command {
	var asJSON bool
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
			oopses, err := evidence.Parse(in)
			if err != nil {
				return err
			}
			for _, o := range oopses {
				if asJSON {
					b, _ := json.Marshal(o)
					fmt.Fprintln(g.stdout, string(b))
					continue
				}
				fmt.Fprintf(g.stdout, "line %d: %s\n", o.Line, results.OopsLine(o))
				for _, f := range o.CallTrace {
					fmt.Fprintf(g.stdout, "    %s\n", f)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON record a line")
	return c
}
