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
