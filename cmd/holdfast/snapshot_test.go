package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
)

func TestSnapshotSaveStatusRestore(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	db, err := holdfast.Open(src, holdfast.Options{SegmentSizeBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]map[string]string{"alpha": {}, "beta": {}}
	for name, kv := range want {
		ds, err := db.CreateDataspace(name, holdfast.DataspaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i++ {
			k, v := fmt.Sprintf("k%04d", i), strings.Repeat(fmt.Sprint(i%10), i%7*90)
			if _, err := ds.Put(ctx, []byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			kv[k] = v
		}
		for i := 0; i < 300; i += 5 {
			k := fmt.Sprintf("k%04d", i)
			ds.Delete(ctx, []byte(k))
			delete(kv, k)
		}
	}
	srv := httptest.NewServer(httpapi.New(db, httpapi.Config{}))
	defer srv.Close()

	file := filepath.Join(t.TempDir(), "all.snap")
	code, out, errOut := runCLI(t, "snapshot", "save", "--addr", srv.URL, file)
	if code != exitOK || !strings.Contains(out, "verified") {
		t.Fatalf("save: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "snapshot", "status", file)
	if code != exitOK || !strings.Contains(out, "alpha") || !strings.Contains(out, "240") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	code, out, errOut = runCLI(t, "snapshot", "restore", file, "--data", dst)
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	rdb, err := holdfast.Open(dst, holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, kv := range want {
		ds, err := rdb.Dataspace(name)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != len(kv) {
			t.Fatalf("restored %s: %d keys, want %d", name, ds.Len(), len(kv))
		}
		for k, v := range kv {
			got, err := ds.Get(ctx, []byte(k))
			if err != nil || string(got.Data) != v {
				t.Fatalf("restored %s/%s = %d bytes, %v; want %d bytes", name, k, len(got.Data), err, len(v))
			}
		}
	}
	rdb.Close()
	// The content hashes agree with holdfast check of the source.
	srcRep, _ := holdfast.Check(src, holdfast.CheckOptions{})
	dstRep, _ := holdfast.Check(dst, holdfast.CheckOptions{})
	for i := range srcRep.Dataspaces {
		if srcRep.Dataspaces[i].ContentHash != dstRep.Dataspaces[i].ContentHash {
			t.Fatalf("content hash of %s: source %s, restored %s", srcRep.Dataspaces[i].Name, srcRep.Dataspaces[i].ContentHash, dstRep.Dataspaces[i].ContentHash)
		}
	}

	// Restore never overwrites.
	if code, _, errOut := runCLI(t, "snapshot", "restore", file, "--data", dst); code != exitProblem || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore over data: exit %d %s", code, errOut)
	}
	// A damaged file: status fails, restore writes nothing; with
	// --skip-hash-check a flipped value byte is restored.
	data, _ := os.ReadFile(file)
	i := bytes.Index(data, []byte("k0001")) + 8
	data[i] ^= 0x01
	bad := filepath.Join(t.TempDir(), "bad.snap")
	os.WriteFile(bad, data, 0o644)
	if code, _, errOut := runCLI(t, "snapshot", "status", bad); code != exitProblem || !strings.Contains(errOut, "snapshot: invalid") {
		t.Fatalf("status of a damaged file: exit %d %s", code, errOut)
	}
	dst2 := filepath.Join(t.TempDir(), "r2")
	if code, _, errOut := runCLI(t, "snapshot", "restore", bad, "--data", dst2); code != exitProblem || !strings.Contains(errOut, "nothing was written") {
		t.Fatalf("restore of a damaged file: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(dst2); !os.IsNotExist(err) {
		t.Fatalf("restore of a damaged file left %s: %v", dst2, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dst2)); len(entries) != 0 {
		t.Fatalf("restore of a damaged file left %v", entries)
	}
	if code, out, errOut := runCLI(t, "snapshot", "restore", bad, "--data", dst2, "--skip-hash-check"); code != exitOK || !strings.Contains(out, "WARNING") {
		t.Fatalf("restore --skip-hash-check: exit %d %s %s", code, out, errOut)
	}
	trunc := filepath.Join(t.TempDir(), "trunc.snap")
	os.WriteFile(trunc, data[:len(data)-10], 0o644)
	if code, _, errOut := runCLI(t, "snapshot", "restore", trunc, "--data", filepath.Join(t.TempDir(), "r3"), "--skip-hash-check"); code != exitProblem || !strings.Contains(errOut, "truncated") {
		t.Fatalf("restore of a truncated file: exit %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "snapshot", "save", "--addr", srv.URL, "--dataspace", "nope", filepath.Join(t.TempDir(), "x")); code != exitProblem {
		t.Fatalf("save of a missing dataspace: exit %d", code)
	}
	if code, _, _ := runCLI(t, "snapshot"); code != exitUsage {
		t.Fatalf("bare snapshot: exit %d", code)
	}
}
