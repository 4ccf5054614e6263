package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// commandFactories holds one constructor per verb, registered from each
// verb's file with addCommand. The tree is built afresh for every run so
// tests can run commands side by side without shared flag state.
var commandFactories []func() *cobra.Command

// addCommand registers a verb. Call it from an init function in the verb's
// own file.
func addCommand(f func() *cobra.Command) {
	commandFactories = append(commandFactories, f)
}

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a usage error (exit 2): a bad flag value, a missing
// or extra argument.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// problem reports that the operation failed or found a problem (exit 1).
// A verb's RunE may also return a plain error: it means the same.
func problem(err error) error {
	return &exitError{code: exitProblem, err: err}
}

// errSilent is returned by a verb that has already said everything it had
// to say (for example crashtest's summary line) and only needs exit 1.
var errSilent = errors.New("")

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "holdfast",
		Short: "holdfast, a durable key-value database",
		Long: `holdfast is a durable key-value database: what it acknowledges survives
crashes, power loss and fsync failures.

Exit codes: 0 ok, 1 a problem was found or the operation failed, 2 usage error.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// A bare "holdfast" is a usage error; "holdfast help" is not.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Usage()
			return usageErrorf("a command is required")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.CompletionOptions.HiddenDefaultCmd = true
	for _, f := range commandFactories {
		root.AddCommand(f())
	}
	// A verb's RunE error that is not already typed means "operation
	// failed" (exit 1); errors that cobra itself raises (unknown command,
	// wrong number of arguments) stay untyped and mean usage (exit 2).
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		if c.RunE != nil && c != root {
			inner := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				err := inner(cmd, args)
				var ee *exitError
				if err != nil && !errors.As(err, &ee) {
					err = problem(err)
				}
				return err
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
	return root
}

// exitCode prints err (if any) and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !errors.Is(ee.err, errSilent) {
			fmt.Fprintf(stderr, "holdfast: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "holdfast: %v\n", err)
	return exitUsage
}
