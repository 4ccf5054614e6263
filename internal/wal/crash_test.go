package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

var crashVariants = []faultfs.CrashOptions{
	{}, // lose everything unsynced
	{KeepUnsyncedPercent: 50, UnitBytes: faultfs.SectorSizeBytes},
	{KeepUnsyncedPercent: 80, UnitBytes: faultfs.SectorSizeBytes, TearOne: true, DirOps: faultfs.RandomDirOps},
	{KeepUnsyncedPercent: 30, UnitBytes: faultfs.PageSizeBytes, TearOne: true},
	{KeepUnsyncedPercent: 100, UnitBytes: faultfs.SectorSizeBytes, TearOne: true},
}

// TestCrashRecoversPrefix appends groups, some synced, crashes with
// unsynced data partly persisted and torn, and checks that recovery yields
// exactly a prefix of the groups that includes every acknowledged one,
// that a torn tail is cut into a .broken file, and that a second recovery
// finds nothing more to cut.
func TestCrashRecoversPrefix(t *testing.T) {
	for _, profile := range faultfs.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			torn, lostUnsynced := 0, 0
			for seed := uint64(1); seed <= 12; seed++ {
				for vi, variant := range crashVariants {
					fsys := faultfs.New(faultfs.Options{Profile: profile, Seed: seed*100 + uint64(vi)})
					opts := quietOpts(64 << 10)
					w := mustRecover(t, fsys, testDir, opts, Position{}).w
					rng := rand.New(rand.NewPCG(seed, uint64(vi)))
					var groups [][]Record
					acked, seq := 0, uint64(1)
					n := 10 + rng.IntN(30)
					for g := 0; g < n; g++ {
						recs := makeGroup(rng, seq, 1+rng.IntN(4), 3000)
						sync := g < n-3 && rng.IntN(3) == 0
						if _, err := w.AppendGroup(recs, sync); err != nil {
							t.Fatal(err)
						}
						groups = append(groups, recs)
						seq += uint64(len(recs))
						if sync {
							acked = len(groups)
						} else if g < n-3 && rng.IntN(8) == 0 {
							if err := w.Sync(); err != nil {
								t.Fatal(err)
							}
							acked = len(groups)
						}
					}
					if err := fsys.Crash(variant); err != nil {
						t.Fatal(err)
					}
					r, err := recoverLog(fsys, testDir, opts, Position{})
					if err != nil {
						t.Fatalf("seed %d variant %d: %v", seed, vi, err)
					}
					k := checkPrefix(t, r.recs, groups, acked)
					if k < len(groups) {
						lostUnsynced++
					}
					if r.info.TornBytes > 0 {
						torn++
						if exists, _ := vfs.Exists(fsys, r.info.BrokenFile); !exists {
							t.Fatalf("torn tail cut, but %q does not exist", r.info.BrokenFile)
						}
					}
					// Continue the log, crash without losing anything, and
					// check that the cut left nothing behind.
					more := makeGroup(rng, r.w.Position().NextSeq, 2, 1000)
					if _, err := r.w.AppendGroup(more, true); err != nil {
						t.Fatal(err)
					}
					r.w.Close()
					if err := fsys.Crash(faultfs.CrashOptions{}); err != nil {
						t.Fatal(err)
					}
					r2 := mustRecover(t, fsys, testDir, opts, Position{})
					if r2.info.TornBytes != 0 {
						t.Fatalf("second recovery cut %d bytes again", r2.info.TornBytes)
					}
					checkPrefix(t, r2.recs, append(groups[:k:k], more), k+1)
					r2.w.Close()
				}
			}
			// The test must exercise what it claims to.
			if torn == 0 || lostUnsynced == 0 {
				t.Fatalf("no torn tail (%d) or no lost unsynced group (%d) in any run", torn, lostUnsynced)
			}
			t.Logf("%d runs cut a torn tail, %d lost unsynced groups", torn, lostUnsynced)
		})
	}
}

// TestCrashOnOS runs the same check on the operating system, where a
// "crash" is a process that stops without syncing: everything written is
// kept, and recovery must return it all.
func TestCrashOnOS(t *testing.T) {
	fsys, dir := vfs.Default(), t.TempDir()+"/wal"
	opts := quietOpts(64 << 10)
	w := mustRecover(t, fsys, dir, opts, Position{}).w
	rng := rand.New(rand.NewPCG(4, 4))
	var groups [][]Record
	seq := uint64(1)
	for g := 0; g < 60; g++ {
		recs := makeGroup(rng, seq, 1+rng.IntN(4), 3000)
		if _, err := w.AppendGroup(recs, false); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, recs)
		seq += uint64(len(recs))
	}
	// No Sync, no Close: recovery opens new descriptors while these are
	// still open, as a restarted process would after a kill -9.
	r := mustRecover(t, fsys, dir, opts, Position{})
	defer r.w.Close()
	defer w.Close()
	checkPrefix(t, r.recs, groups, len(groups))
}

// TestCrashPoints crashes the file system at every operation of a short
// workload (before and after the operation), restarts, and checks the
// durability contract: recovery succeeds with a prefix that includes every
// group acknowledged before the crash.
func TestCrashPoints(t *testing.T) {
	type result struct{ acked, attempted [][]Record }
	workload := func(fsys vfs.FS) (result, error) {
		var res result
		opts := quietOpts(16 << 10)
		w, _, err := Recover(fsys, testDir, opts, Position{}, func(Record, RecordPos) error { return nil })
		if err != nil {
			return res, err
		}
		defer w.Close()
		rng := rand.New(rand.NewPCG(1, 1))
		seq := uint64(1)
		for g := 0; g < 12; g++ {
			recs := makeGroup(rng, seq, 1+rng.IntN(3), 2500)
			sync := g%3 != 1
			res.attempted = append(res.attempted, recs)
			if _, err := w.AppendGroup(recs, sync); err != nil {
				return res, err
			}
			seq += uint64(len(recs))
			if sync {
				res.acked = res.attempted
			}
			if g == 7 {
				if err := w.Sync(); err != nil {
					return res, err
				}
				res.acked = res.attempted
			}
		}
		return res, nil
	}

	// Count the operations of a clean run. Device page writes and reads
	// are not crash points (faultfs treats an injected error there as a
	// bad block); the sync or read that issues them is.
	notDevice := faultfs.Not(faultfs.Kinds(faultfs.OpDeviceWrite, faultfs.OpDeviceRead))
	ops := 0
	counter := faultfs.New(faultfs.Options{Injector: faultfs.InjectorFunc(func(op faultfs.Op) error {
		if notDevice(op) {
			ops++
		}
		return nil
	})})
	if _, err := workload(counter); err != nil {
		t.Fatal(err)
	}
	if ops < 50 {
		t.Fatalf("workload ran only %d operations", ops)
	}
	states := 0
	for _, profile := range faultfs.Profiles {
		for k := 1; k <= ops; k++ {
			for _, when := range []error{faultfs.ErrCrashBefore, faultfs.ErrCrashAfter} {
				name := fmt.Sprintf("%s/op%d/%v", profile, k, when)
				fsys := faultfs.New(faultfs.Options{
					Profile:      profile,
					Seed:         uint64(k),
					Injector:     faultfs.OnIndex(notDevice, k, when),
					CrashOptions: crashVariants[k%len(crashVariants)],
				})
				res, err := workload(fsys)
				if err == nil {
					t.Fatalf("%s: the workload did not see the crash", name)
				}
				if !fsys.Down() {
					t.Fatalf("%s: workload failed without a crash: %v", name, err)
				}
				fsys.Restart()
				r, err := recoverLog(fsys, testDir, quietOpts(16<<10), Position{})
				if err != nil {
					t.Fatalf("%s: recovery: %v", name, err)
				}
				checkPrefix(t, r.recs, res.attempted, len(res.acked))
				r.w.Close()
				// Recovery made its result durable: a crash now loses nothing.
				if err := fsys.Crash(faultfs.CrashOptions{}); err != nil {
					t.Fatal(err)
				}
				r2 := mustRecover(t, fsys, testDir, quietOpts(16<<10), Position{})
				if len(r2.recs) != len(r.recs) || r2.info.TornBytes != 0 {
					t.Fatalf("%s: recovered %d records, then %d after a crash (torn %d)", name, len(r.recs), len(r2.recs), r2.info.TornBytes)
				}
				r2.w.Close()
				states++
			}
		}
	}
	t.Logf("%d crash states over %d operations", states, ops)
}

// TestSyncFailureFailStop fails one fdatasync of a segment and checks that
// the Writer refuses everything after it, and what recovery then returns
// on each file system: never a group whose append failed, except where the
// file system keeps failed data for a later sync (strict).
func TestSyncFailureFailStop(t *testing.T) {
	for _, profile := range faultfs.Profiles {
		for _, buffered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/buffered=%v", profile, buffered), func(t *testing.T) {
				fsys := faultfs.New(faultfs.Options{Profile: profile, Seed: 21})
				opts := quietOpts(64 << 10)
				opts.BufferedIO = buffered
				w := mustRecover(t, fsys, testDir, opts, Position{}).w
				segs, err := faultfs.PathGlob(testDir + "/*.seg")
				if err != nil {
					t.Fatal(err)
				}
				// The second fdatasync of a segment fails.
				fsys.SetInjector(faultfs.OnIndex(faultfs.All(faultfs.Kinds(faultfs.OpSyncData), segs), 2, syscall.EIO))
				rng := rand.New(rand.NewPCG(21, 0))
				var groups [][]Record
				acked, failedAt := 0, -1
				seq := uint64(1)
				for g := 0; g < 6; g++ {
					recs := makeGroup(rng, seq, 2, 2000)
					_, err := w.AppendGroup(recs, true)
					if err != nil {
						if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
							t.Fatalf("group %d: %v does not wrap ErrFailed and EIO", g, err)
						}
						groups = append(groups, recs)
						failedAt = g
						break
					}
					groups = append(groups, recs)
					acked = len(groups)
					seq += 2
				}
				switch {
				case failedAt < 0:
					t.Fatal("no append failed")
				case profile == faultfs.ProfileExt4Journal && failedAt != 2:
					t.Fatalf("ext4-journal reports a failed sync late: want the append after the failure to fail, got %d", failedAt)
				case profile != faultfs.ProfileExt4Journal && failedAt != 1:
					t.Fatalf("the failed sync was not reported: append %d failed", failedAt)
				}
				// Fail-stop: every later call refuses, and no sync is retried.
				syncsBefore := fsys.Stats().Syncs
				if _, err := w.AppendGroup(makeGroup(rng, seq+2, 1, 10), true); !errors.Is(err, ErrFailed) {
					t.Fatalf("append after failure: %v", err)
				}
				if _, err := w.AppendGroup(makeGroup(rng, seq, 1, 10), false); !errors.Is(err, ErrFailed) {
					t.Fatalf("append after failure: %v", err)
				}
				if err := w.Sync(); !errors.Is(err, ErrFailed) {
					t.Fatalf("Sync after failure: %v", err)
				}
				if err := w.RemoveSegmentsBefore(1); !errors.Is(err, ErrFailed) {
					t.Fatalf("RemoveSegmentsBefore after failure: %v", err)
				}
				if fsys.Stats().Syncs != syncsBefore {
					t.Fatal("a sync ran after the failure")
				}
				w.Close()
				fsys.SetInjector(nil)

				// Restart without a crash: the page cache still holds what
				// the failed sync left there.
				r := mustRecover(t, fsys, testDir, opts, Position{})
				k := checkPrefix(t, r.recs, groups, 0)
				r.w.Close()
				switch profile {
				case faultfs.ProfileStrict:
					// Failed data stays dirty and recovery's own sync writes
					// it: the failed group may come back (its outcome was
					// reported as unknown), nothing acknowledged is lost.
					if k < acked {
						t.Fatalf("recovered %d groups, %d acknowledged", k, acked)
					}
				case faultfs.ProfileExt4Journal:
					// The sync that "succeeded" lied: that group is gone, a
					// loss no application can prevent (ATC'20 takeaway #3).
					if k != acked-1 {
						t.Fatalf("recovered %d groups, want %d", k, acked-1)
					}
				default:
					if k != acked {
						t.Fatalf("recovered %d groups, want exactly the %d acknowledged", k, acked)
					}
				}
				if err := fsys.Crash(faultfs.CrashOptions{}); err != nil {
					t.Fatal(err)
				}
				r2 := mustRecover(t, fsys, testDir, opts, Position{})
				if len(r2.recs) != len(r.recs) {
					t.Fatalf("recovery returned %d records, but only %d survived a crash after it", len(r.recs), len(r2.recs))
				}
				r2.w.Close()
			})
		}
	}
}

// TestFailedSyncNotReadFromPageCache is the ATC'20 case: on ext4 (ordered)
// and XFS a failed fsync marks the pages clean but keeps the new content in
// the page cache, where a buffered read finds it although the device does
// not hold it. Recovery on the same, running file system must not return
// that group. The control run reads through the page cache and must see it:
// if recovery's reads were buffered, this test would fail.
func TestFailedSyncNotReadFromPageCache(t *testing.T) {
	for _, profile := range []faultfs.Profile{faultfs.ProfileExt4Ordered, faultfs.ProfileXFS} {
		t.Run(string(profile), func(t *testing.T) {
			run := func(bufferedReads bool) int {
				fsys := faultfs.New(faultfs.Options{Profile: profile, Seed: 5})
				opts := quietOpts(64 << 10)
				opts.BufferedIO = true // writes through the page cache
				w := mustRecover(t, fsys, testDir, opts, Position{}).w
				if _, err := w.AppendGroup([]Record{{Seq: 1, Payload: []byte("durable")}}, true); err != nil {
					t.Fatal(err)
				}
				fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSyncData), 1, syscall.EIO))
				if _, err := w.AppendGroup([]Record{{Seq: 2, Payload: []byte("lost")}}, true); !errors.Is(err, ErrFailed) {
					t.Fatalf("failed sync reported as %v", err)
				}
				w.Close()
				fsys.SetInjector(nil)
				opts.forceBufferedReads = bufferedReads
				r := mustRecover(t, fsys, testDir, opts, Position{})
				defer r.w.Close()
				return len(r.recs)
			}
			if n := run(false); n != 1 {
				t.Fatalf("recovery returned %d records; the group whose sync failed is not on the device", n)
			}
			if n := run(true); n != 2 {
				t.Fatalf("control: buffered reads returned %d records, want 2 (the stale page cache); the test cannot tell the difference", n)
			}
		})
	}
}

// TestCrashDuringTornTailCut crashes recovery itself at every operation
// while it cuts a torn tail (copy to .broken, zero, sync): the next
// recovery must still succeed with the same records.
func TestCrashDuringTornTailCut(t *testing.T) {
	notDevice := faultfs.Not(faultfs.Kinds(faultfs.OpDeviceWrite, faultfs.OpDeviceRead))
	tearing := faultfs.CrashOptions{KeepUnsyncedPercent: 50, UnitBytes: faultfs.SectorSizeBytes, TearOne: true}
	opts := quietOpts(64 << 10)
	var crashed *faultfs.FS
	var want recovered
	var acked int
	var groups [][]Record
	for seed := uint64(1); crashed == nil; seed++ {
		if seed > 50 {
			t.Fatal("no seed gave a torn tail")
		}
		base := faultfs.New(faultfs.Options{Seed: seed, CrashOptions: tearing})
		w := mustRecover(t, base, testDir, opts, Position{}).w
		rng := rand.New(rand.NewPCG(seed, 0))
		groups, acked = nil, 0
		seq := uint64(1)
		for g := 0; g < 8; g++ {
			recs := makeGroup(rng, seq, 3, 3000)
			if _, err := w.AppendGroup(recs, g < 4); err != nil {
				t.Fatal(err)
			}
			groups = append(groups, recs)
			seq += 3
			if g < 4 {
				acked = len(groups)
			}
		}
		c, err := base.CrashClone(tearing)
		if err != nil {
			t.Fatal(err)
		}
		probe, _ := c.CrashClone(faultfs.CrashOptions{})
		r := mustRecover(t, probe, testDir, opts, Position{})
		r.w.Close()
		if r.info.TornBytes > 0 {
			crashed, want = c, r
		}
	}
	ops := 0
	counting, _ := crashed.CrashClone(faultfs.CrashOptions{})
	counting.SetInjector(faultfs.InjectorFunc(func(op faultfs.Op) error {
		if notDevice(op) {
			ops++
		}
		return nil
	}))
	r := mustRecover(t, counting, testDir, opts, Position{})
	r.w.Close()
	for k := 1; k <= ops; k++ {
		for _, when := range []error{faultfs.ErrCrashBefore, faultfs.ErrCrashAfter} {
			fsys, _ := crashed.CrashClone(faultfs.CrashOptions{})
			fsys.SetInjector(faultfs.OnIndex(notDevice, k, when))
			if _, err := recoverLog(fsys, testDir, opts, Position{}); err == nil || !fsys.Down() {
				t.Fatalf("op %d %v: recovery did not see the crash: %v", k, when, err)
			}
			fsys.Restart()
			fsys.SetInjector(nil)
			r, err := recoverLog(fsys, testDir, opts, Position{})
			if err != nil {
				t.Fatalf("op %d %v: %v", k, when, err)
			}
			checkPrefix(t, r.recs, groups, acked)
			if len(r.recs) != len(want.recs) {
				t.Fatalf("op %d %v: %d records, want %d", k, when, len(r.recs), len(want.recs))
			}
			r.w.Close()
		}
	}
	t.Logf("%d crash points in a recovery that cut %d bytes", ops, want.info.TornBytes)
}
