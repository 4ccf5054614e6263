package holdfast

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

var update = flag.Bool("update", false, "rewrite testdata/sample-data (on purpose only)")

const sampleDir = "testdata/sample-data"

// writeSample makes the sample data directory: dataspace "sample" with a
// put, a batch and a delete, in 16 KiB segments.
func writeSample(t *testing.T, dir string) {
	db, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SegmentSizeBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := db.CreateDataspace("sample", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ds.Put(ctx, []byte("alpha"), []byte("one"), WithRequestID("req-1")); err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Put([]byte("beta"), []byte("two"))
	b.Put([]byte("gamma"), []byte("three"))
	if _, err := ds.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.Delete(ctx, []byte("beta")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSampleDataDir decodes the checked-in sample as docs/format.md
// describes it, then opens it with holdfast.
func TestSampleDataDir(t *testing.T) {
	if *update {
		os.RemoveAll(sampleDir)
		writeSample(t, sampleDir)
	}
	// Work on a copy: opening writes (the lock, the recovery syncs).
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(sampleDir)); err != nil {
		t.Fatal(err)
	}
	fsys := vfs.Default()
	spaceDir := filepath.Join(dir, spacesDirName, "sample")

	var m manifest
	if err := vfs.ReadMetaFile(fsys, filepath.Join(spaceDir, manifestFileName), manifestKind, &m); err != nil {
		t.Fatal(err)
	}
	if m.FormatVersion != 1 || m.Name != "sample" || len(m.ID) != 32 || m.Sync != "always" {
		t.Fatalf("manifest: %+v", m)
	}

	var recs []recordPayload
	var seqs []uint64
	w, info, err := wal.Recover(fsys, filepath.Join(spaceDir, walDirName), wal.Options{}, wal.Position{}, func(r wal.Record, _ wal.RecordPos) error {
		p, err := decodeRecord(r.Payload)
		if err != nil {
			return err
		}
		recs = append(recs, p)
		seqs = append(seqs, r.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if info.Records != 3 || len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	want := []struct {
		seq   uint64
		reqID string
		ops   []op
	}{
		{1, "req-1", []op{{kind: opPut, key: []byte("alpha"), value: []byte("one")}}},
		{2, "", []op{{kind: opPut, key: []byte("beta"), value: []byte("two")}, {kind: opPut, key: []byte("gamma"), value: []byte("three")}}},
		{3, "", []op{{kind: opDelete, key: []byte("beta")}}},
	}
	for i, w := range want {
		r := recs[i]
		if seqs[i] != w.seq || r.requestID != w.reqID || r.relocated || len(r.ops) != len(w.ops) {
			t.Fatalf("record %d: seq %d %+v", i, seqs[i], r)
		}
		for j, o := range w.ops {
			g := r.ops[j]
			if g.kind != o.kind || string(g.key) != string(o.key) || string(g.value) != string(o.value) {
				t.Fatalf("record %d op %d: %+v, want %+v", i, j, g, o)
			}
		}
	}
	// The first record's bytes, as the table in docs/format.md lays them out.
	raw := recs[0].encode()
	wantRaw := []byte{1, 0, 5, 'r', 'e', 'q', '-', '1', 1, 0, 0, 0, 1, 5, 0, 3, 0, 0, 0, 'a', 'l', 'p', 'h', 'a', 'o', 'n', 'e'}
	if string(raw) != string(wantRaw) {
		t.Fatalf("record 1 bytes %v, want %v", raw, wantRaw)
	}

	db, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.Dataspace("sample")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, v := range map[string]string{"alpha": "one", "gamma": "three"} {
		got, err := ds.Get(ctx, []byte(k))
		if err != nil || string(got.Data) != v {
			t.Fatalf("%s = %q, %v", k, got.Data, err)
		}
	}
	if _, err := ds.Get(ctx, []byte("beta")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("beta: %v, want ErrNotFound", err)
	}
	if ds.Len() != 2 {
		t.Fatalf("%d keys, want 2", ds.Len())
	}
}
