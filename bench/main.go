// Command holdfast-bench measures holdfast against the databases its users
// would pick instead, and against the physical limit of the disk, in one
// run on one machine, and writes the report (docs/benchmarks.md), charts
// and raw results (docs/bench/). `make bench` at the repository root runs
// it; `make bench BENCH_QUICK=1` runs a short smoke version.
//
//	holdfast-bench run [-quick] [-out DIR] [-report FILE] [-work DIR]
//	holdfast-bench report [-out DIR] [-report FILE]   (regenerate from results.json)
//	holdfast-bench worker -kind ...                    (one workload; used by run)
//
// It lives in a Go module of its own (bench/go.mod) so the peer databases
// never enter holdfast's dependency graph.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: holdfast-bench run|report|worker [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runAll(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	case "worker":
		err = runWorker(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "holdfast-bench: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdfast-bench:", err)
		os.Exit(1)
	}
}

// parseInts parses a comma-separated list of integers; it panics on a bad
// list, which only the orchestrator builds.
func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			panic(fmt.Sprintf("bad integer list %q", s))
		}
		out = append(out, n)
	}
	return out
}

// listInts writes numbers as prose: "1, 16, 64 and 256".
func listInts(ns []int) string {
	s := strings.Split(joinInts(ns), ",")
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
