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
	}{
		{[]string{"version"}, exitOK, "holdfast "},
		{nil, exitUsage, ""},
		{[]string{"nonsense"}, exitUsage, ""},
		{[]string{"probe", "--samples", "0", "--data", dir}, exitUsage, ""},
		{[]string{"probe", "--bogus"}, exitUsage, ""},
		{[]string{"probe", "--samples", "3", "--data", dir}, exitOK, "fdatasync after a 4 KiB append (3 samples)"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != tc.code {
			t.Errorf("holdfast %v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut.String())
		}
		if !strings.Contains(out.String(), tc.inStdout) {
			t.Errorf("holdfast %v: stdout %q lacks %q", tc.args, out.String(), tc.inStdout)
		}
	}
}
