package faultfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

type snapshotManifest struct {
	QuiesceID string `json:"quiesce_id"`
	LastSeq   uint64 `json:"last_seq"`
}

// Seed 000: a dataspace writes snapshot.json without fsync, a volume
// snapshot (a crash, as far as the file system is concerned) follows, and
// the restored file is empty — or missing, if its directory entry did not
// reach the disk either.
func TestSeed000UnsyncedManifestIsEmptyOrMissing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dirs      faultfs.DirMode
		syncDir   bool // the journal commits the directory entry (another file's fsync, a timer)
		wantError error
	}{
		{"strict dirs, entry committed", faultfs.DirStrict, true, vfs.ErrMetaEmpty},
		{"strict dirs, entry not committed", faultfs.DirStrict, false, fs.ErrNotExist},
		{"lazy dirs (LazyFS)", faultfs.DirLazy, false, vfs.ErrMetaEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := faultfs.New(faultfs.Options{Dirs: tc.dirs})
			must(t, fsys.MkdirAll("/data/ds1", 0o755))
			must(t, fsys.SyncFS("/"))
			body, err := vfs.EncodeMeta("snapshot", snapshotManifest{QuiesceID: "q1", LastSeq: 42})
			must(t, err)
			must(t, vfs.WriteFileUnsafe(fsys, "/data/ds1/snapshot.json", body, 0o644))
			// Read back before the snapshot: it looks fine, as in the story.
			var m snapshotManifest
			must(t, vfs.ReadMetaFile(fsys, "/data/ds1/snapshot.json", "snapshot", &m))
			if tc.syncDir {
				must(t, vfs.SyncDir(fsys, "/data/ds1"))
			}
			must(t, fsys.Crash(faultfs.CrashOptions{}))
			err = vfs.ReadMetaFile(fsys, "/data/ds1/snapshot.json", "snapshot", &m)
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("after crash: %v, want %v", err, tc.wantError)
			}
		})
	}
}

// Seed 000, fixed: WriteFileAtomic leaves the new or the previous version,
// never an empty or torn one, whatever the crash point and whatever the
// crash keeps. Every operation of the write is a crash point, both before
// and after it runs, under several crash shapes and every profile.
func TestSeed000AtomicManifestAtEveryCrashPoint(t *testing.T) {
	v1 := snapshotManifest{QuiesceID: "q1", LastSeq: 1}
	v2 := snapshotManifest{QuiesceID: "q2", LastSeq: 2}
	// Long enough to span pages, so torn writes can tear it.
	v2.QuiesceID += string(bytes.Repeat([]byte("x"), 3*faultfs.PageSizeBytes))
	crashShapes := []faultfs.CrashOptions{
		{},
		{KeepUnsyncedPercent: 50, UnitBytes: faultfs.SectorSizeBytes},
		{KeepUnsyncedPercent: 50, UnitBytes: faultfs.PageSizeBytes, TearOne: true},
		{KeepUnsyncedPercent: 100, DirOps: faultfs.KeepDirOps},
		{KeepUnsyncedPercent: 30, UnitBytes: faultfs.SectorSizeBytes, TearOne: true, DirOps: faultfs.RandomDirOps},
	}
	notDevice := faultfs.Not(faultfs.Kinds(faultfs.OpDeviceRead, faultfs.OpDeviceWrite))

	prepare := func(p faultfs.Profile, shape faultfs.CrashOptions, seed uint64) *faultfs.FS {
		fsys := faultfs.New(faultfs.Options{Profile: p, Seed: seed, CrashOptions: shape})
		must(t, fsys.MkdirAll("/data/ds1", 0o755))
		must(t, fsys.SyncFS("/"))
		must(t, vfs.WriteMetaFile(fsys, "/data/ds1/snapshot.json", "snapshot", v1))
		return fsys
	}
	writeAtomic := func(fsys *faultfs.FS) error {
		return vfs.WriteMetaFile(fsys, "/data/ds1/snapshot.json", "snapshot", v2)
	}
	writeUnsafe := func(fsys *faultfs.FS) error {
		body, err := vfs.EncodeMeta("snapshot", v2)
		if err != nil {
			return err
		}
		return vfs.WriteFileUnsafe(fsys, "/data/ds1/snapshot.json", body, 0o644)
	}
	// explore crashes write at each of its operations, before and after
	// it, under every profile and crash shape, and classifies what a
	// restart reads.
	explore := func(write func(*faultfs.FS) error) (states, sawOld, sawNew, broken int) {
		counter := 0
		probe := prepare(faultfs.ProfileStrict, faultfs.CrashOptions{}, 0)
		probe.SetInjector(faultfs.InjectorFunc(func(op faultfs.Op) error {
			if notDevice(op) {
				counter++
			}
			return nil
		}))
		must(t, write(probe))
		if counter < 2 {
			t.Fatalf("the write took %d operations; expected at least an open and a write", counter)
		}
		for _, p := range faultfs.Profiles {
			for si, shape := range crashShapes {
				for k := 1; k <= counter; k++ {
					for _, timing := range []error{faultfs.ErrCrashBefore, faultfs.ErrCrashAfter} {
						fsys := prepare(p, shape, uint64(k*100+si))
						fsys.SetInjector(faultfs.OnIndex(notDevice, k, timing))
						werr := write(fsys)
						if !fsys.Down() {
							t.Fatalf("%s shape %d op %d %v: no crash happened (write returned %v)", p, si, k, timing, werr)
						}
						fsys.Restart()
						fsys.SetInjector(nil)
						states++
						var got snapshotManifest
						if err := vfs.ReadMetaFile(fsys, "/data/ds1/snapshot.json", "snapshot", &got); err != nil {
							broken++
							continue
						}
						switch got {
						case v1:
							sawOld++
						case v2:
							sawNew++
						default:
							broken++
						}
					}
				}
			}
		}
		return states, sawOld, sawNew, broken
	}

	states, sawOld, sawNew, broken := explore(writeAtomic)
	t.Logf("WriteFileAtomic: %d crash states: %d old version, %d new version, %d broken", states, sawOld, sawNew, broken)
	if broken != 0 {
		t.Errorf("WriteFileAtomic left %d of %d crash states with an unreadable or mixed manifest", broken, states)
	}
	if sawOld == 0 || sawNew == 0 {
		t.Errorf("the crash points do not span the write: old=%d new=%d", sawOld, sawNew)
	}
	// The control: the same exploration of an in-place unsynced rewrite
	// must find broken states, or it could not have found them above.
	states, sawOld, sawNew, broken = explore(writeUnsafe)
	t.Logf("WriteFileUnsafe: %d crash states: %d old version, %d new version, %d broken", states, sawOld, sawNew, broken)
	if broken == 0 {
		t.Errorf("the exploration found no broken manifest for an unsynced in-place write; it cannot see seed 000's bug")
	}
}

// Seed 001: a reader sees a write that reached only the page cache; a
// crash takes it away. After a failed fsync, "fsync the log on startup"
// does not bring it back on ext4 or XFS: the failed pages are clean, the
// new descriptor has no error to report, and the data is gone after the
// crash — while a read just before said it was there.
func TestSeed001CachedReadIsNotDurable(t *testing.T) {
	record := []byte("SET k v2\n")
	for _, tc := range []struct {
		profile     faultfs.Profile
		failedSync  bool
		startupSync bool
		survives    bool
	}{
		// The story: served from the cache, gone after the crash.
		{faultfs.ProfileExt4Ordered, false, false, false},
		// Its fix works on Linux when no sync failed: fsync on a new
		// descriptor writes every dirty page of the file.
		{faultfs.ProfileExt4Ordered, false, true, true},
		// After a failed sync it does not: the pages are clean.
		{faultfs.ProfileExt4Ordered, true, true, false},
		{faultfs.ProfileXFS, true, true, false},
		{faultfs.ProfileExt4Journal, true, true, false},
		{faultfs.ProfileBtrfs, true, true, false},
		// Only where failed pages stay dirty does the startup fsync help.
		{faultfs.ProfileStrict, true, true, true},
	} {
		t.Run(fmt.Sprintf("%s/failed=%v/startup-sync=%v", tc.profile, tc.failedSync, tc.startupSync), func(t *testing.T) {
			fsys := faultfs.New(faultfs.Options{Profile: tc.profile})
			must(t, fsys.MkdirAll("/db", 0o755))
			must(t, vfs.SyncDir(fsys, "/"))
			log, err := vfs.Create(fsys, "/db/log")
			must(t, err)
			_, err = log.Write([]byte("SET k v1\n"))
			must(t, err)
			must(t, log.Sync())
			must(t, vfs.SyncDir(fsys, "/db"))
			_, err = log.Write(record)
			must(t, err)
			if tc.failedSync {
				fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync), 1, syscall.EIO))
				log.Sync() // the error, or ext4 data=journal's false success, is beside the point here
				fsys.SetInjector(nil)
			}
			must(t, log.Close())
			// The database "restarts" without a crash, reads the log
			// from the cache and serves v2 to a reader...
			data, err := vfs.ReadFile(fsys, "/db/log")
			must(t, err)
			if !bytes.Contains(data, record) && tc.profile != faultfs.ProfileBtrfs {
				t.Fatalf("the reader should see the cached record before the crash; read %q", data)
			}
			// ...after "fsync the log on startup".
			f, err := fsys.OpenFile("/db/log", vfs.ORdWr, 0)
			must(t, err)
			var startupSync error
			if tc.startupSync {
				startupSync = f.Sync()
			}
			must(t, f.Close())
			if tc.profile == faultfs.ProfileExt4Journal && tc.failedSync {
				if !errors.Is(startupSync, syscall.EIO) {
					t.Fatalf("ext4 data=journal should report the late failure on the next sync, got %v", startupSync)
				}
			} else if startupSync != nil {
				t.Fatalf("startup fsync = %v; it reports nothing, which is the trap", startupSync)
			}
			must(t, fsys.Crash(faultfs.CrashOptions{}))
			data, err = vfs.ReadFile(fsys, "/db/log")
			must(t, err)
			if got := bytes.Contains(data, record); got != tc.survives {
				t.Fatalf("after crash the record survives=%v, want %v (log %q)", got, tc.survives, data)
			}
			if !bytes.HasPrefix(data, []byte("SET k v1\n")) {
				t.Fatalf("the synced record was lost: %q", data)
			}
		})
	}
}
