package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

func init() { addCommand(newDelCmd) }

func newDelCmd() *cobra.Command {
	var ds, requestID string
	var ifVersion uint64
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "del KEY...",
		Short: "Delete keys (a missing key is not an error: it reports deleted false)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.WriteOption
			if cmd.Flags().Changed("if-version") {
				if len(args) != 1 {
					return usageErrorf("--if-version takes exactly one KEY")
				}
				opts = append(opts, client.IfVersion(ifVersion))
			}
			if requestID != "" {
				if len(args) != 1 {
					return usageErrorf("--request-id takes exactly one KEY")
				}
				opts = append(opts, client.WithRequestID(requestID))
			}
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			type result struct {
				Key     bytesJSON `json:"key"`
				Deleted bool      `json:"deleted"`
				Seq     uint64    `json:"seq"`
			}
			var results []result
			for _, k := range args {
				existed, seq, err := c.Delete(ctx, ds, []byte(k), opts...)
				if err != nil {
					return fmt.Errorf("del %q: %w", k, err)
				}
				results = append(results, result{jsonBytes([]byte(k)), existed, seq})
			}
			if cf.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"results": results})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tDELETED\tSEQ")
			for i, r := range results {
				fmt.Fprintf(tw, "%s\t%v\t%d\n", printable([]byte(args[i])), r.Deleted, r.Seq)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ds, "dataspace", "d", "default", "dataspace")
	f.Uint64Var(&ifVersion, "if-version", 0, "delete only if the key's version (seq) is this")
	f.StringVar(&requestID, "request-id", "", "idempotency key: a retry with the same id is applied once")
	cf = addClientFlags(cmd)
	return cmd
}
