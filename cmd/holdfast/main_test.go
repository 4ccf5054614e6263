package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"version"}, exitOK, "holdfast ", ""},
		{[]string{"help"}, exitOK, "Available Commands", ""},
		{[]string{"--help"}, exitOK, "crashtest", ""},
		{nil, exitUsage, "", "a command is required"},
		{[]string{"nonsense"}, exitUsage, "", `unknown command "nonsense"`},
		{[]string{"version", "extra"}, exitUsage, "", "extra"},
		{[]string{"probe", "--samples", "0", "--data", dir}, exitUsage, "", "--samples must be in 1..100000"},
		{[]string{"probe", "--bogus"}, exitUsage, "", "unknown flag: --bogus"},
		{[]string{"probe", "--samples", "3", "--data", dir}, exitOK, "fdatasync after a 4 KiB append (3 samples)", ""},
		// A data directory that cannot be created is a failed operation.
		{[]string{"probe", "--samples", "3", "--data", "/proc/holdfast-cannot-exist"}, exitProblem, "", "holdfast: "},
		{[]string{"crashtest", "--states", "0"}, exitUsage, "", "--states must be in"},
		{[]string{"crashtest", "--profile", "ext5"}, exitUsage, "", "ext5"},
		{[]string{"crashtest", "--states", "5", "--examples", "0"}, exitOK, "5 crash states, 0 violations", ""},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != tc.code {
			t.Errorf("holdfast %v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut.String())
		}
		if !strings.Contains(out.String(), tc.inStdout) {
			t.Errorf("holdfast %v: stdout %q lacks %q", tc.args, out.String(), tc.inStdout)
		}
		if !strings.Contains(errOut.String(), tc.inStderr) {
			t.Errorf("holdfast %v: stderr %q lacks %q", tc.args, errOut.String(), tc.inStderr)
		}
	}
}
