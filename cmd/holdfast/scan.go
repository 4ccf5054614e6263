package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

func init() { addCommand(newScanCmd) }

func newScanCmd() *cobra.Command {
	var ds, prefix, start, end, after string
	var limit int
	var all bool
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "List keys in byte order with their values (one page, or --all)",
		Example: `  holdfast scan --prefix user/
  holdfast scan --start a --end m --limit 50
  holdfast scan --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 100_000 {
				return usageErrorf("--limit must be in 1..100000")
			}
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			opts := client.ScanOptions{Limit: limit}
			for _, b := range []struct {
				s   string
				dst *[]byte
			}{{prefix, &opts.Prefix}, {start, &opts.Start}, {end, &opts.End}, {after, &opts.After}} {
				if b.s != "" {
					*b.dst = []byte(b.s)
				}
			}
			var items []client.KV
			var next []byte
			for {
				page, err := c.Scan(ctx, ds, opts)
				if err != nil {
					return err
				}
				items = append(items, page.Items...)
				next = page.Next
				if !all || next == nil {
					break
				}
				opts.After = next
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				type item struct {
					Key   bytesJSON `json:"key"`
					Value bytesJSON `json:"value"`
					Seq   uint64    `json:"seq"`
				}
				list := make([]item, len(items))
				for i, kv := range items {
					list[i] = item{jsonBytes(kv.Key), jsonBytes(kv.Value), kv.Seq}
				}
				var nextJSON *bytesJSON
				if next != nil {
					n := jsonBytes(next)
					nextJSON = &n
				}
				return writeJSON(out, map[string]any{"items": list, "next": nextJSON})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSEQ\tVALUE")
			for _, kv := range items {
				v := printable(kv.Value)
				if len(v) > 80 {
					v = v[:77] + "..."
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\n", printable(kv.Key), kv.Seq, v)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "more keys follow: --after %s (or --all)\n", printable(next))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ds, "dataspace", "d", "default", "dataspace")
	f.StringVar(&prefix, "prefix", "", "only keys with this prefix")
	f.StringVar(&start, "start", "", "first key (inclusive)")
	f.StringVar(&end, "end", "", "end key (exclusive)")
	f.StringVar(&after, "after", "", "resume after this key")
	f.IntVar(&limit, "limit", 1000, "keys per page (1..100000)")
	f.BoolVar(&all, "all", false, "follow every page to the end")
	cf = addClientFlags(cmd)
	return cmd
}
