package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/snapshot"
	"github.com/holdfast-db/holdfast/vfs"
)

func init() {
	addCommand(newSnapshotCmd)
	// snapshot.json and logical snapshots record the engine's Version:
	// make it this binary's (set with -ldflags "-X main.Version=...").
	holdfast.Version = Version
}

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Logical snapshots: save from a server, status of a file, restore into a data directory",
		Long: `A logical snapshot is a self-verifying stream of dataspaces' keys and values
(docs/format.md, "Logical snapshot"): a header, the records, and a trailing
SHA-256 of everything before it, so a damaged or incomplete file is always
detected.

  holdfast snapshot save --addr URL FILE      stream one or all dataspaces from a server
  holdfast snapshot status FILE               verify a file; print hash, sequence numbers, keys, size
  holdfast snapshot restore FILE --data DIR   verify, then build DIR from the file, atomically`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return usageErrorf("snapshot needs a subcommand: save, status or restore")
		},
	}
	cmd.AddCommand(newSnapshotSaveCmd(), newSnapshotStatusCmd(), newSnapshotRestoreCmd())
	return cmd
}

func newSnapshotSaveCmd() *cobra.Command {
	var names []string
	var f *clientFlags
	cmd := &cobra.Command{
		Use:   "save --addr URL FILE",
		Short: "Stream a consistent logical snapshot from a server into FILE",
		Long: `save streams a snapshot of the named dataspaces (--dataspace, repeatable; all by
default) into a temporary file next to FILE, syncs it, verifies it, and only
then renames it to FILE (and syncs the directory). A failed save leaves no
FILE behind. Each dataspace is consistent at one sequence number.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			file := args[0]
			tmp := filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".tmp-"+randomSuffix())
			out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			defer os.Remove(tmp) // after a successful rename, a no-op
			_, err = c.Snapshot(ctx, names, out)
			if err == nil {
				err = out.Sync()
			}
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("saving %s: %w", file, err)
			}
			sum, err := verifyFile(tmp, false)
			if err != nil {
				return fmt.Errorf("the stream received is not a valid snapshot (the server or the connection failed part-way); nothing saved: %w", err)
			}
			if err := os.Rename(tmp, file); err != nil {
				return err
			}
			if err := vfs.SyncDir(vfs.Default(), filepath.Dir(file)); err != nil {
				return fmt.Errorf("sync directory of %s: %w", file, err)
			}
			return printSummary(cmd.OutOrStdout(), f.output, file, sum)
		},
	}
	f = addClientFlags(cmd)
	// A snapshot takes as long as the data takes to stream.
	f.timeout = time.Hour
	cmd.Flags().Lookup("timeout").DefValue = "1h0m0s"
	cmd.Flags().StringArrayVar(&names, "dataspace", nil, "dataspace to save (repeatable; default all)")
	return cmd
}

func randomSuffix() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func verifyFile(name string, skipHashCheck bool) (snapshot.Summary, error) {
	f, err := os.Open(name)
	if err != nil {
		return snapshot.Summary{}, err
	}
	defer f.Close()
	return snapshot.Verify(f, skipHashCheck)
}

func printSummary(w io.Writer, output, file string, s snapshot.Summary) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(w, "%s: holdfast snapshot, format %d, created %s by holdfast %s\n", file, s.Header.FormatVersion,
		s.Header.Created.UTC().Format(time.RFC3339), s.Header.HoldfastVersion)
	fmt.Fprintf(w, "size %d bytes, sha256 %s: verified\n", s.SizeBytes, s.Hash)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASPACE\tSYNC\tLAST SEQ\tKEYS\tBYTES\tCONTENT HASH")
	for _, d := range s.Dataspaces {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", d.Name, d.Sync, d.LastSeq, d.Keys, d.Bytes, d.ContentHash)
	}
	tw.Flush()
	for _, m := range s.Mismatches {
		fmt.Fprintf(w, "WARNING (hash check skipped): %s\n", m)
	}
	return nil
}

func newSnapshotStatusCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status FILE",
		Short: "Verify a snapshot file and print its hash, sequence numbers, keys and size",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "json" && output != "table" {
				return usageErrorf("-o must be json or table, not %q", output)
			}
			s, err := verifyFile(args[0], false)
			if err != nil {
				return err
			}
			return printSummary(cmd.OutOrStdout(), output, args[0], s)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newSnapshotRestoreCmd() *cobra.Command {
	var dir, output string
	var skipHashCheck bool
	cmd := &cobra.Command{
		Use:   "restore FILE --data DIR [--skip-hash-check]",
		Short: "Verify a snapshot file, then build a new data directory from it, atomically",
		Long: `restore first reads the whole file and verifies it (every section's content
hash and the trailing SHA-256); nothing is written unless it checks out
(--skip-hash-check restores a file whose hashes do not match, still refusing
a malformed one). It then builds the dataspaces in a temporary directory next
to DIR, checks the result against the file's content hashes with holdfast
check, and renames it to DIR. DIR must not exist (or be an empty directory):
restore never overwrites data. Offline: no server may use DIR.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageErrorf("--data is required")
			}
			if output != "json" && output != "table" {
				return usageErrorf("-o must be json or table, not %q", output)
			}
			sum, err := verifyFile(args[0], skipHashCheck)
			if err != nil {
				return fmt.Errorf("%w; nothing was written", err)
			}
			if err := restoreSnapshot(args[0], dir, skipHashCheck, sum); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := printSummary(out, output, args[0], sum); err != nil {
				return err
			}
			if output == "table" {
				fmt.Fprintf(out, "restored into %s\n", dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "", "data directory to create (required; must not exist or be empty)")
	cmd.Flags().BoolVar(&skipHashCheck, "skip-hash-check", false, "restore even if the file's hashes do not match (a damaged file)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// restoreBatchBytes bounds one batch written during a restore.
const restoreBatchBytes = 4 << 20

// restoreSnapshot builds dir from a verified snapshot file.
func restoreSnapshot(file, dir string, skipHashCheck bool, sum snapshot.Summary) error {
	switch entries, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty; restore never overwrites data (choose a new --data directory)", dir)
	default:
		if err := os.Remove(dir); err != nil {
			return err
		}
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(parent, "."+filepath.Base(filepath.Clean(dir))+".restore-"+randomSuffix())
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := snapshot.NewReader(f)
	if err != nil {
		return err
	}
	r.SkipHashCheck = skipHashCheck
	db, err := holdfast.Open(tmp, holdfast.Options{Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	ctx := context.Background()
	var ds *holdfast.Dataspace
	var batch holdfast.Batch
	batchBytes := 0
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		_, err := ds.Apply(ctx, &batch)
		batch, batchBytes = holdfast.Batch{}, 0
		return err
	}
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w (the file changed since it was verified?); nothing was restored", err)
		}
		switch {
		case ev.Dataspace != nil:
			policy, err := holdfast.ParseSyncPolicy(ev.Dataspace.Sync)
			if err != nil {
				return err
			}
			if ds, err = db.CreateDataspace(ev.Dataspace.Name, holdfast.DataspaceOptions{Sync: policy}); err != nil {
				return err
			}
		case ev.End != nil:
			if err := flush(); err != nil {
				return err
			}
		default:
			if batchBytes+len(ev.Key)+len(ev.Value) > restoreBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			batch.Put(ev.Key, ev.Value)
			batchBytes += len(ev.Key) + len(ev.Value) + 16
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	db = nil
	// The result must hold exactly what the file holds.
	rep, err := holdfast.Check(tmp, holdfast.CheckOptions{})
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("the restored directory fails holdfast check: %+v", rep.Problems)
	}
	if len(rep.Dataspaces) != len(sum.Dataspaces) {
		return fmt.Errorf("restored %d dataspaces, the file holds %d", len(rep.Dataspaces), len(sum.Dataspaces))
	}
	for _, want := range sum.Dataspaces {
		var got *holdfast.DataspaceReport
		for i := range rep.Dataspaces {
			if rep.Dataspaces[i].Name == want.Name {
				got = &rep.Dataspaces[i]
			}
		}
		if got == nil || got.Keys != want.Keys || got.Bytes != want.Bytes || (!skipHashCheck && got.ContentHash != want.ContentHash) {
			return fmt.Errorf("restored dataspace %q does not match the file: %+v, want %+v", want.Name, got, want)
		}
	}
	if err := vfs.SyncDir(vfs.Default(), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if err := vfs.SyncDir(vfs.Default(), parent); err != nil {
		return fmt.Errorf("sync %s after the rename (the restore may not be durable yet): %w", parent, err)
	}
	ok = true
	return nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
