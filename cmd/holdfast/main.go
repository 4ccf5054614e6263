// Command holdfast is the holdfast database's command-line tool.
//
// The server (holdfast serve) and the data commands arrive with the engine;
// today the tool offers `probe`, which measures what the file system under
// a data directory promises: whether it accepts O_DIRECT and how long an
// fdatasync of a 4 KiB append takes — the physical limit every durable
// write of holdfast is measured against.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.0.0-dev"

const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "version":
		fmt.Fprintf(stdout, "holdfast %s\n", Version)
		return exitOK
	case "probe":
		return probe(args[1:], stdout, stderr)
	case "crashtest":
		return crashtestCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "holdfast: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: holdfast <command> [flags]

commands:
  probe    measure the data directory's file system: O_DIRECT support and fdatasync latency
  crashtest  explore crash states on an in-memory faultfs: --states N --seed S --profile P|all
  version  print the version
`)
}

func probe(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("probe", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("data", "./holdfast-data", "data directory to probe (created if missing)")
	samples := fl.Int("samples", 200, "number of 4 KiB append+fdatasync samples")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	if *samples < 1 || *samples > 100000 {
		fmt.Fprintln(stderr, "holdfast probe: --samples must be in 1..100000")
		return exitUsage
	}
	fsys := vfs.Default()
	if err := fsys.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "holdfast probe: %v\n", err)
		return exitProblem
	}
	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(stdout, "data directory: %s\n", abs)
	if err := vfs.ProbeDirectIO(fsys, *dir); err != nil {
		fmt.Fprintf(stdout, "O_DIRECT: refused (%v); holdfast will use buffered writes plus fdatasync here\n", err)
	} else {
		fmt.Fprintln(stdout, "O_DIRECT: supported")
	}
	lat, err := fdatasyncLatency(fsys, *dir, *samples)
	if err != nil {
		fmt.Fprintf(stderr, "holdfast probe: %v\n", err)
		return exitProblem
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "fdatasync after a 4 KiB append (%d samples): p50 %v, p99 %v, max %v\n",
		len(lat), pct(0.50), pct(0.99), lat[len(lat)-1])
	fmt.Fprintf(stdout, "so one writer can make at most about %.0f durable appends per second here\n",
		float64(time.Second)/float64(pct(0.50)))
	return exitOK
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
