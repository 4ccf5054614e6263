package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

func init() { addCommand(newStatusCmd) }

// newStatusCmd reports whether the server is ready (and why not) and its
// dataspaces. Exit 1 when it is not ready or cannot be reached.
func newStatusCmd() *cobra.Command {
	var cf *clientFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the server is ready (exit 1 if not) and its dataspaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := cf.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			ready, err := c.Ready(ctx)
			if err != nil {
				return err
			}
			// A server that is not ready (recovering) or wants a token
			// still gets its readiness shown; the list's error is shown
			// in its place.
			list, err := c.Dataspaces(ctx)
			if err != nil && ready.Ready && !errors.Is(err, client.ErrUnauthorized) {
				return err
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				doc := map[string]any{"addr": c.Addr(), "ready": ready.Ready, "reasons": ready.Reasons, "dataspaces": list}
				if err != nil {
					doc["dataspaces_error"] = err.Error()
				}
				if err := writeJSON(out, doc); err != nil {
					return err
				}
			} else {
				state := "ready"
				if !ready.Ready {
					state = "NOT READY: " + strings.Join(ready.Reasons, "; ")
				}
				fmt.Fprintf(out, "server %s: %s\n", c.Addr(), state)
				if err != nil {
					fmt.Fprintf(out, "dataspaces: %v\n", err)
				} else {
					if err := printDataspaces(out, "table", list); err != nil {
						return err
					}
				}
			}
			if !ready.Ready {
				return problem(errSilent)
			}
			return nil
		},
	}
	cf = addClientFlags(cmd)
	return cmd
}
