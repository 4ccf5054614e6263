package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

func init() { addCommand(newPutCmd) }

func newPutCmd() *cobra.Command {
	var ds, file, requestID string
	var ifVersion uint64
	var ifAbsent, ifExists bool
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Store a value under a key (durable before it returns under sync=always)",
		Example: `  holdfast put greeting hello
  holdfast put photo --file photo.jpg
  echo -n 42 | holdfast put answer --file -
  holdfast put lock me --if-absent
  holdfast put counter 7 --if-version 19 --request-id job-7`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var value []byte
			switch {
			case len(args) == 2 && file != "":
				return usageErrorf("give the value as an argument or with --file, not both")
			case len(args) == 2:
				value = []byte(args[1])
			case file == "-":
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				value = b
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return usageErrorf("--file: %v", err)
				}
				value = b
			default:
				return usageErrorf("missing VALUE (or --file PATH, --file - for standard input)")
			}
			var opts []client.WriteOption
			n := 0
			if cmd.Flags().Changed("if-version") {
				opts = append(opts, client.IfVersion(ifVersion))
				n++
			}
			if ifAbsent {
				opts = append(opts, client.IfAbsent())
				n++
			}
			if ifExists {
				opts = append(opts, client.IfExists())
				n++
			}
			if n > 1 {
				return usageErrorf("--if-version, --if-absent and --if-exists exclude each other")
			}
			if requestID != "" {
				opts = append(opts, client.WithRequestID(requestID))
			}
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			seq, err := c.Put(ctx, ds, []byte(args[0]), value, opts...)
			if err != nil {
				return err
			}
			if cf.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]uint64{"seq": seq})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK seq %d\n", seq)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&ds, "dataspace", "d", "default", "dataspace")
	f.StringVar(&file, "file", "", "read the value from this file (- for standard input)")
	f.Uint64Var(&ifVersion, "if-version", 0, "write only if the key's version (seq) is this")
	f.BoolVar(&ifAbsent, "if-absent", false, "write only if the key does not exist")
	f.BoolVar(&ifExists, "if-exists", false, "write only if the key exists")
	f.StringVar(&requestID, "request-id", "", "idempotency key: a retry with the same id is applied once")
	cf = addClientFlags(cmd)
	return cmd
}
