package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { addCommand(newGetCmd) }

func newGetCmd() *cobra.Command {
	var ds string
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value (exact bytes with -o raw, the default)",
		Example: `  holdfast get greeting
  holdfast get photo > photo.jpg
  holdfast get -o json -d sessions user/42`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			key := []byte(args[0])
			v, err := c.Get(ctx, ds, key)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch cf.output {
			case "json":
				return writeJSON(out, struct {
					Dataspace string    `json:"dataspace"`
					Key       bytesJSON `json:"key"`
					Value     bytesJSON `json:"value"`
					Seq       uint64    `json:"seq"`
				}{ds, jsonBytes(key), jsonBytes(v.Data), v.Seq})
			case "table":
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "KEY\tSEQ\tVALUE\n%s\t%d\t%s\n", printable(key), v.Seq, printable(v.Data))
				return tw.Flush()
			default:
				_, err := out.Write(v.Data)
				return err
			}
		},
	}
	cmd.Flags().StringVarP(&ds, "dataspace", "d", "default", "dataspace")
	cf = addClientFlags(cmd, "raw", "table", "json")
	return cmd
}
