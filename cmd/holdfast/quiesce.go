package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

func init() {
	addCommand(newQuiesceCmd)
	addCommand(newResumeCmd)
}

// defaultAddr is the server's default HTTP address.
const defaultAddr = "http://127.0.0.1:7070"

func newQuiesceCmd() *cobra.Command {
	var autoResume, writeWait time.Duration
	var fsfreeze bool
	var f *clientFlags
	cmd := &cobra.Command{
		Use:   "quiesce --addr URL",
		Short: "Drain and hold writes and make everything durable for a volume snapshot",
		Long: `quiesce asks a running server to drain writes on every dataspace, hold new
ones, sync every log, checkpoint, write snapshot.json files durably and
syncfs; it returns the quiesce id only when all of that is on stable
storage. Take the volume snapshot, then run holdfast resume. The server
resumes by itself after --auto-resume if no resume comes. Running quiesce
again while quiesced returns the same id. If --timeout ends first, the
server gives up and stays writable. See docs/snapshots.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if autoResume < 0 || writeWait < 0 {
				return usageErrorf("--auto-resume and --write-wait must not be negative")
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			// The server's own deadline is a little shorter than ours, so
			// it answers (and resumes) before the client gives up.
			serverTimeout := f.timeout - f.timeout/10
			info, err := c.Quiesce(ctx, client.QuiesceOptions{AutoResume: autoResume, WriteWait: writeWait, FSFreeze: fsfreeze, Timeout: serverTimeout})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.output == "json" {
				return writeJSON(out, info)
			}
			fmt.Fprintf(out, "quiesced %s in %.1f ms; auto-resume by %s\n", info.ID, info.DurationMS, info.ResumeBy.UTC().Format(time.RFC3339))
			for _, d := range info.Dataspaces {
				fmt.Fprintf(out, "  %s: last seq %d, %d keys, %s\n", d.Name, d.LastSeq, d.Keys, d.ContentHash)
			}
			return nil
		},
	}
	f = addClientFlags(cmd)
	cmd.Flags().DurationVar(&autoResume, "auto-resume", 0, "resume by itself after this long (server default 60s)")
	cmd.Flags().DurationVar(&writeWait, "write-wait", 0, "writes arriving while quiesced wait this long before failing (0: fail at once)")
	cmd.Flags().BoolVar(&fsfreeze, "fsfreeze", false, "also freeze the file system (FIFREEZE; the server needs root) until resume")
	return cmd
}

func newResumeCmd() *cobra.Command {
	var id string
	var f *clientFlags
	cmd := &cobra.Command{
		Use:   "resume --addr URL [--id QUIESCE_ID]",
		Short: "End a quiesce: writes flow again, a frozen file system is thawed",
		Long: `resume ends the active quiesce (or only the one named by --id). Resuming a
server that is not quiesced is not an error, so a post-hook may run twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			resumed, rid, err := c.Resume(ctx, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case f.output == "json":
				return writeJSON(out, map[string]any{"resumed": resumed, "quiesce_id": rid})
			case resumed:
				fmt.Fprintf(out, "resumed %s\n", rid)
			default:
				fmt.Fprintln(out, "not quiesced; nothing to resume")
			}
			return nil
		},
	}
	f = addClientFlags(cmd)
	cmd.Flags().StringVar(&id, "id", "", "resume only this quiesce id")
	return cmd
}
