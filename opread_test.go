package holdfast

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// opReadDB opens /data on fsys with the value cache off, so every Get of
// a value above InlineValueMaxBytes reads the device.
func opReadDB(t *testing.T, fsys *faultfs.FS) *DB {
	t.Helper()
	db, err := Open("/data", Options{FS: fsys, Logger: quietLogger(), SegmentSizeBytes: 1 << 20, CompactionSpaceAmp: -1, ValueCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// opReadValue is the 100-byte value of key i.
func opReadValue(i int) []byte {
	return []byte(fmt.Sprintf("%03d", i) + strings.Repeat(string(rune('a'+i%26)), 97))
}

// loadBatch writes keys k0000..k(n-1) in one Apply: one record of about
// n*120 bytes.
func loadBatch(t *testing.T, ds *Dataspace, n int) {
	t.Helper()
	var b Batch
	for i := range n {
		b.Put([]byte(fmt.Sprintf("k%04d", i)), opReadValue(i))
	}
	if _, err := ds.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

func indexEntry(t *testing.T, ds *Dataspace, key string) *entry {
	t.Helper()
	ds.mu.RLock()
	defer ds.mu.RUnlock()
	e, ok := ds.index.Get(key)
	if !ok {
		t.Fatalf("%s is not in the index", key)
	}
	return e
}

// A Get of one value of a 1,000-key batch reads the blocks its op lies in
// (one or two 4 KiB blocks), not the ~120 KB record; so does a Get of a
// value compaction relocated, and one after a reopen from the checkpoint.
func TestGetReadsOnlyItsOp(t *testing.T) {
	ctx := context.Background()
	fsys := faultfs.New(faultfs.Options{})
	db := opReadDB(t, fsys)
	ds, err := db.CreateDataspace("d", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	loadBatch(t, ds, n)
	check := func(what string, ds *Dataspace) {
		t.Helper()
		for _, i := range []int{0, 1, 4, 37, 500, 998, 999} {
			k := fmt.Sprintf("k%04d", i)
			e := indexEntry(t, ds, k)
			// The record is bigger than the 8 KiB a Get may read: 1,000
			// values, or a chunk of relocated ones.
			if e.opOffset == 0 || e.pos.Length <= 2*8192 {
				t.Fatalf("%s: %s: op offset %d in a record of %d bytes", what, k, e.opOffset, e.pos.Length)
			}
			before := ds.Stats().Log
			v, err := ds.Get(ctx, []byte(k))
			if err != nil || !bytes.Equal(v.Data, opReadValue(i)) {
				t.Fatalf("%s: %s = %q, %v", what, k, v.Data, err)
			}
			after := ds.Stats().Log
			if reads, read := after.Reads-before.Reads, after.ReadBytes-before.ReadBytes; reads != 1 || read > 8192 {
				t.Fatalf("%s: the Get of %s read %d bytes in %d reads; its record is %d bytes", what, k, read, reads, e.pos.Length)
			}
		}
	}
	check("batch", ds)
	// Relocated: the values move to a relocated record (kind 3 ops).
	for i := 0; ds.log.Position().Segment == 1; i++ {
		if _, err := ds.Put(ctx, []byte(fmt.Sprintf("filler%06d", i)), bytes.Repeat([]byte("f"), 4000)); err != nil {
			t.Fatal(err)
		}
	}
	if cs, err := ds.Compact(ctx); err != nil || cs.Relocated < n {
		t.Fatalf("compaction: %+v, %v", cs, err)
	}
	if e := indexEntry(t, ds, "k0000"); e.pos.Segment == 1 {
		t.Fatalf("k0000 was not relocated: %+v", e.pos)
	}
	check("relocated", ds)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = opReadDB(t, fsys)
	defer db.Close()
	if ds, err = db.Dataspace("d"); err != nil {
		t.Fatal(err)
	}
	check("reopened", ds)
}

// Every byte of an op, flipped on the device after the dataspace opened
// and verified its log, makes the Get of its key report ErrCorrupt with
// the file and the op's offset, and stops the dataspace: never the data.
// Both for a client batch (kinds 1, 2) and for a relocated record (kind
// 3). A flipped byte of the next op, which the read also covers, does not
// disturb the Get.
func TestGetOpDamageIsCorruption(t *testing.T) {
	ctx := context.Background()
	for _, relocate := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{})
		db := opReadDB(t, fsys)
		ds, err := db.CreateDataspace("d", DataspaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		loadBatch(t, ds, 20)
		if relocate {
			for i := 0; ds.log.Position().Segment == 1; i++ {
				if _, err := ds.Put(ctx, []byte(fmt.Sprintf("filler%06d", i)), bytes.Repeat([]byte("f"), 4000)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ds.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		const key = "k0007"
		e := indexEntry(t, ds, key)
		if relocate == (e.pos.Segment == 1) {
			t.Fatalf("relocate %v: %s is in segment %d", relocate, key, e.pos.Segment)
		}
		size := opFixedSize + len(key) + len(opReadValue(7))
		if relocate {
			size += versionSize
		}
		segFile, opAt := ds.log.Locate(e.pos, int(e.opOffset))
		db.Close()

		locate := func(j int) int64 { _, at := ds.log.Locate(e.pos, int(e.opOffset)+j); return at }
		for j := -1; j < size+1; j++ { // -1: the op before; size: the next op
			at := locate(j)
			db := opReadDB(t, fsys)
			ds, err := db.Dataspace("d")
			if err != nil {
				t.Fatal(err)
			}
			if err := ds.WaitVerified(ctx); err != nil {
				t.Fatal(err)
			}
			if err := fsys.FlipBit(segFile, at, uint(j&7)); err != nil {
				t.Fatal(err)
			}
			v, err := ds.Get(ctx, []byte(key))
			if j < 0 || j == size {
				if err != nil || !bytes.Equal(v.Data, opReadValue(7)) {
					t.Fatalf("relocate %v: a flip %d bytes from the op: %q, %v", relocate, j, v.Data, err)
				}
			} else {
				var ce *wal.CorruptError
				if !errors.Is(err, ErrCorrupt) || v.Data != nil || !errors.As(err, &ce) || ce.Path != segFile || ce.Offset != opAt {
					t.Fatalf("relocate %v: byte %d of %d flipped: %q, %v (want ErrCorrupt at %s offset %d)", relocate, j, size, v.Data, err, segFile, opAt)
				}
				if !errors.Is(ds.Err(), ErrCorrupt) {
					t.Fatalf("relocate %v: byte %d flipped: the dataspace serves on (%v)", relocate, j, ds.Err())
				}
			}
			db.Close()
			if err := fsys.FlipBit(segFile, at, uint(j&7)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A checkpoint written before version 2 has no op offsets: it is still
// used, and its entries' values are read a whole record at a time; one
// written now has them, and Get reads single ops. Either way the data is
// the same.
func TestCheckpointVersion1StillOpens(t *testing.T) {
	ctx := context.Background()
	fsys := faultfs.New(faultfs.Options{})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	open := func() *DB {
		db, err := Open("/data", Options{FS: fsys, Logger: logger, SegmentSizeBytes: 64 << 10, CompactionSpaceAmp: -1, ValueCacheBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	ds, err := db.CreateDataspace("d", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var b Batch
	for i := range 200 {
		k, v := fmt.Sprintf("k%03d", i), strings.Repeat(fmt.Sprint(i%10), 80+i)
		b.Put([]byte(k), []byte(v))
		want[k] = v
	}
	if _, err := ds.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	const name = "/data/dataspaces/d/CHECKPOINT"
	data, err := fsys.DurableContent(name)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := decodeCheckpoint(data, 64)
	if err != nil || c.version != checkpointVersion {
		t.Fatalf("the checkpoint a close writes: version %d, %v", c.version, err)
	}
	offsets := 0
	c.index.Scan(func(e *entry) bool {
		if e.opOffset != 0 {
			offsets++
		}
		e.opOffset = 0 // version 1 has none
		return true
	})
	if offsets != len(want) {
		t.Fatalf("%d of %d entries carry an op offset", offsets, len(want))
	}
	c.version = checkpointVersion1
	if err := vfs.WriteFileAtomic(fsys, name, encodeCheckpoint(c, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	for round, wantOffset := range []bool{false, true} {
		logs.Reset()
		db = open()
		ds, err = db.Dataspace("d")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "replaying the whole log") {
			t.Fatalf("round %d: the checkpoint was not used:\n%s", round, logs.String())
		}
		for k, v := range want {
			before := ds.Stats().Log
			if got := mustGet(t, ds, k); string(got) != v {
				t.Fatalf("round %d: %s = %q, want %q", round, k, got, v)
			}
			after := ds.Stats().Log
			e, _ := ds.index.Get(k)
			// A single op lies in one or two blocks; the whole record
			// (200 values, ~36 KB) in more.
			if whole := after.ReadBytes-before.ReadBytes > 8192; (e.opOffset != 0) != wantOffset || whole == wantOffset {
				t.Fatalf("round %d: %s has op offset %d and its Get read %d bytes", round, k, e.opOffset, after.ReadBytes-before.ReadBytes)
			}
		}
		if err := ds.WaitVerified(ctx); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			// Written again on close, as version 2: but the entries
			// restored from version 1 still lack offsets. A rewrite of
			// the keys gives them offsets again.
			var b Batch
			for k, v := range want {
				b.Put([]byte(k), []byte(v))
			}
			if _, err := ds.Apply(ctx, &b); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
