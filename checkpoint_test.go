package holdfast

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unsafe"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

func FuzzDecodeCheckpoint(f *testing.F) {
	idx := newKeyIndex()
	idx.Set(&entry{key: "a", seq: 3, pos: wal.RecordPos{Segment: 1, GroupOffset: 4096, Logical: 48, Length: 40}, size: 2, inline: []byte("hi"), isInl: true})
	idx.Set(&entry{key: "b", seq: 4, pos: wal.RecordPos{Segment: 2, GroupOffset: 8192, Logical: 48, Length: 900}, size: 800})
	idx.Set(&entry{key: "c", seq: 4, pos: wal.RecordPos{Segment: 2, GroupOffset: 8192, Logical: 48, Length: 900}, opOffset: 400, size: 100})
	for _, version := range []uint32{checkpointVersion1, checkpointVersion} {
		c := checkpointState{version: version, pos: wal.Position{Segment: 2, Offset: 12288, NextSeq: 5}, lastSeq: 4, index: idx.Copy(),
			dedup: []dedupEntry{{id: "r", a: applied{seq: 4, segment: 2, hasInt: true, intValue: 9}}}}
		if version == checkpointVersion1 {
			c.index.Set(&entry{key: "c", seq: 4, pos: wal.RecordPos{Segment: 2, GroupOffset: 8192, Logical: 48, Length: 900}, size: 100})
		}
		f.Add(encodeCheckpoint(c, nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := decodeCheckpoint(b, 64)
		if err != nil {
			return
		}
		if again := encodeCheckpoint(c, nil); !bytes.Equal(again, b) {
			t.Fatalf("accepted checkpoint does not re-encode identically")
		}
	})
}

func openCkpt(t *testing.T, fsys *faultfs.FS, logger *slog.Logger) *DB {
	t.Helper()
	db, err := Open("/data", Options{FS: fsys, Logger: logger, SegmentSizeBytes: 64 << 10, CompactionSpaceAmp: -1})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// A clean close writes a checkpoint; reopening uses it and replays only
// the tail. A damaged or stale checkpoint is ignored: the whole log is
// replayed and nothing is lost.
func TestCheckpointOpenAndFallback(t *testing.T) {
	ctx := context.Background()
	fsys := faultfs.New(faultfs.Options{})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	db := openCkpt(t, fsys, logger)
	ds, err := db.CreateDataspace("d", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	put := func(ds *Dataspace, i int) {
		k, v := fmt.Sprintf("k%03d", i%150), strings.Repeat(fmt.Sprint(i%10), 10+i%200)
		if _, err := ds.Put(ctx, []byte(k), []byte(v), WithRequestID(fmt.Sprintf("id-%d", i))); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	for i := 0; i < 300; i++ {
		put(ds, i)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) *Dataspace {
		t.Helper()
		ds, err := db.Dataspace("d")
		if err != nil {
			t.Fatal(err)
		}
		if err := ds.WaitVerified(ctx); err != nil {
			t.Fatalf("verification: %v", err)
		}
		if ds.Len() != len(want) {
			t.Fatalf("%d keys, want %d", ds.Len(), len(want))
		}
		for k, v := range want {
			got, err := ds.Get(ctx, []byte(k))
			if err != nil || string(got.Data) != v {
				t.Fatalf("%s = %q, %v", k, got.Data, err)
			}
		}
		// Request ids survived through the checkpoint.
		if s, err := ds.Put(ctx, []byte("k000"), []byte("again"), WithRequestID("id-0")); err != nil || string(mustGet(t, ds, "k000")) == "again" {
			t.Fatalf("retried id-0 applied again (seq %d, %v)", s, err)
		}
		return ds
	}

	// 1. From the checkpoint, plus a tail written after it.
	logs.Reset()
	db = openCkpt(t, fsys, logger)
	ds = check(db)
	if strings.Contains(logs.String(), "replaying the whole log") {
		t.Fatalf("the checkpoint was not used:\n%s", logs.String())
	}
	for i := 300; i < 400; i++ {
		put(ds, i)
	}
	// A crash: the checkpoint from the first close, and a tail after it.
	if err := fsys.PowerCut(faultfs.CrashOptions{}, func() { db.Close() }); err != nil {
		t.Fatal(err)
	}
	db = openCkpt(t, fsys, logger)
	check(db)
	if strings.Contains(logs.String(), "replaying the whole log") {
		t.Fatalf("the checkpoint was not used after a crash:\n%s", logs.String())
	}
	db.Close()

	// 2. A damaged checkpoint: ignored, full replay.
	if err := fsys.FlipBit("/data/dataspaces/d/CHECKPOINT", 40, 3); err != nil {
		t.Fatal(err)
	}
	fsys.EvictCleanPages("") // the flip is on the device; the cache still has the good copy
	logs.Reset()
	db = openCkpt(t, fsys, logger)
	check(db)
	if !strings.Contains(logs.String(), "checkpoint damaged; replaying the whole log") {
		t.Fatalf("a damaged checkpoint was not reported:\n%s", logs.String())
	}
	db.Close()

	// 3. A stale checkpoint: written, then compaction removed segments it
	// points into (a crash before the compaction's own checkpoint landed).
	db = openCkpt(t, fsys, logger)
	ds = check(db)
	db.Close() // fresh checkpoint
	old, err := fsys.DurableContent("/data/dataspaces/d/CHECKPOINT")
	if err != nil {
		t.Fatal(err)
	}
	db = openCkpt(t, fsys, logger)
	ds, _ = db.Dataspace("d")
	if cs, err := ds.Compact(ctx); err != nil || cs.RemovedSegments == 0 {
		t.Fatalf("compaction: %+v, %v", cs, err)
	}
	db.Close()
	f, _ := fsys.OpenFile("/data/dataspaces/d/CHECKPOINT", 0x241, 0o644) // O_WRONLY|O_CREATE|O_TRUNC
	f.Write(old)
	f.Sync()
	f.Close()
	logs.Reset()
	db = openCkpt(t, fsys, logger)
	defer db.Close()
	check(db)
	if !strings.Contains(logs.String(), "checkpoint is older than the log") {
		t.Fatalf("a stale checkpoint was not detected:\n%s", logs.String())
	}
}

func mustGet(t *testing.T, ds *Dataspace, key string) []byte {
	t.Helper()
	v, err := ds.Get(context.Background(), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return v.Data
}

// Checkpoints grow with the index; the next one waits until the log has
// grown by the last one's size, so checkpoints never write more than the
// log does (a 700 MB checkpoint every 64 MB of log was a tenfold write
// amplification at 10 M keys).
func TestCheckpointBytesBoundedByLogBytes(t *testing.T) {
	old := checkpointMinBytes
	checkpointMinBytes = 32 << 10
	defer func() { checkpointMinBytes = old }()
	fsys := faultfs.New(faultfs.Options{Seed: 9, OpLogLimit: 1 << 22})
	db, err := Open("/data", Options{FS: fsys, Logger: quietLogger(), SerialMaintenance: true, CompactionSpaceAmp: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.CreateDataspace("c", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 400 {
		var b Batch
		for j := range 50 {
			b.Put([]byte(fmt.Sprintf("key-%06d", i*50+j)), []byte("v"))
		}
		if _, err := ds.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	var ckptBytes, ckpts int64
	for _, r := range fsys.OpLog() {
		if r.Op.Kind == faultfs.OpWrite && strings.Contains(r.Op.Path, checkpointFileName) {
			ckptBytes += r.Op.Length
		}
		if r.Op.Kind == faultfs.OpRename && strings.HasSuffix(r.Op.NewPath, "/"+checkpointFileName) {
			ckpts++
		}
	}
	logBytes := ds.Stats().Log.BytesWritten
	if ckpts < 3 {
		t.Fatalf("%d checkpoints for %d bytes of log: the test did not exercise the schedule", ckpts, logBytes)
	}
	if last := ds.ckptSize.Load(); ckptBytes > logBytes+last {
		t.Fatalf("checkpoints wrote %d bytes in %d files for %d bytes of log: more than the log plus one checkpoint (%d)", ckptBytes, ckpts, logBytes, last)
	}
	t.Logf("%d checkpoints, %d bytes, for %d bytes of log", ckpts, ckptBytes, logBytes)
}

// The index holds one entry per live key: adding the op offset kept it at
// 96 bytes on 64-bit platforms.
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 96 {
		t.Fatalf("an index entry takes %d bytes, more than 96", got)
	}
}

// encodeCheckpoint sizes its buffer exactly, so a large index is not
// copied as the buffer grows.
func TestEncodeCheckpointSizesItsBuffer(t *testing.T) {
	idx := newKeyIndex()
	for i := range 1000 {
		e := &entry{key: fmt.Sprintf("key-%06d", i), seq: uint64(i + 1), pos: wal.RecordPos{Segment: 1, GroupOffset: 4096, Logical: 48, Length: 100}, size: 10}
		if i%3 == 0 {
			e.inline, e.isInl = []byte("0123456789"), true
		}
		idx.Set(e)
	}
	c := checkpointState{pos: wal.Position{Segment: 1, Offset: 8192, NextSeq: 1001}, lastSeq: 1000, index: idx,
		dedup: []dedupEntry{{id: "req-1", a: applied{seq: 7, segment: 1}}}}
	b := encodeCheckpoint(c, nil)
	if len(b) != cap(b) {
		t.Fatalf("checkpoint of %d bytes in a buffer of %d: the size estimate is off", len(b), cap(b))
	}
}
