package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/internal/crashtest"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

func init() { addCommand(newCrashtestCmd) }

// newCrashtestCmd runs the crash-state explorer on an in-memory faultfs and
// ends with the line "N crash states, M violations". Exit 0 only when M is
// 0, 1 when a violation was found, 2 on a usage error.
func newCrashtestCmd() *cobra.Command {
	var cfg crashtest.Config
	var profile string
	cmd := &cobra.Command{
		Use:   "crashtest",
		Short: "Explore crash states on an in-memory faultfs (--states N --seed S --profile P|all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.MaxExamples < 0 {
				return usageErrorf("--examples must not be negative")
			}
			if cfg.States < 1 || cfg.States > 100_000_000 {
				return usageErrorf("--states must be in 1..100000000")
			}
			if profile != "all" {
				p, err := faultfs.ParseProfile(profile)
				if err != nil {
					return usageErrorf("%v", err)
				}
				cfg.Profiles = []faultfs.Profile{p}
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
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
				if i >= cfg.MaxExamples {
					break
				}
				fmt.Fprintf(stdout, "violation: %s\n\n", e)
			}
			fmt.Fprintln(stdout, res.Line())
			if res.Violations != 0 {
				return problem(errSilent)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.States, "states", 1000, "number of crash states to explore")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of every random choice")
	f.StringVar(&profile, "profile", "all", "failure profile: ext4-ordered, ext4-journal, xfs, btrfs, strict or all")
	f.IntVar(&cfg.Run, "run", 0, "replay only this run (as printed with a violation)")
	f.BoolVar(&cfg.Serial, "serial", false, "issue each round's operations one at a time (exactly reproducible)")
	f.IntVar(&cfg.Workers, "workers", 0, "parallel runs (default: GOMAXPROCS)")
	f.IntVar(&cfg.MaxExamples, "examples", 5, "violations to describe in full")
	f.IntVar(&cfg.ExampleOps, "example-ops", 15, "operations listed before each violation")
	return cmd
}
