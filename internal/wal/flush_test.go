package wal

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Groups queued with AppendGroupAsync are written and synced in order,
// across rolls; each Flush gives its records' positions, and a crash
// after they are done keeps them all.
func TestAppendGroupAsyncWritesInOrder(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{Seed: 5})
		w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
		rng := rand.New(rand.NewPCG(3, 4))
		var groups [][]Record
		var flushes []*Flush
		seq := uint64(1)
		for range 40 {
			recs := makeGroup(rng, seq, 1+rng.IntN(3), 3000)
			seq += uint64(len(recs))
			groups = append(groups, recs)
			flushes = append(flushes, w.AppendGroupAsync(recs, deferred))
		}
		for i, fl := range flushes {
			if err := fl.Wait(); err != nil {
				t.Fatalf("deferred=%v: group %d: %v", deferred, i, err)
			}
			if err := fl.Wait(); err != nil { // again: same answer, no block
				t.Fatal(err)
			}
			pos := fl.Positions()
			if len(pos) != len(groups[i]) {
				t.Fatalf("deferred=%v: group %d: %d positions for %d records", deferred, i, len(pos), len(groups[i]))
			}
			for j, p := range pos {
				rec, err := w.ReadRecord(p)
				if err != nil || rec.Seq != groups[i][j].Seq {
					t.Fatalf("deferred=%v: group %d record %d at %+v: seq %d, %v", deferred, i, j, p, rec.Seq, err)
				}
			}
		}
		if len(w.Segments()) < 2 {
			t.Fatalf("deferred=%v: the log did not roll: the test did not exercise a roll", deferred)
		}
		if st := w.Stats(); st.UnsyncedBytes != 0 {
			t.Fatalf("deferred=%v: %d bytes unsynced after every group was waited for", deferred, st.UnsyncedBytes)
		}
		// A crash that drops everything unsynced keeps every group.
		clone, err := fsys.CrashClone(faultfs.CrashOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := mustRecover(t, clone, testDir, quietOpts(64<<10), Position{})
		checkPrefix(t, r.recs, groups, len(groups))
		r.w.Close()
		w.Close()
	}
}

// A failed group fails the Writer: its Wait reports the error, the groups
// queued behind it are not written (their Waits report ErrFailed), later
// calls fail, and no fdatasync is retried — not even by a roll, which
// would sync the old segment again before starting a new one.
func TestAppendGroupAsyncFailureFailsWriter(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{Seed: 6, OpLogLimit: 1 << 16})
		w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
		rng := rand.New(rand.NewPCG(5, 6))
		if _, err := w.AppendGroup(makeGroup(rng, 1, 1, 100), true); err != nil {
			t.Fatal(err)
		}
		fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSyncData), 1, syscall.EIO))
		syncsBefore := len(syncDataOps(fsys))
		first := w.AppendGroupAsync(makeGroup(rng, 2, 1, 100), deferred)
		// Too big for what is left of the 64 KiB segment: it needs a roll.
		second := w.AppendGroupAsync(makeGroup(rng, 3, 1, 70<<10), deferred)
		if err := first.Wait(); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("deferred=%v: Wait = %v, want ErrFailed wrapping EIO", deferred, err)
		}
		if err := second.Wait(); !errors.Is(err, ErrFailed) {
			t.Fatalf("deferred=%v: the group queued behind = %v, want ErrFailed", deferred, err)
		}
		if n := len(w.Segments()); n != 1 {
			t.Fatalf("deferred=%v: %d segments after the failure, want 1 (no roll)", deferred, n)
		}
		if _, err := w.AppendGroup(makeGroup(rng, 3, 1, 100), true); !errors.Is(err, ErrFailed) {
			t.Fatalf("deferred=%v: append after a failed sync = %v, want ErrFailed", deferred, err)
		}
		if err := w.Sync(); !errors.Is(err, ErrFailed) {
			t.Fatalf("deferred=%v: Sync after a failed sync = %v, want ErrFailed", deferred, err)
		}
		if extra := len(syncDataOps(fsys)) - syncsBefore; extra != 1 {
			t.Fatalf("deferred=%v: %d fdatasyncs after the failure began, want exactly the one that failed", deferred, extra)
		}
		w.Close()
	}
}

// Every other call waits for the queued groups: Sync returns only once
// the group queued before it is durable.
func TestCallsWaitForQueuedGroups(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 7, Latency: map[faultfs.OpKind]time.Duration{faultfs.OpSyncData: 20 * time.Millisecond}})
	w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
	defer w.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	fl := w.AppendGroupAsync(makeGroup(rng, 1, 2, 3000), false)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fl.Done():
	default:
		t.Fatal("Sync returned before the queued group was done")
	}
	if err := fl.Wait(); err != nil {
		t.Fatal(err)
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

// Groups that wait while another's sync runs are written together, as one
// group with one write and one fdatasync, up to CoalesceMaxBytes; each
// Flush still gives its own records' positions, and a crash afterwards
// keeps them all.
func TestQueuedGroupsAreWrittenTogether(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 8})
	w := mustRecover(t, fsys, testDir, quietOpts(8<<20), Position{}).w
	defer w.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	first, _ := w.AppendGroup(makeGroup(rng, 1, 1, 100), true)
	if len(first) != 1 {
		t.Fatal("first group not written")
	}
	// Hold the next fdatasync until the other groups are queued.
	entered, release := make(chan struct{}), make(chan struct{})
	var held bool
	fsys.SetInjector(faultfs.InjectorFunc(func(op faultfs.Op) error {
		if op.Kind == faultfs.OpSyncData && !held {
			held = true
			close(entered)
			<-release
		}
		return nil
	}))
	seq := uint64(2)
	var groups [][]Record
	var flushes []*Flush
	queue := func(count, maxBytes int) {
		recs := makeGroup(rng, seq, count, maxBytes)
		seq += uint64(count)
		groups = append(groups, recs)
		flushes = append(flushes, w.AppendGroupAsync(recs, false))
	}
	queue(1, 100)
	<-entered
	before := w.Stats()
	for range 10 {
		queue(1+rng.IntN(3), 200) // together: one group
	}
	// Past CoalesceMaxBytes: the first closes a group, the second
	// another.
	big := func() {
		recs := []Record{{Seq: seq, Payload: payload(seq, CoalesceMaxBytes*3/4)}}
		seq++
		groups = append(groups, recs)
		flushes = append(flushes, w.AppendGroupAsync(recs, false))
	}
	big()
	big()
	close(release)
	for i, fl := range flushes {
		if err := fl.Wait(); err != nil {
			t.Fatalf("group %d: %v", i, err)
		}
		pos := fl.Positions()
		if len(pos) != len(groups[i]) {
			t.Fatalf("group %d: %d positions for %d records", i, len(pos), len(groups[i]))
		}
		for j, p := range pos {
			rec, err := w.ReadRecord(p)
			if err != nil || rec.Seq != groups[i][j].Seq || string(rec.Payload) != string(groups[i][j].Payload) {
				t.Fatalf("group %d record %d at %+v: seq %d, %v", i, j, p, rec.Seq, err)
			}
		}
	}
	// The held group, the ten small ones with the first big one, the
	// second big one.
	if got := w.Stats().Groups - before.Groups; got != 2 {
		t.Fatalf("%d groups written after the held one, want 2 (ten small and a big one together, then the other big one)", got)
	}
	clone, err := fsys.CrashClone(faultfs.CrashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := mustRecover(t, clone, testDir, quietOpts(8<<20), Position{})
	defer r.w.Close()
	if len(r.recs) != int(seq-1) {
		t.Fatalf("recovered %d records after a crash, want %d", len(r.recs), seq-1)
	}
}

// RunPaced waits between deletions, twice as long as each took, and stops
// waiting once hurry is closed; either way every detached file is gone and
// the log reads on.
func TestRunPacedSpacesDeletions(t *testing.T) {
	const removeLatency = 5 * time.Millisecond
	for _, hurried := range []bool{false, true} {
		fsys := faultfs.New(faultfs.Options{Seed: 11, Latency: map[faultfs.OpKind]time.Duration{faultfs.OpRemove: removeLatency}})
		w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
		appendUntilSegments(t, w, rand.New(rand.NewPCG(11, 12)), 1, 5, 2, 8000)
		segs := w.Segments()
		r, err := w.DetachSegmentsBefore(segs[len(segs)-1])
		if err != nil {
			t.Fatal(err)
		}
		hurry := make(chan struct{})
		if hurried {
			close(hurry)
		}
		start := time.Now()
		if err := r.RunPaced(hurry); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		switch {
		case hurried && r.paused != 0:
			t.Errorf("hurried: paused %v between deletions", r.paused)
		case !hurried && took < time.Duration(r.Len())*removeLatency+time.Duration(r.Len()-1)*2*removeLatency:
			t.Errorf("paced: %d deletions of %v each took %v: no pause of twice that between them", r.Len(), removeLatency, took)
		}
		for _, s := range segs[:len(segs)-1] {
			if _, err := fsys.Stat(w.segPath(s)); err == nil {
				t.Errorf("hurried=%v: %s still exists", hurried, w.segPath(s))
			}
		}
		w.Close()
	}
}
