package cli

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/compare"
)

func (g *globals) diffCmd() *cobra.Command {
	var maps []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "diff A B",
		Short: "what changed from run A to run B (run directories, merged runs, or result.json files): each cell same, changed (and how), new or gone; exit 0 when nothing changed, 1 when something did",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := compare.ParseMapping(maps)
			if err != nil {
				return err
			}
			a, err := compare.Load(args[0])
			if err != nil {
				return err
			}
			b, err := compare.Load(args[1])
			if err != nil {
				return err
			}
			rep, err := compare.Compare(a, b, m)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.Text(g.stdout)
			}
			if rep.Differs() {
				g.exit = ExitFail
			}
			return nil
		},
	}
	c.Flags().StringArrayVar(&maps, "map", nil, "compare image KERNEL-A of A with KERNEL-B of B (KERNEL-A=KERNEL-B, e.g. debian-6.1=debian-6.12; only the mapped images take part); repeatable")
	c.Flags().BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	return c
}
