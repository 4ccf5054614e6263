package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
)

// apiServer serves the real HTTP API over a real database.
func apiServer(t *testing.T, token string) string {
	t.Helper()
	db, err := holdfast.Open(t.TempDir(), holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateDataspace("default", holdfast.DataspaceOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(db, httpapi.Config{Token: token}))
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return srv.URL
}

func TestClientVerbs(t *testing.T) {
	addr := apiServer(t, "")
	a := []string{"--addr", addr}
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append(args, a...)...)
	}
	expect := func(code int, out, errOut string, wantCode int, wantOut string) {
		t.Helper()
		if code != wantCode || !strings.Contains(out, wantOut) {
			t.Fatalf("exit %d (want %d), stdout %q (want it to contain %q), stderr %q", code, wantCode, out, wantOut, errOut)
		}
	}
	code, out, errOut := cli("put", "greeting", "hello")
	expect(code, out, errOut, exitOK, "OK seq 1")
	code, out, errOut = cli("get", "greeting")
	expect(code, out, errOut, exitOK, "hello")
	if out != "hello" {
		t.Fatalf("get -o raw printed %q, want the exact bytes", out)
	}
	code, out, errOut = cli("get", "greeting", "-o", "json")
	var got struct {
		Key   struct{ Text string }
		Value struct {
			Text string
			B64  []byte
		}
		Seq uint64
	}
	if code != exitOK || json.Unmarshal([]byte(out), &got) != nil || got.Value.Text != "hello" || string(got.Value.B64) != "hello" || got.Seq != 1 {
		t.Fatalf("get -o json: exit %d %q %q", code, out, errOut)
	}

	// Binary value from a file, round trip through -o raw.
	bin := []byte{0, 1, 2, 0xff, '\n'}
	f := filepath.Join(t.TempDir(), "v.bin")
	os.WriteFile(f, bin, 0o600)
	code, out, errOut = cli("put", "user/7", "--file", f)
	expect(code, out, errOut, exitOK, "OK seq")
	code, out, _ = cli("get", "user/7")
	if code != exitOK || out != string(bin) {
		t.Fatalf("binary round trip: %q", out)
	}

	// Conditions: a failed precondition is exit 1 with the server's code.
	code, out, errOut = cli("put", "greeting", "again", "--if-absent")
	expect(code, out, errOut, exitProblem, "")
	if !strings.Contains(errOut, "version_mismatch") {
		t.Fatalf("stderr %q lacks the error code", errOut)
	}
	code, out, errOut = cli("put", "greeting", "v2", "--if-version", "1")
	expect(code, out, errOut, exitOK, "OK seq")

	code, out, errOut = cli("scan", "--prefix", "user/")
	expect(code, out, errOut, exitOK, `user/7`)
	if strings.Contains(out, "greeting") {
		t.Fatalf("prefix scan listed greeting: %q", out)
	}
	for i := 0; i < 5; i++ {
		cli("put", "k"+string(rune('a'+i)), "v")
	}
	code, out, errOut = cli("scan", "--limit", "2", "--all", "-o", "json")
	var page struct {
		Items []json.RawMessage
		Next  *json.RawMessage
	}
	if code != exitOK || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 7 || page.Next != nil {
		t.Fatalf("scan --all: exit %d, %d items, %q", code, len(page.Items), errOut)
	}

	code, out, errOut = cli("del", "greeting", "missing")
	expect(code, out, errOut, exitOK, "greeting  true")
	if !strings.Contains(out, "missing   false") {
		t.Fatalf("del of a missing key: %q", out)
	}
	code, _, errOut = cli("get", "greeting")
	if code != exitProblem || !strings.Contains(errOut, "not_found") {
		t.Fatalf("get of a deleted key: exit %d, stderr %q", code, errOut)
	}

	code, out, errOut = cli("dataspace", "create", "metrics", "--sync", "interval:10ms")
	expect(code, out, errOut, exitOK, "interval:10ms")
	code, out, errOut = cli("dataspace", "list")
	expect(code, out, errOut, exitOK, "metrics")
	code, out, errOut = cli("put", "-d", "metrics", "x", "1")
	expect(code, out, errOut, exitOK, "OK")
	code, _, errOut = cli("dataspace", "create", "../x")
	if code != exitProblem || !strings.Contains(errOut, "invalid_name") {
		t.Fatalf("create ../x: exit %d, %q", code, errOut)
	}
	code, _, errOut = cli("dataspace", "drop", "metrics")
	if code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Fatalf("drop without --yes: exit %d, %q", code, errOut)
	}
	code, out, errOut = cli("dataspace", "drop", "metrics", "--yes", "-o", "json")
	expect(code, out, errOut, exitOK, `"dropped": "metrics"`)

	code, out, errOut = cli("status")
	expect(code, out, errOut, exitOK, "ready")
	code, out, errOut = cli("status", "-o", "json")
	expect(code, out, errOut, exitOK, `"ready": true`)
}

func TestClientVerbsUsageAndFailures(t *testing.T) {
	addr := apiServer(t, "tok")
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("tok\n"), 0o600)
	for _, tc := range []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"get"}, exitUsage, "accepts 1 arg"},
		{[]string{"get", "k", "-o", "yaml", "--addr", addr}, exitUsage, "-o yaml"},
		{[]string{"put", "k", "--addr", addr}, exitUsage, "missing VALUE"},
		{[]string{"put", "k", "v", "--if-absent", "--if-exists", "--addr", addr}, exitUsage, "exclude each other"},
		{[]string{"scan", "--limit", "0", "--addr", addr}, exitUsage, "--limit"},
		{[]string{"dataspace"}, exitUsage, "subcommand"},
		{[]string{"status", "--addr", "ftp://x"}, exitUsage, "--addr"},
		{[]string{"get", "k", "--addr", addr}, exitProblem, "unauthorized"},
		{[]string{"get", "k", "--addr", addr, "--token-file", tokFile}, exitProblem, "not_found"},
		{[]string{"dataspace", "list", "--addr", addr, "--token-file", tokFile}, exitOK, ""},
		{[]string{"get", "k", "--addr", addr, "--token-file", "/nonexistent"}, exitUsage, "--token-file"},
		{[]string{"status", "--addr", "127.0.0.1:1"}, exitProblem, "connection refused"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.inStderr) {
			t.Errorf("holdfast %v: exit %d (want %d), stderr %q (want %q), stdout %q", tc.args, code, tc.code, errOut, tc.inStderr, out)
		}
	}
}

// status exits 1 with the reasons while the server is not ready.
func TestStatusNotReady(t *testing.T) {
	srv := httptest.NewServer(httpapi.Starting("recovering: opening the data directory"))
	defer srv.Close()
	code, out, errOut := runCLI(t, "status", "--addr", srv.URL)
	if code != exitProblem || !strings.Contains(out, "NOT READY: recovering") {
		t.Fatalf("status while recovering: exit %d, %q %q", code, out, errOut)
	}
}
