package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast"
)

func init() { addCommand(newBenchCmd) }

// newBenchCmd measures the embedded engine on this machine's disk: durable
// Puts (sync=always) from 1..N concurrent writers, and Gets, on a scratch
// dataspace in a data directory of its own. The figures are the engine's
// alone (no network); compare them with `holdfast probe` (one fdatasync)
// and, for the server, bench/redis/compare.sh.
func newBenchCmd() *cobra.Command {
	var dir, writers string
	var ops, valueSize int
	var keep bool
	var output string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the embedded engine on this disk: durable Put and Get ops/s and latency",
		Example: `  holdfast bench --data /var/lib/holdfast-bench
  holdfast bench --writers 1,64 --ops 20000 --value-size 1024 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usageErrorf("-o %s: want table or json", output)
			}
			if ops < 1 || ops > 10_000_000 {
				return usageErrorf("--ops must be in 1..10000000")
			}
			if valueSize < 0 || valueSize > holdfast.DefaultMaxValueSizeBytes {
				return usageErrorf("--value-size must be in 0..%d", holdfast.DefaultMaxValueSizeBytes)
			}
			var counts []int
			for _, f := range strings.Split(writers, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 1 || n > 4096 {
					return usageErrorf("--writers: %q is not a count in 1..4096", f)
				}
				counts = append(counts, n)
			}
			if _, err := os.Stat(dir); err == nil {
				return usageErrorf("--data %s exists; bench writes into a directory of its own and removes it afterwards", dir)
			}
			quiet := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			db, err := holdfast.Open(dir, holdfast.Options{Logger: quiet})
			if err != nil {
				return err
			}
			defer func() {
				db.Close()
				if !keep {
					os.RemoveAll(dir)
				}
			}()
			ds, err := db.CreateDataspace("bench", holdfast.DataspaceOptions{})
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			value := make([]byte, valueSize)
			var results []benchResult
			round := 0
			for _, n := range counts {
				round++
				r, err := benchRun(ctx, "put", n, ops, func(i int) error {
					_, err := ds.Put(ctx, benchKey(round, i), value)
					return err
				})
				if err != nil {
					return err
				}
				results = append(results, r)
			}
			r, err := benchRun(ctx, "get", counts[len(counts)-1], ops, func(i int) error {
				_, err := ds.Get(ctx, benchKey(round, i))
				return err
			})
			if err != nil {
				return err
			}
			results = append(results, r)
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSON(out, map[string]any{"value_size": valueSize, "results": results})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "op\twriters\tops\tops/s\tp50\tp99\tmax\t")
			for _, r := range results {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%v\t%v\t%v\t\n", r.Op, r.Concurrency, r.Ops, r.OpsPerSec,
					time.Duration(r.P50Nanos), time.Duration(r.P99Nanos), time.Duration(r.MaxNanos))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "puts are durable (sync=always) before they return; %d-byte values; data in %s\n", valueSize, dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "data", "./holdfast-bench", "scratch data directory (must not exist; removed afterwards)")
	f.StringVar(&writers, "writers", "1,16,64", "concurrent writers, one Put run per count")
	f.IntVar(&ops, "ops", 10000, "operations per run")
	f.IntVar(&valueSize, "value-size", 100, "value size in bytes")
	f.BoolVar(&keep, "keep", false, "keep the data directory")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

type benchResult struct {
	Op          string  `json:"op"`
	Concurrency int     `json:"writers"`
	Ops         int     `json:"ops"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50Nanos    int64   `json:"p50_ns"`
	P99Nanos    int64   `json:"p99_ns"`
	MaxNanos    int64   `json:"max_ns"`
}

func benchKey(round, i int) []byte {
	k := make([]byte, 0, 16)
	k = append(k, "b"...)
	k = binary.BigEndian.AppendUint32(k, uint32(round))
	return binary.BigEndian.AppendUint64(k, uint64(i))
}

// benchRun runs ops calls of fn spread over n goroutines and times each.
func benchRun(ctx context.Context, op string, n, ops int, fn func(i int) error) (benchResult, error) {
	lat := make([]time.Duration, ops)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now()
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < ops; i += n {
				if ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s %d: %w", op, i, err) })
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return benchResult{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return benchResult{}, err
	}
	slices.Sort(lat)
	pct := func(p float64) int64 { return int64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	return benchResult{Op: op, Concurrency: n, Ops: ops, OpsPerSec: float64(ops) / elapsed.Seconds(),
		P50Nanos: pct(0.50), P99Nanos: pct(0.99), MaxNanos: int64(lat[len(lat)-1])}, nil
}
