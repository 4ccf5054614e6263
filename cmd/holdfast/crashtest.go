package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/holdfast-db/holdfast/internal/crashtest"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// crashtestCmd runs the crash-state explorer on an in-memory faultfs and
// ends with the line "N crash states, M violations". Exit 0 only when M is
// 0, 1 when a violation was found, 2 on a usage error.
func crashtestCmd(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("crashtest", flag.ContinueOnError)
	fl.SetOutput(stderr)
	states := fl.Int("states", 1000, "number of crash states to explore")
	seed := fl.Uint64("seed", 1, "seed of every random choice")
	profile := fl.String("profile", "all", "failure profile: ext4-ordered, ext4-journal, xfs, btrfs, strict or all")
	run := fl.Int("run", 0, "replay only this run (as printed with a violation)")
	serial := fl.Bool("serial", false, "issue each round's operations one at a time (exactly reproducible)")
	workers := fl.Int("workers", 0, "parallel runs (default: GOMAXPROCS)")
	examples := fl.Int("examples", 5, "violations to describe in full")
	exampleOps := fl.Int("example-ops", 15, "operations listed before each violation")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	if fl.NArg() != 0 {
		fmt.Fprintf(stderr, "holdfast crashtest: unexpected argument %q\n", fl.Arg(0))
		return exitUsage
	}
	if *examples < 0 {
		fmt.Fprintln(stderr, "holdfast crashtest: --examples must not be negative")
		return exitUsage
	}
	if *states < 1 || *states > 100_000_000 {
		fmt.Fprintln(stderr, "holdfast crashtest: --states must be in 1..100000000")
		return exitUsage
	}
	cfg := crashtest.Config{States: *states, Seed: *seed, Run: *run, Serial: *serial, Workers: *workers, MaxExamples: *examples, ExampleOps: *exampleOps}
	if *profile != "all" {
		p, err := faultfs.ParseProfile(*profile)
		if err != nil {
			fmt.Fprintf(stderr, "holdfast crashtest: %v\n", err)
			return exitUsage
		}
		cfg.Profiles = []faultfs.Profile{p}
	}
	start := time.Now()
	last := start
	cfg.Progress = func(n, v int) {
		// Sparingly: at most one line every five seconds.
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "crashtest: %d crash states, %d violations so far (%s)\n", n, v, time.Since(start).Round(time.Second))
		}
	}
	res := crashtest.Run(cfg)
	for i, e := range res.Examples {
		if i >= *examples {
			break
		}
		fmt.Fprintf(stdout, "violation: %s\n\n", e)
	}
	fmt.Fprintln(stdout, res.Line())
	if res.Violations != 0 {
		return exitProblem
	}
	return exitOK
}
