package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// backgroundOpts are quietOpts with the spare made on its own goroutine,
// as the engine runs.
func backgroundOpts(segmentSizeBytes int64) Options {
	o := quietOpts(segmentSizeBytes)
	o.InlineSpare = false
	return o
}

// appendUntil appends synced groups of about 2 KiB until stop says so and
// returns them.
func appendUntil(t *testing.T, w *Writer, seq uint64, rng *rand.Rand, stop func() bool) [][]Record {
	t.Helper()
	var groups [][]Record
	for !stop() {
		recs := makeGroup(rng, seq, 1, 2000)
		if _, err := w.AppendGroup(recs, true); err != nil {
			t.Fatalf("AppendGroup: %v", err)
		}
		groups = append(groups, recs)
		seq += uint64(len(recs))
	}
	return groups
}

func lastSeq(groups [][]Record) uint64 {
	g := groups[len(groups)-1]
	return g[len(g)-1].Seq
}

// TestSpareSegmentIsMadeAheadAndUsed: once the current segment is half
// full the next one is made as a zero-filled .seg.tmp of the full segment
// size, and the roll turns it into the next segment, which holds the
// groups written after it.
func TestSpareSegmentIsMadeAheadAndUsed(t *testing.T) {
	const segBytes = 64 << 10
	fsys := faultfs.New(faultfs.Options{})
	w := mustRecover(t, fsys, testDir, backgroundOpts(segBytes), Position{}).w
	rng := rand.New(rand.NewPCG(3, 3))
	groups := appendUntil(t, w, 1, rng, func() bool { return w.spare != nil })
	s := w.spare
	<-s.done
	if s.err != nil {
		t.Fatalf("making the spare: %v", s.err)
	}
	if s.id != 2 || s.tmp != segFile(2)+tmpSuffix {
		t.Fatalf("spare is %d (%s), want segment 2", s.id, s.tmp)
	}
	data, err := vfs.ReadFile(fsys, s.tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != segBytes || !bytes.Equal(data, make([]byte, segBytes)) {
		t.Fatalf("spare holds %d bytes, not %d zero bytes", len(data), segBytes)
	}
	groups = append(groups, appendUntil(t, w, lastSeq(groups)+1, rng, func() bool { return len(w.segs) == 2 })...)
	if w.spare != nil && w.spare == s {
		t.Fatal("the roll did not take the spare")
	}
	if _, err := fsys.Stat(s.tmp); err == nil {
		t.Fatalf("%s still exists after the roll", s.tmp)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := fsys.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, tmpSuffix) {
			t.Errorf("Close left %s", n)
		}
	}
	r := mustRecover(t, fsys, testDir, quietOpts(segBytes), Position{})
	defer r.w.Close()
	checkPrefix(t, r.recs, groups, len(groups))
	if r.info.Segments != 2 {
		t.Fatalf("recovered %d segments, want 2", r.info.Segments)
	}
}

// TestSpareFailureFailsTheLog: a write error while making the spare in
// the background fails the log (I5) even though nothing of the log is in
// the spare; every group acknowledged before is recovered.
func TestSpareFailureFailsTheLog(t *testing.T) {
	const segBytes = 64 << 10
	var failed atomic.Bool
	injected := errors.New("injected zero-fill failure")
	fsys := faultfs.New(faultfs.Options{Injector: faultfs.InjectorFunc(func(op faultfs.Op) error {
		// The spare's zero-fill is the only write of a whole segment to a
		// .seg.tmp; the roll's own header write is one block.
		if op.Kind == faultfs.OpWrite && strings.HasSuffix(op.Path, tmpSuffix) && op.Length == segBytes && failed.CompareAndSwap(false, true) {
			return injected
		}
		return nil
	})})
	w := mustRecover(t, fsys, testDir, backgroundOpts(segBytes), Position{}).w
	rng := rand.New(rand.NewPCG(4, 4))
	var attempted [][]Record // the last one's outcome is unknown
	acked := 0
	var err error
	for seq := uint64(1); seq < 1000 && err == nil; seq++ {
		recs := makeGroup(rng, seq, 1, 2000)
		attempted = append(attempted, recs)
		if _, err = w.AppendGroup(recs, true); err == nil {
			acked++
		}
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, injected) {
		t.Fatalf("appends after the spare failed: %v, want ErrFailed wrapping the injected error", err)
	}
	w.Close()
	r := mustRecover(t, fsys, testDir, quietOpts(segBytes), Position{})
	defer r.w.Close()
	checkPrefix(t, r.recs, attempted, acked)
}

// TestCloseStopsTheSpare: Close while a spare is being made waits for it
// and removes it.
func TestCloseStopsTheSpare(t *testing.T) {
	const segBytes = 64 << 10
	fsys := faultfs.New(faultfs.Options{})
	w := mustRecover(t, fsys, testDir, backgroundOpts(segBytes), Position{}).w
	appendUntil(t, w, 1, rand.New(rand.NewPCG(5, 5)), func() bool { return w.spare != nil })
	tmp := w.spare.tmp
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(tmp); err == nil {
		t.Fatalf("Close left %s", tmp)
	}
}

// A new log starts with a small segment and each next one is twice the
// one before, up to SegmentSizeBytes; Stats.SegmentBytes is the size of
// the segments before the current one, after rolls, after old segments
// are removed, and after a reopen, which takes the sizes from the files.
func TestSegmentsGrowToSegmentSize(t *testing.T) {
	for _, inline := range []bool{true, false} {
		fsys := faultfs.New(faultfs.Options{Seed: 21})
		opts := quietOpts(64 << 10)
		opts.InlineSpare = inline
		opts.firstSegmentBytes = 8 << 10
		w := mustRecover(t, fsys, testDir, opts, Position{}).w
		seq := appendUntilSegments(t, w, rand.New(rand.NewPCG(21, 22)), 1, 7, 1, 1500)
		want := []int64{8 << 10, 16 << 10, 32 << 10, 64 << 10, 64 << 10, 64 << 10, 64 << 10}
		sizes := func(fsys *faultfs.FS, segs []uint64) (got []int64, before int64) {
			for i, id := range segs {
				info, err := fsys.Stat(w.segPath(id))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, info.Size())
				if i < len(segs)-1 {
					before += info.Size()
				}
			}
			return got, before
		}
		got, before := sizes(fsys, w.Segments())
		if !slices.Equal(got, want) {
			t.Fatalf("inline=%v: segment sizes %v, want %v", inline, got, want)
		}
		if s := w.Stats().SegmentBytes; s != before {
			t.Fatalf("inline=%v: Stats.SegmentBytes %d, want %d", inline, s, before)
		}
		segs := w.Segments()
		if err := w.RemoveSegmentsBefore(segs[3]); err != nil {
			t.Fatal(err)
		}
		_, before = sizes(fsys, w.Segments())
		if s := w.Stats().SegmentBytes; s != before || before != 3*(64<<10) {
			t.Fatalf("inline=%v: after removing three segments Stats.SegmentBytes %d, want %d", inline, s, 3*(64<<10))
		}
		w.Close()
		r := mustRecover(t, fsys, testDir, opts, Position{})
		if s := r.w.Stats().SegmentBytes; s != before {
			t.Fatalf("inline=%v: after reopening Stats.SegmentBytes %d, want %d", inline, s, before)
		}
		if len(r.recs) == 0 || r.recs[len(r.recs)-1].Seq != seq-1 {
			t.Fatalf("inline=%v: reopened log ends at %d records, want seq %d last", inline, len(r.recs), seq-1)
		}
		r.w.Close()
	}
}
