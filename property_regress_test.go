package holdfast_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Deterministic reproductions of failures TestPropertyAPI found.

func regressOptions(fsys *faultfs.FS) holdfast.Options {
	return holdfast.Options{
		FS:                 fsys,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		SegmentSizeBytes:   64 << 10,
		CompactionSpaceAmp: -1, // only explicit compactions
	}
}

// openRegress opens a DB on a new faultfs with one dataspace, "a".
func openRegress(t *testing.T) (*faultfs.FS, *holdfast.DB, *holdfast.Dataspace) {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{Seed: 1})
	db, err := holdfast.Open("/data", regressOptions(fsys))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ds, err := db.CreateDataspace("a", holdfast.DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fsys, db, ds
}

// fillSegments overwrites one key until the log has rolled to a new
// segment, so everything written before lies in a segment Compact removes.
func fillSegments(t *testing.T, ds *holdfast.Dataspace) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ds.Stats().Log.Segments < 2; i++ {
		if i > 1000 {
			t.Fatalf("the log did not roll: %+v", ds.Stats().Log)
		}
		if _, err := ds.Put(ctx, []byte("filler"), bytes.Repeat([]byte{'f'}, 4<<10)); err != nil {
			t.Fatal(err)
		}
	}
}

// A retried Incr whose first attempt's record was in a segment that
// compaction removed must return the first answer (the request id is still
// remembered in memory). The engine instead re-reads the original record
// from the log (dupReply → log.ReadRecord), finds the segment gone, and
// fail-stops the dataspace: a client's retry takes the dataspace down.
//
// Found by TestPropertyAPI at 318c282: "retry of Incr(...) id "req-7"
// (first seq 7) = seq 7, dataspace "a": holdfast: dataspace stopped after
// an I/O error: read the record of request id "req-7": wal: segment 1 is
// not in the log (segments 2..2)". Fixed in 0190ccc (the increment's
// result is remembered with its request id, and ids are carried forward
// by compaction); this test also restarts after the compaction.
func TestPropertyRegressRetriedIncrAfterCompaction(t *testing.T) {
	ctx := context.Background()
	fsys, db, ds := openRegress(t)
	n, seq, err := ds.Incr(ctx, []byte("ctr"), 5, holdfast.WithRequestID("r-1"))
	if err != nil || n != 5 {
		t.Fatalf("Incr = %d, %v", n, err)
	}
	fillSegments(t, ds)
	st, err := ds.Compact(ctx)
	if err != nil || st.RemovedSegments == 0 {
		t.Fatalf("Compact = %+v, %v; want segments removed", st, err)
	}

	n2, seq2, err := ds.Incr(ctx, []byte("ctr"), 5, holdfast.WithRequestID("r-1"))
	if err != nil || n2 != n || seq2 != seq {
		t.Errorf("retried Incr after Compact = (%d, seq %d, %v); want the first answer (%d, seq %d, nil)", n2, seq2, err, n, seq)
	}
	if err := ds.Err(); err != nil {
		t.Errorf("the dataspace stopped after a retried Incr: %v", err)
	}
	if v, err := ds.Get(ctx, []byte("ctr")); err != nil || string(v.Data) != "5" || v.Seq != seq {
		t.Errorf("Get(ctr) = %q seq %d, %v; want \"5\" seq %d", v.Data, v.Seq, err, seq)
	}

	// And after a restart, with the first record's segment gone.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = holdfast.Open("/data", regressOptions(fsys))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ds, err = db.Dataspace("a"); err != nil {
		t.Fatal(err)
	}
	n3, seq3, err := ds.Incr(ctx, []byte("ctr"), 5, holdfast.WithRequestID("r-1"))
	if err != nil || n3 != n || seq3 != seq {
		t.Errorf("retried Incr after Compact and restart = (%d, seq %d, %v); want the first answer (%d, seq %d, nil)", n3, seq3, err, n, seq)
	}
	if v, err := ds.Get(ctx, []byte("ctr")); err != nil || string(v.Data) != "5" || v.Seq != seq {
		t.Errorf("after restart Get(ctr) = %q seq %d, %v; want \"5\" seq %d", v.Data, v.Seq, err, seq)
	}
}

// A request id that was applied by a Put (or an Apply), reused by an Incr,
// is a client's mistake: it must not write, stop the dataspace, or be
// reported as corruption. WithRequestID: "a write whose request id the
// dataspace has already applied is not applied again, and returns the
// original sequence number".
//
// Found by TestPropertyAPI at 318c282, minimized to: Put("a", "") id req-1;
// Incr("a", 1) id req-1 → "holdfast: data is corrupt: request id "req-1":
// wal: corrupt: strconv.ParseInt: parsing "": invalid syntax", and the
// dataspace stopped (dupReply parsed the Put's value as the Incr's result).
// An Apply's id gave "record 1 is not an increment". Fixed in 0190ccc,
// which answers with a plain error and keeps serving.
func TestPropertyRegressRequestIDReusedByIncr(t *testing.T) {
	ctx := context.Background()
	for _, first := range []string{"put", "apply"} {
		t.Run(first, func(t *testing.T) {
			_, _, ds := openRegress(t)
			var seq uint64
			var err error
			if first == "put" {
				seq, err = ds.Put(ctx, []byte("a"), []byte("not a number"), holdfast.WithRequestID("req-1"))
			} else {
				var b holdfast.Batch
				b.Put([]byte("a"), []byte("not a number"))
				b.Put([]byte("b"), []byte("2"))
				seq, err = ds.Apply(ctx, &b, holdfast.WithRequestID("req-1"))
			}
			if err != nil {
				t.Fatal(err)
			}
			_, seq2, err := ds.Incr(ctx, []byte("a"), 1, holdfast.WithRequestID("req-1"))
			if err == nil && seq2 != seq {
				t.Errorf("Incr reusing the request id = seq %d; want the first write's %d", seq2, seq)
			}
			if errors.Is(err, holdfast.ErrCorrupt) || errors.Is(err, holdfast.ErrFailStop) {
				t.Errorf("Incr reusing the request id: %v; a reused id is not damage", err)
			}
			if err := ds.Err(); err != nil {
				t.Errorf("the dataspace stopped: %v", err)
			}
			if v, err := ds.Get(ctx, []byte("a")); err != nil || string(v.Data) != "not a number" || v.Seq != seq {
				t.Errorf("Get(a) = %q seq %d, %v; want the first write's value, seq %d", v.Data, v.Seq, err, seq)
			}
			if ds.LastSeq() != seq {
				t.Errorf("LastSeq = %d: the reused id wrote something (first write seq %d)", ds.LastSeq(), seq)
			}
		})
	}
}
