package holdfast

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

var update = flag.Bool("update", false, "rewrite testdata/sample-data-v2 (on purpose only)")

const (
	// sampleDir was written by holdfast before record format 2 and is
	// frozen: this code writes format 2 only, so it cannot remake it.
	sampleDir = "testdata/sample-data"
	// sampleDirV2 holds format 2 records; writeSampleV2 remakes it.
	sampleDirV2 = "testdata/sample-data-v2"
)

// sampleBigValue is a value above InlineValueMaxBytes: a Get reads it from
// the log.
var sampleBigValue = bytes.Repeat([]byte("0123456789"), 10)

// writeSampleV2 makes the format 2 sample data directory: dataspace
// "sample" with a put, a batch, a delete and a batch with a value Get
// reads from the log, in one 32 KiB segment.
func writeSampleV2(t *testing.T, dir string) {
	db, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SegmentSizeBytes: 32 << 10})
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
	var b2 Batch
	b2.Put([]byte("delta"), sampleBigValue)
	b2.Put([]byte("epsilon"), []byte("five"))
	if _, err := ds.Apply(ctx, &b2); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// sampleRecord is one record of a sample's log, as read back.
type sampleRecord struct {
	seq uint64
	raw []byte // the payload, as the log holds it
	p   recordPayload
}

// readSample copies a sample directory, checks its manifest field by
// field and returns the copy and its log's records.
func readSample(t *testing.T, sample string) (string, []sampleRecord) {
	// Work on a copy: opening writes (the lock, the recovery syncs).
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(sample)); err != nil {
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

	var recs []sampleRecord
	w, info, err := wal.Recover(fsys, filepath.Join(spaceDir, walDirName), wal.Options{}, wal.Position{}, func(r wal.Record, _ wal.RecordPos) error {
		raw := bytes.Clone(r.Payload)
		p, err := decodeRecord(raw, r.Seq)
		if err != nil {
			return err
		}
		recs = append(recs, sampleRecord{seq: r.Seq, raw: raw, p: p})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if info.Records != len(recs) {
		t.Fatalf("recovery counted %d records, decoded %d", info.Records, len(recs))
	}
	return dir, recs
}

// sampleWant is what one record of a sample holds.
type sampleWant struct {
	seq   uint64
	reqID string
	ops   []op
}

func checkSampleRecords(t *testing.T, recs []sampleRecord, want []sampleWant, v1 bool) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if r.seq != w.seq || r.p.v1 != v1 || r.p.requestID != w.reqID || r.p.relocated || len(r.p.ops) != len(w.ops) {
			t.Fatalf("record %d: seq %d %+v", i, r.seq, r.p)
		}
		for j, o := range w.ops {
			g := r.p.ops[j]
			if g.kind != o.kind || string(g.key) != string(o.key) || string(g.value) != string(o.value) {
				t.Fatalf("record %d op %d: %+v, want %+v", i, j, g, o)
			}
		}
		// Decoding is exact: the payload re-encodes to the log's bytes.
		if again := r.p.encode(r.seq); !bytes.Equal(again, r.raw) {
			t.Fatalf("record %d re-encodes as %x, the log holds %x", i, again, r.raw)
		}
	}
}

// checkSampleServes opens the sample copy with holdfast and checks it
// serves exactly want.
func checkSampleServes(t *testing.T, dir string, want map[string]string, gone []string) {
	t.Helper()
	db, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ValueCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.Dataspace("sample")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, v := range want {
		got, err := ds.Get(ctx, []byte(k))
		if err != nil || string(got.Data) != v {
			t.Fatalf("%s = %q, %v", k, got.Data, err)
		}
	}
	for _, k := range gone {
		if _, err := ds.Get(ctx, []byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", k, err)
		}
	}
	if ds.Len() != len(want) {
		t.Fatalf("%d keys, want %d", ds.Len(), len(want))
	}
	if err := ds.WaitVerified(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSampleDataDir decodes the checked-in format 1 sample as
// docs/format.md describes it, then opens it with holdfast: data written
// before format 2 stays readable.
func TestSampleDataDir(t *testing.T) {
	dir, recs := readSample(t, sampleDir)
	checkSampleRecords(t, recs, []sampleWant{
		{1, "req-1", []op{{kind: opPut, key: []byte("alpha"), value: []byte("one")}}},
		{2, "", []op{{kind: opPut, key: []byte("beta"), value: []byte("two")}, {kind: opPut, key: []byte("gamma"), value: []byte("three")}}},
		{3, "", []op{{kind: opDelete, key: []byte("beta")}}},
	}, true)
	// The first record's bytes, as the table in docs/format.md lays them out.
	wantRaw := []byte{1, 0, 5, 'r', 'e', 'q', '-', '1', 1, 0, 0, 0, 1, 5, 0, 3, 0, 0, 0, 'a', 'l', 'p', 'h', 'a', 'o', 'n', 'e'}
	if !bytes.Equal(recs[0].raw, wantRaw) {
		t.Fatalf("record 1 bytes %v, want %v", recs[0].raw, wantRaw)
	}
	checkSampleServes(t, dir, map[string]string{"alpha": "one", "gamma": "three"}, []string{"beta"})
}

// v2Op lays out one format 2 op as docs/format.md describes it, without
// the encoder: kind, key length, value length, key, value, and the
// CRC-32C of seq and those bytes.
func v2Op(seq uint64, kind byte, key, value string) []byte {
	b := []byte{kind}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	b = append(b, key...)
	b = append(b, value...)
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	crc.Write(binary.LittleEndian.AppendUint64(nil, seq))
	crc.Write(b)
	return binary.LittleEndian.AppendUint32(b, crc.Sum32())
}

// TestSampleDataDirV2 decodes the checked-in format 2 sample byte by byte
// as docs/format.md describes it, then opens it with holdfast.
func TestSampleDataDirV2(t *testing.T) {
	if *update {
		os.RemoveAll(sampleDirV2)
		writeSampleV2(t, sampleDirV2)
	}
	dir, recs := readSample(t, sampleDirV2)
	checkSampleRecords(t, recs, []sampleWant{
		{1, "req-1", []op{{kind: opPut, key: []byte("alpha"), value: []byte("one")}}},
		{2, "", []op{{kind: opPut, key: []byte("beta"), value: []byte("two")}, {kind: opPut, key: []byte("gamma"), value: []byte("three")}}},
		{3, "", []op{{kind: opDelete, key: []byte("beta")}}},
		{4, "", []op{{kind: opPut, key: []byte("delta"), value: sampleBigValue}, {kind: opPut, key: []byte("epsilon"), value: []byte("five")}}},
	}, false)
	head := func(reqID string, n uint32) []byte {
		b := append([]byte{2, 0, byte(len(reqID))}, reqID...)
		return binary.LittleEndian.AppendUint32(b, n)
	}
	for i, want := range [][]byte{
		slices.Concat(head("req-1", 1), v2Op(1, 1, "alpha", "one")),
		slices.Concat(head("", 2), v2Op(2, 1, "beta", "two"), v2Op(2, 1, "gamma", "three")),
		slices.Concat(head("", 1), v2Op(3, 2, "beta", "")),
		slices.Concat(head("", 2), v2Op(4, 1, "delta", string(sampleBigValue)), v2Op(4, 1, "epsilon", "five")),
	} {
		if !bytes.Equal(recs[i].raw, want) {
			t.Fatalf("record %d bytes\n %x, want\n %x", i+1, recs[i].raw, want)
		}
	}
	// The checkpoint the close wrote: every live key, with the op offset
	// of its put (record head, then the ops before it).
	data, err := os.ReadFile(filepath.Join(dir, spacesDirName, "sample", checkpointFileName))
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); string(data[:8]) != checkpointMagic || v != 2 {
		t.Fatalf("checkpoint magic %q version %d", data[:8], v)
	}
	c, _, err := decodeCheckpoint(data, 64)
	if err != nil {
		t.Fatal(err)
	}
	if c.lastSeq != 4 || c.pos.NextSeq != 5 || c.index.Len() != 4 {
		t.Fatalf("checkpoint: last seq %d, next seq %d, %d entries", c.lastSeq, c.pos.NextSeq, c.index.Len())
	}
	for _, w := range []struct {
		key             string
		seq             uint64
		opIndex, offset uint32
		inline          bool
	}{
		{"alpha", 1, 0, 3 + 5 + 4, true},
		{"delta", 4, 0, 3 + 4, false},
		{"epsilon", 4, 1, 3 + 4 + uint32(len(v2Op(4, 1, "delta", string(sampleBigValue)))), true},
		{"gamma", 2, 1, 3 + 4 + uint32(len(v2Op(2, 1, "beta", "two"))), true},
	} {
		e, ok := c.index.Get(w.key)
		if !ok || e.seq != w.seq || e.opIndex != w.opIndex || e.opOffset != w.offset || e.isInl != w.inline {
			t.Fatalf("checkpoint entry %q: %+v, want seq %d op %d at offset %d", w.key, e, w.seq, w.opIndex, w.offset)
		}
		raw := recs[w.seq-1].raw
		if o, _, err := decodeOp(raw[e.opOffset:], e.seq); err != nil || string(o.key) != w.key {
			t.Fatalf("checkpoint entry %q: the op at offset %d: %v", w.key, e.opOffset, err)
		}
	}
	checkSampleServes(t, dir, map[string]string{"alpha": "one", "gamma": "three", "delta": string(sampleBigValue), "epsilon": "five"}, []string{"beta"})
}

// seqCRC matches the library's CRC-32C of the same eight bytes.
func TestSeqCRCMatchesCRC32C(t *testing.T) {
	for _, seq := range []uint64{0, 1, 255, 256, 1 << 32, 0x0123456789abcdef, ^uint64(0)} {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seq)
		if got, want := seqCRC(seq), crc32.Checksum(b[:], crc32c); got != want {
			t.Fatalf("seqCRC(%#x) = %#x, want %#x", seq, got, want)
		}
	}
}
