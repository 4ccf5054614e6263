package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	db, err := holdfast.Open(dir, holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := db.CreateDataspace("users", holdfast.DataspaceOptions{})
	ds.Put(context.Background(), []byte("k"), []byte("v"))
	db.Close()

	code, out, errOut := runCLI(t, "check", "--data", dir)
	if code != exitOK || !strings.Contains(out, "users") || !strings.Contains(out, "ok: ") {
		t.Fatalf("check of a good dir: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "check", "--data", dir, "-o", "json")
	var rep holdfast.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || !rep.OK || rep.Dataspaces[0].Keys != 1 {
		t.Fatalf("check -o json: exit %d, %v, %s", code, err, out)
	}
	if code, _, _ := runCLI(t, "check", "--data", dir, "-o", "yaml"); code != exitUsage {
		t.Fatalf("check -o yaml: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "check"); code != exitUsage {
		t.Fatalf("check without --data: exit %d, want 2", code)
	}
	os.WriteFile(filepath.Join(dir, "dataspaces", "users", "MANIFEST"), nil, 0o644)
	code, out, _ = runCLI(t, "check", "--data", dir)
	if code != exitProblem || !strings.Contains(out, "PROBLEM: ") || !strings.Contains(out, "MANIFEST") {
		t.Fatalf("check of an empty manifest: exit %d\n%s", code, out)
	}
}

func TestQuiesceResumeCommands(t *testing.T) {
	db, err := holdfast.Open(t.TempDir(), holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.CreateDataspace("d", holdfast.DataspaceOptions{})
	srv := httptest.NewServer(httpapi.New(db, httpapi.Config{}))
	defer srv.Close()

	code, out, errOut := runCLI(t, "quiesce", "--addr", srv.URL)
	if code != exitOK || !strings.Contains(out, "quiesced q-") {
		t.Fatalf("quiesce: exit %d\n%s%s", code, out, errOut)
	}
	info, ok := db.QuiesceStatus()
	if !ok || !strings.Contains(out, info.ID) {
		t.Fatalf("server not quiesced or id differs: %v %q", ok, out)
	}
	code, out, _ = runCLI(t, "quiesce", "--addr", strings.TrimPrefix(srv.URL, "http://"), "-o", "json")
	if code != exitOK || !strings.Contains(out, info.ID) {
		t.Fatalf("second quiesce: exit %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, "resume", "--addr", srv.URL, "--id", "q-wrong"); code != exitProblem || !strings.Contains(errOut, "bad_request") {
		t.Fatalf("resume of a wrong id: exit %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "resume", "--addr", srv.URL); code != exitOK || !strings.Contains(out, "resumed "+info.ID) {
		t.Fatalf("resume: exit %d %s", code, out)
	}
	if code, out, _ := runCLI(t, "resume", "--addr", srv.URL); code != exitOK || !strings.Contains(out, "not quiesced") {
		t.Fatalf("second resume: exit %d %s", code, out)
	}
	if code, _, _ := runCLI(t, "quiesce", "--addr", "http://127.0.0.1:1"); code != exitProblem {
		t.Fatalf("quiesce of an unreachable server: exit %d, want 1", code)
	}
	if code, _, _ := runCLI(t, "quiesce", "--addr", srv.URL, "-o", "xml"); code != exitUsage {
		t.Fatalf("quiesce -o xml: exit %d, want 2", code)
	}
}

func TestCheckNotesARunningServer(t *testing.T) {
	dir := t.TempDir()
	db, err := holdfast.Open(dir, holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	code, out, _ := runCLI(t, "check", "--data", dir)
	if code != exitOK || !strings.Contains(out, "holds this directory's lock") {
		t.Fatalf("check of an open directory: exit %d\n%s", code, out)
	}
}
