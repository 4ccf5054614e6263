// Command holdfast is the holdfast database's command-line tool.
//
// Every verb lives in a file of its own (probe.go, crashtest.go, …) and
// registers itself from init with addCommand, so adding a verb never means
// editing another verb's file. Exit codes are the same for every verb:
// 0 ok, 1 a problem was found or the operation failed, 2 usage error.
package main

import (
	"io"
	"os"
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

// run executes one command line and returns its exit code. Tests call it
// directly.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	return exitCode(root.Execute(), stderr)
}
