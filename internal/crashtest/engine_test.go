package crashtest

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Engine behaviours the explorer found, each reduced to one scenario. They
// fail until the engine is fixed; TestExplore fails with them.

func openTestDB(t *testing.T, fsys *faultfs.FS) *holdfast.DB {
	t.Helper()
	db, err := holdfast.Open(dbDir, holdfast.Options{FS: fsys, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func failNth(t *testing.T, glob string, n int, kinds ...faultfs.OpKind) faultfs.Injector {
	t.Helper()
	m, err := faultfs.PathGlob(glob)
	if err != nil {
		t.Fatal(err)
	}
	return faultfs.OnIndex(faultfs.All(faultfs.Kinds(kinds...), m), n, syscall.EIO)
}

// restart simulates a power cut and a new process.
func restart(t *testing.T, fsys *faultfs.FS, db *holdfast.DB) *holdfast.DB {
	t.Helper()
	fsys.SetInjector(nil)
	if err := fsys.PowerCut(faultfs.CrashOptions{}, func() { db.Close() }); err != nil {
		t.Fatal(err)
	}
	return openTestDB(t, fsys)
}

// I3: CreateDataspace renames the new dataspace into place and syncs
// dataspaces/, then opens it; when that first open fails (here the sync of
// the dataspace directory in recover), it returns a plain error although
// the dataspace is durably created, and it is there after a restart.
func TestEngineCreateErrorAfterDurableRename(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 1})
	db := openTestDB(t, fsys)
	fsys.SetInjector(failNth(t, dbDir+"/dataspaces/d", 1, faultfs.OpSyncDir))
	_, err := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	if err == nil {
		t.Skip("the injected sync did not fail the create")
	}
	db = restart(t, fsys, db)
	defer db.Close()
	// A create that failed definitely must leave nothing behind; one that
	// was durable but could not open says so (ErrFailStop), and one that
	// does not know says ErrOutcomeUnknown.
	if _, derr := db.Dataspace("d"); derr == nil && !errors.Is(err, holdfast.ErrOutcomeUnknown) && !errors.Is(err, holdfast.ErrFailStop) {
		t.Fatalf("CreateDataspace returned %v (neither ErrOutcomeUnknown nor ErrFailStop), yet the dataspace exists after a restart", err)
	}
}

// I5: a dataspace stopped by an I/O error during recovery (Reopen) reports
// the bare I/O error to later operations instead of ErrFailStop.
func TestEngineRecoveryIOErrorIsNotFailStop(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 1})
	db := openTestDB(t, fsys)
	defer db.Close()
	if _, err := db.CreateDataspace("d", holdfast.DataspaceOptions{}); err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(failNth(t, dbDir+"/dataspaces/d", 1, faultfs.OpSyncDir))
	ds, err := db.Reopen("d")
	if err == nil {
		t.Skip("the injected sync did not fail the reopen")
	}
	fsys.SetInjector(nil)
	_, perr := ds.Put(context.Background(), []byte("k"), []byte("v"))
	if !errors.Is(perr, holdfast.ErrFailStop) || !errors.Is(ds.Err(), holdfast.ErrFailStop) {
		t.Fatalf("after an I/O error in recovery: Put = %v, Err() = %v; want both to wrap ErrFailStop", perr, ds.Err())
	}
}

// I5/I7: Reopen of a serving sync=interval dataspace syncs the log in
// shutdown and ignores that sync's error, then recovers from the device:
// writes acknowledged moments ago disappear with no crash and no error.
func TestEngineReopenSwallowsFinalSyncError(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 1})
	db := openTestDB(t, fsys)
	defer db.Close()
	ds, err := db.CreateDataspace("d", holdfast.DataspaceOptions{Sync: holdfast.SyncPolicy{Interval: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Put(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(failNth(t, "*.seg", 1, faultfs.OpSync, faultfs.OpSyncData))
	ds, err = db.Reopen("d")
	fsys.SetInjector(nil)
	if err != nil {
		return // the failure was reported: fine
	}
	if _, gerr := ds.Get(context.Background(), []byte("k")); gerr != nil {
		t.Fatalf("Reopen returned no error, but the acknowledged write is gone: Get = %v", gerr)
	}
}
