package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

func init() { addCommand(newDataspaceCmd) }

func newDataspaceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dataspace",
		Aliases: []string{"ds"},
		Short:   "Create, list and drop dataspaces",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErrorf("dataspace needs a subcommand: create, list or drop")
		},
	}
	cmd.AddCommand(newDataspaceCreateCmd(), newDataspaceListCmd(), newDataspaceDropCmd())
	return cmd
}

func newDataspaceCreateCmd() *cobra.Command {
	var sync string
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a dataspace ([a-z0-9][a-z0-9_-]{0,63}) with a sync policy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			info, err := c.CreateDataspace(ctx, args[0], sync)
			if err != nil {
				return err
			}
			return printDataspaces(cmd.OutOrStdout(), cf.output, []client.DataspaceInfo{info})
		},
	}
	cmd.Flags().StringVar(&sync, "sync", "always", `"always" (acknowledge once on stable storage) or "interval:<duration>" (acknowledge first; up to that window can be lost in a crash)`)
	cf = addClientFlags(cmd)
	return cmd
}

func newDataspaceListCmd() *cobra.Command {
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List dataspaces with their keys, bytes, sync policy and state",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			list, err := c.Dataspaces(ctx)
			if err != nil {
				return err
			}
			return printDataspaces(cmd.OutOrStdout(), cf.output, list)
		},
	}
	cf = addClientFlags(cmd)
	return cmd
}

func newDataspaceDropCmd() *cobra.Command {
	var yes bool
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "drop NAME --yes",
		Short: "Delete a dataspace and all its data (durable; needs --yes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageErrorf("drop deletes every key of dataspace %q for good; add --yes to confirm", args[0])
			}
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if err := c.DropDataspace(ctx, args[0]); err != nil {
				return err
			}
			if cf.output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"dropped": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dropped %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the drop")
	cf = addClientFlags(cmd)
	return cmd
}

func printDataspaces(w io.Writer, output string, list []client.DataspaceInfo) error {
	if output == "json" {
		return writeJSON(w, map[string]any{"dataspaces": list})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSYNC\tKEYS\tBYTES\tLAST SEQ\tLOG BYTES\tSTATE")
	for _, d := range list {
		state := "serving"
		if d.Stopped != nil {
			state = "stopped: " + *d.Stopped
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", d.Name, d.Sync, d.Keys, d.Bytes, d.LastSeq, d.LogBytes, state)
	}
	return tw.Flush()
}
