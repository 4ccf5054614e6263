package holdfast

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

func failNextLogSync(fsys *faultfs.FS) {
	fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData), 1, syscall.EIO))
}

// ExitOnIOError ends the process (PostgreSQL-style) on the first failed
// sync; the test replaces os.Exit to see it.
func TestExitOnIOError(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	var code atomic.Int32
	db, err := Open("/data", Options{FS: fsys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ExitOnIOError: true, exit: func(c int) { code.Store(int32(c)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.CreateDataspace("d", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failNextLogSync(fsys)
	if _, err := ds.Put(context.Background(), []byte("k"), []byte("v")); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("put = %v, want ErrOutcomeUnknown", err)
	}
	if code.Load() != 70 {
		t.Fatalf("exit code %d, want 70 (the process must exit on an I/O error)", code.Load())
	}
}

// AutoReopen brings a fail-stopped dataspace back from the device by
// itself, with backoff, and the reopened dataspace serves what is durable.
func TestAutoReopenAfterFailStop(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db, err := Open("/data", Options{FS: fsys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AutoReopen: true, ReopenBackoffMin: 5 * time.Millisecond, ReopenBackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	ds, err := db.CreateDataspace("d", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Put(ctx, []byte("k"), []byte("durable")); err != nil {
		t.Fatal(err)
	}
	// The first reopen attempt fails too (its recovery sync), the second
	// succeeds: the backoff loop must keep trying.
	fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData), 1, syscall.EIO))
	if _, err := ds.Put(ctx, []byte("k"), []byte("lost")); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("put = %v, want ErrOutcomeUnknown", err)
	}
	fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSyncDir, faultfs.OpSyncData), 1, syscall.EIO))
	deadline := time.Now().Add(5 * time.Second)
	for {
		cur, err := db.Dataspace("d")
		if err != nil {
			t.Fatal(err)
		}
		if cur != ds && cur.Err() == nil {
			v, err := cur.Get(ctx, []byte("k"))
			if err != nil || (string(v.Data) != "durable" && string(v.Data) != "lost") {
				t.Fatalf("after auto-reopen: %q, %v", v.Data, err)
			}
			if _, err := cur.Put(ctx, []byte("k2"), []byte("v")); err != nil {
				t.Fatalf("put after auto-reopen: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dataspace did not reopen by itself: %v", cur.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A failed fdatasync while recovering from a checkpoint fail-stops the
// dataspace; it is not retried by replaying the whole log, which would
// then read what the failed sync left behind (I5).
func TestRecoverySyncFailureWithCheckpointFailStops(t *testing.T) {
	ctx := context.Background()
	fsys := faultfs.New(faultfs.Options{Seed: 4})
	db, err := Open("/data", Options{FS: fsys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.CreateDataspace("d", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	// The Reopen's shutdown writes a checkpoint; its recovery then syncs
	// the log segment before reading it, and that sync fails.
	glob, err := faultfs.PathGlob("/data/dataspaces/d/wal/*.seg")
	if err != nil {
		t.Fatal(err)
	}
	var syncs atomic.Int64
	fsys.SetInjector(faultfs.InjectorFunc(func(op faultfs.Op) error {
		if glob(op) && (op.Kind == faultfs.OpSync || op.Kind == faultfs.OpSyncData) && syncs.Add(1) == 2 {
			return syscall.EIO
		}
		return nil
	}))
	ds, err = db.Reopen("d")
	fsys.SetInjector(nil)
	if err == nil && ds.Err() == nil {
		t.Fatalf("recovery went on after a failed fdatasync of the log (%d syncs seen)", syncs.Load())
	}
	if !errors.Is(ds.Err(), ErrFailStop) {
		t.Fatalf("after a failed sync in recovery: Err() = %v, want ErrFailStop", ds.Err())
	}
}

// Under ext4 data=journal a failed fdatasync reports success and the next
// one fails (faultfs's ext4-journal profile). One sync per group then
// acknowledges a write the device never got; with ConfirmSyncs the second
// sync reports the failure first, and the writer learns the outcome is
// unknown instead.
func TestConfirmSyncsCatchesLateSyncErrors(t *testing.T) {
	ctx := context.Background()
	for _, confirm := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{Profile: faultfs.ProfileExt4Journal, Seed: 5})
		db, err := Open("/data", Options{FS: fsys, Logger: slog.New(slog.DiscardHandler), ConfirmSyncs: confirm})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := db.CreateDataspace("d", DataspaceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		glob, err := faultfs.PathGlob("/data/dataspaces/d/wal/*.seg")
		if err != nil {
			t.Fatal(err)
		}
		fsys.SetInjector(faultfs.OnIndex(faultfs.All(faultfs.Kinds(faultfs.OpSyncData), glob), 1, syscall.EIO))
		_, perr := ds.Put(ctx, []byte("k"), []byte("v"))
		fsys.SetInjector(nil)
		if confirm {
			if !errors.Is(perr, ErrOutcomeUnknown) {
				t.Fatalf("ConfirmSyncs: Put after a sync that failed late = %v, want ErrOutcomeUnknown", perr)
			}
			db.Close()
			continue
		}
		if perr != nil {
			t.Fatalf("without ConfirmSyncs the late failure is not seen, so Put succeeds; got %v (the profile no longer lies?)", perr)
		}
		// The file system lied: after a crash the acknowledged write is
		// gone. This is what ConfirmSyncs prevents.
		if err := fsys.PowerCut(faultfs.CrashOptions{}, func() { db.Close() }); err != nil {
			t.Fatal(err)
		}
		db, err = Open("/data", Options{FS: fsys, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ds, err = db.Dataspace("d")
		if err == nil && ds.Err() == nil {
			if _, gerr := ds.Get(ctx, []byte("k")); gerr == nil {
				t.Fatal("the write survived: the ext4-journal profile did not drop the failed sync's data, so this test shows nothing")
			}
		}
		db.Close()
	}
}
