package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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

func TestBench(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	var out, errOut bytes.Buffer
	if code := run([]string{"bench", "--data", dir, "--ops", "50", "--writers", "1,4", "-o", "json"}, &out, &errOut); code != exitOK {
		t.Fatalf("bench: exit %d, %s", code, errOut.String())
	}
	var res struct {
		Results []benchResult `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Results) != 3 {
		t.Fatalf("bench -o json: %v %s", err, out.String())
	}
	for _, r := range res.Results {
		if r.Ops != 50 || r.OpsPerSec <= 0 || r.P50Nanos <= 0 || r.MaxNanos < r.P99Nanos {
			t.Errorf("bench result %+v", r)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("bench left its data directory: %v", err)
	}
	for _, args := range [][]string{
		{"bench", "--data", t.TempDir()}, // exists
		{"bench", "--data", dir, "--writers", "0"},
		{"bench", "--data", dir, "--ops", "0"},
	} {
		if code := run(args, &out, &errOut); code != exitUsage {
			t.Errorf("holdfast %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
