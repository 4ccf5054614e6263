package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/vfs"
)

func init() { addCommand(newProbeCmd) }

// newProbeCmd measures what the file system under a data directory
// promises: whether it accepts O_DIRECT and how long an fdatasync of a
// 4 KiB append takes — the physical limit every durable write of holdfast
// is measured against.
func newProbeCmd() *cobra.Command {
	var dir string
	var samples int
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Measure the data directory's file system: O_DIRECT support and fdatasync latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if samples < 1 || samples > 100000 {
				return usageErrorf("--samples must be in 1..100000")
			}
			stdout := cmd.OutOrStdout()
			fsys := vfs.Default()
			if err := fsys.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			abs, _ := filepath.Abs(dir)
			fmt.Fprintf(stdout, "data directory: %s\n", abs)
			if err := vfs.ProbeDirectIO(fsys, dir); err != nil {
				fmt.Fprintf(stdout, "O_DIRECT: refused (%v); holdfast will use buffered writes plus fdatasync here\n", err)
			} else {
				fmt.Fprintln(stdout, "O_DIRECT: supported")
			}
			lat, err := fdatasyncLatency(fsys, dir, samples)
			if err != nil {
				return err
			}
			slices.Sort(lat)
			pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			fmt.Fprintf(stdout, "fdatasync after a 4 KiB append (%d samples): p50 %v, p99 %v, max %v\n",
				len(lat), pct(0.50), pct(0.99), lat[len(lat)-1])
			fmt.Fprintf(stdout, "so one writer can make at most about %.0f durable appends per second here\n",
				float64(time.Second)/float64(pct(0.50)))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "data", "./holdfast-data", "data directory to probe (created if missing)")
	cmd.Flags().IntVar(&samples, "samples", 200, "number of 4 KiB append+fdatasync samples")
	return cmd
}

// fdatasyncLatency appends 4 KiB blocks to a scratch file, timing the
// fdatasync after each.
func fdatasyncLatency(fsys vfs.FS, dir string, samples int) ([]time.Duration, error) {
	name := filepath.Join(dir, ".probe-fdatasync")
	f, err := vfs.Create(fsys, name)
	if err != nil {
		return nil, err
	}
	defer fsys.Remove(name)
	defer f.Close()
	block := make([]byte, vfs.PageSizeBytes)
	out := make([]time.Duration, 0, samples)
	for i := 0; i < samples; i++ {
		block[0] = byte(i)
		if _, err := f.Write(block); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := f.SyncData(); err != nil {
			return nil, errors.Join(errors.New("fdatasync failed; this file system cannot be trusted with data"), err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
