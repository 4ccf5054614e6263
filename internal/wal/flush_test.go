package wal

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// BeginSync covers what was written before it; a group written while it
// runs stays unsynced (in the stats and in the promise the next group
// carries), and a crash keeps everything the finished sync covered.
func TestBeginSyncCoversOnlyEarlierGroups(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{Seed: 5})
		w := mustRecover(t, fsys, testDir, quietOpts(1<<20), Position{}).w
		rng := rand.New(rand.NewPCG(3, 4))
		if _, err := w.AppendGroup(makeGroup(rng, 1, 3, 500), false); err != nil {
			t.Fatal(err)
		}
		fl := w.BeginSync(deferred)
		second := makeGroup(rng, 4, 2, 500)
		if _, err := w.AppendGroup(second, false); err != nil {
			t.Fatal(err)
		}
		if err := fl.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := fl.Wait(); err != nil { // again: same answer, no block
			t.Fatal(err)
		}
		st := w.Stats()
		if st.UnsyncedBytes == 0 || st.OldestUnsynced.IsZero() {
			t.Fatalf("deferred=%v: the group written after BeginSync counts as synced: %+v", deferred, st)
		}
		// A crash that drops everything unsynced keeps the first group.
		clone, err := fsys.CrashClone(faultfs.CrashOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := mustRecover(t, clone, testDir, quietOpts(1<<20), Position{})
		if r.info.LastSeq < 3 {
			t.Fatalf("deferred=%v: after the crash last seq %d, want at least 3 (covered by the finished sync)", deferred, r.info.LastSeq)
		}
		r.w.Close()
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.UnsyncedBytes != 0 || !st.OldestUnsynced.IsZero() {
			t.Fatalf("after Sync: %+v", st)
		}
		w.Close()
	}
}

// A failed BeginSync fails the Writer: Wait reports it, and so does every
// later call; nothing is retried.
func TestBeginSyncFailureFailsWriter(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 6})
	w := mustRecover(t, fsys, testDir, quietOpts(1<<20), Position{}).w
	defer w.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	if _, err := w.AppendGroup(makeGroup(rng, 1, 1, 100), false); err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSyncData), 1, syscall.EIO))
	fl := w.BeginSync(false)
	if err := fl.Wait(); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Wait = %v, want ErrFailed wrapping EIO", err)
	}
	if _, err := w.AppendGroup(makeGroup(rng, 2, 1, 100), false); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a failed sync = %v, want ErrFailed", err)
	}
	if err := w.BeginSync(false).Wait(); !errors.Is(err, ErrFailed) {
		t.Fatalf("a second sync = %v, want ErrFailed (never retried)", err)
	}
}

// Rolling to a new segment waits for a running sync of the old one, so
// the old segment is not closed under it.
func TestRollWaitsForRunningSync(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 7, Latency: map[faultfs.OpKind]time.Duration{faultfs.OpSyncData: 20 * time.Millisecond}})
	w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
	defer w.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	seq := uint64(1)
	var flushes []*Flush
	for range 40 {
		recs := makeGroup(rng, seq, 2, 3000)
		seq += 2
		if _, err := w.AppendGroup(recs, false); err != nil {
			t.Fatal(err)
		}
		flushes = append(flushes, w.BeginSync(false))
	}
	for i, fl := range flushes {
		if err := fl.Wait(); err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
	}
	if len(w.Segments()) < 2 {
		t.Fatalf("the log did not roll (%d segments): the test did not exercise a roll", len(w.Segments()))
	}
}

// A group that needs a new segment while a sync of the old one is pending
// must not get it if that sync fails: the roll would sync the old segment
// again (a retried sync, which the file system may answer with success
// after dropping the data) and start a segment whose first seq follows
// groups that are not durable, which recovery rightly reports as corrupt.
// The crash explorer found this (profile btrfs, sync EIO).
func TestRollAfterFailedPendingSyncFails(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{Seed: 8, OpLogLimit: 1 << 16})
		w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
		rng := rand.New(rand.NewPCG(9, 10))
		if _, err := w.AppendGroup(makeGroup(rng, 1, 1, 100), false); err != nil {
			t.Fatal(err)
		}
		fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSyncData), 1, syscall.EIO))
		fl := w.BeginSync(deferred)
		if !deferred {
			fl.Wait()
		}
		syncsBefore := len(syncDataOps(fsys))
		// Too big for what is left of the 64 KiB segment: it needs a roll.
		_, err := w.AppendGroup(makeGroup(rng, 2, 1, 70<<10), false)
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("deferred=%v: append needing a roll after a failed sync = %v, want ErrFailed", deferred, err)
		}
		if n := len(w.Segments()); n != 1 {
			t.Fatalf("deferred=%v: %d segments after the failed roll, want 1", deferred, n)
		}
		if extra := len(syncDataOps(fsys)) - syncsBefore; extra > 1 || (!deferred && extra > 0) {
			t.Fatalf("deferred=%v: %d more fdatasyncs after the failure (the pending one may run, nothing may retry it)", deferred, extra)
		}
		if err := fl.Wait(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("deferred=%v: the pending sync = %v, want EIO", deferred, err)
		}
		w.Close()
	}
}

// syncDataOps returns the fdatasyncs in fsys's operation log.
func syncDataOps(fsys *faultfs.FS) []faultfs.OpRecord {
	var out []faultfs.OpRecord
	for _, r := range fsys.OpLog() {
		if r.Op.Kind == faultfs.OpSyncData {
			out = append(out, r)
		}
	}
	return out
}
