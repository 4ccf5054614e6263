package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast"
)

func init() { addCommand(newCheckCmd) }

// newCheckCmd verifies a data directory offline, without changing it:
// exit 0 when everything checks out, 1 when a problem was found, 2 on a
// usage error.
func newCheckCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "check --data DIR [-o json|table]",
		Short: "Verify a data directory offline (read-only): logs, manifests, snapshot.json",
		Long: `check reads every dataspace's manifest, checkpoint and log from the device,
replays the log, and prints per dataspace the keys, bytes, last sequence
number and content hash, and every problem with its file and offset. If a
quiesce left snapshot.json files, it verifies that the directory holds at
least what they record. It never writes to the directory: run it on a
restored volume before starting a server on it.

Exit codes: 0 ok, 1 a problem was found, 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf("--data is required")
			}
			if output != "json" && output != "table" {
				return usageErrorf("-o must be json or table, not %q", output)
			}
			rep, err := holdfast.Check(dir, holdfast.CheckOptions{})
			if err != nil {
				return problem(err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printCheckTable(out, rep)
			}
			if !rep.OK {
				return problem(errSilent)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "", "data directory to check (required)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func printCheckTable(w io.Writer, rep holdfast.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASPACE\tKEYS\tBYTES\tLAST SEQ\tLOG BYTES\tCONTENT HASH\tSTATUS")
	for _, d := range rep.Dataspaces {
		status := "ok"
		if len(d.Problems) > 0 {
			status = fmt.Sprintf("%d problem(s)", len(d.Problems))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", d.Name, d.Keys, d.Bytes, d.LastSeq, d.LogBytes, d.ContentHash, status)
	}
	tw.Flush()
	switch s := rep.Snapshot; {
	case !s.Checked:
		fmt.Fprintln(w, "snapshot.json: none")
	case s.OK:
		fmt.Fprintf(w, "snapshot.json: quiesce %s at %s verified: every dataspace holds at least what it records\n", s.QuiesceID, s.Time.UTC().Format("2006-01-02T15:04:05Z"))
	default:
		fmt.Fprintf(w, "snapshot.json: quiesce %s FAILED verification\n", s.QuiesceID)
	}
	var problems []string
	var notes []string
	for _, d := range rep.Dataspaces {
		for _, p := range d.Problems {
			problems = append(problems, p.String())
		}
		notes = append(notes, d.Notes...)
	}
	for _, p := range rep.Problems {
		problems = append(problems, p.String())
	}
	notes = append(notes, rep.Notes...)
	notes = append(notes, rep.Snapshot.Notes...)
	for _, p := range problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if rep.OK {
		fmt.Fprintf(w, "ok: %s checks out (%d dataspaces)\n", rep.Dir, len(rep.Dataspaces))
	} else {
		fmt.Fprintf(w, "FAILED: %d problem(s) in %s\n", len(problems), rep.Dir)
	}
}
