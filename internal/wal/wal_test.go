package wal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// TestRoundTripWithRolls appends groups of varied sizes to 64 KiB segments
// (so the log rolls many times, and one group needs a segment of its own),
// reads every record back by position while appending, reopens, and
// continues the sequence.
func TestRoundTripWithRolls(t *testing.T) {
	for _, fc := range allFS() {
		t.Run(fc.name, func(t *testing.T) {
			fsys, dir := fc.new(t, 1)
			opts := quietOpts(64 << 10)
			r := mustRecover(t, fsys, dir, opts, Position{})
			w := r.w
			if len(r.recs) != 0 || r.info.LastSeq != 0 || r.info.Segments != 1 {
				t.Fatalf("new log: %d records, info %+v", len(r.recs), r.info)
			}
			if got := w.Position(); got != (Position{Segment: 1, Offset: HeaderBlockBytes, NextSeq: 1}) {
				t.Fatalf("new log position %+v", got)
			}
			if _, ok := fsys.(*faultfs.FS); ok && !w.Stats().DirectIO {
				t.Fatal("faultfs accepts O_DIRECT, but the writer does not use it")
			}
			if !ok(fsys) && vfs.ProbeDirectIO(fsys, dir) == nil && (!w.Stats().DirectIO || !r.info.DirectIO) {
				t.Fatalf("the OS file system accepts O_DIRECT, but the log does not use it: stats %+v info %+v", w.Stats(), r.info)
			}

			rng := rand.New(rand.NewPCG(1, 2))
			var groups [][]Record
			var positions []RecordPos
			seq := uint64(1)
			for g := 0; g < 80; g++ {
				count, maxBytes := 1+rng.IntN(5), 3000
				if g == 40 {
					count, maxBytes = 1, 100<<10 // bigger than a segment
				}
				recs := makeGroup(rng, seq, count, maxBytes)
				if g == 40 {
					recs[0].Payload = payload(seq, 100<<10)
				}
				pos, err := w.AppendGroup(recs, g%3 == 0)
				if err != nil {
					t.Fatalf("group %d: %v", g, err)
				}
				groups = append(groups, recs)
				positions = append(positions, pos...)
				seq += uint64(count)
				// Read back an earlier record while appending.
				i := rng.IntN(len(positions))
				rec, err := w.ReadRecord(positions[i])
				if err != nil || rec.Seq != flatten(groups)[i].Seq {
					t.Fatalf("ReadRecord(%+v) = seq %d, %v", positions[i], rec.Seq, err)
				}
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			all := flatten(groups)
			for i, p := range positions {
				rec, err := w.ReadRecord(p)
				if err != nil {
					t.Fatalf("ReadRecord(%+v): %v", p, err)
				}
				if rec.Seq != all[i].Seq || !bytes.Equal(rec.Payload, all[i].Payload) {
					t.Fatalf("ReadRecord(%+v) = seq %d, want %d", p, rec.Seq, all[i].Seq)
				}
			}
			st := w.Stats()
			if st.Groups != 80 || st.UnsyncedBytes != 0 || !st.OldestUnsynced.IsZero() || st.Segments < 5 || st.Segments != len(w.Segments()) {
				t.Fatalf("stats %+v, segments %v", st, w.Segments())
			}
			end := w.Position()
			if end.NextSeq != seq {
				t.Fatalf("position %+v, want next seq %d", end, seq)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.AppendGroup(makeGroup(rng, seq, 1, 10), true); !errors.Is(err, ErrClosed) {
				t.Fatalf("append after Close: %v", err)
			}

			r = mustRecover(t, fsys, dir, opts, Position{})
			checkPrefix(t, r.recs, groups, len(groups))
			if len(r.recs) != len(all) || !slices.Equal(r.pos, positions) {
				t.Fatalf("recovered %d records, positions equal: %v", len(r.recs), slices.Equal(r.pos, positions))
			}
			if r.info.Groups != 80 || r.info.Records != len(all) || r.info.LastSeq != seq-1 || r.info.TornBytes != 0 || r.info.Segments != st.Segments {
				t.Fatalf("info %+v", r.info)
			}
			if got := r.w.Position(); got != end {
				t.Fatalf("position after reopen %+v, want %+v", got, end)
			}
			// The sequence continues, in the same segment.
			more := makeGroup(rng, seq, 3, 500)
			if _, err := r.w.AppendGroup(more, true); err != nil {
				t.Fatal(err)
			}
			groups = append(groups, more)
			r.w.Close()
			r = mustRecover(t, fsys, dir, opts, Position{})
			checkPrefix(t, r.recs, groups, len(groups))
			r.w.Close()
		})
	}
}

func ok(fsys vfs.FS) bool { _, isFault := fsys.(*faultfs.FS); return isFault }

// TestCheckpointStart recovers from a Position taken earlier: only later
// records are passed, and the log continues.
func TestCheckpointStart(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 3})
	opts := quietOpts(16 << 10)
	w := mustRecover(t, fsys, testDir, opts, Position{}).w
	rng := rand.New(rand.NewPCG(3, 3))
	var groups [][]Record
	var checkpoint Position
	seq := uint64(1)
	for g := 0; g < 20; g++ {
		if g == 12 {
			checkpoint = w.Position()
		}
		recs := makeGroup(rng, seq, 2, 2000)
		if _, err := w.AppendGroup(recs, true); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, recs)
		seq += 2
	}
	w.Close()
	r := mustRecover(t, fsys, testDir, opts, checkpoint)
	checkPrefix(t, r.recs, groups[12:], 8)
	if r.recs[0].Seq != checkpoint.NextSeq || r.info.LastSeq != seq-1 {
		t.Fatalf("first recovered seq %d, checkpoint %+v, info %+v", r.recs[0].Seq, checkpoint, r.info)
	}
	// Remove what the checkpoint covers; recovery from it still works, and
	// recovery from the beginning now starts at the first kept segment.
	if err := r.w.RemoveSegmentsBefore(checkpoint.Segment); err != nil {
		t.Fatal(err)
	}
	if segs := r.w.Segments(); segs[0] != checkpoint.Segment {
		t.Fatalf("segments after removal %v", segs)
	}
	if err := r.w.RemoveSegmentsBefore(r.w.Position().Segment + 1); err == nil {
		t.Fatal("RemoveSegmentsBefore past the current segment succeeded")
	}
	r.w.Close()
	if err := fsys.Crash(faultfs.CrashOptions{}); err != nil {
		t.Fatal(err)
	}
	r = mustRecover(t, fsys, testDir, opts, checkpoint)
	checkPrefix(t, r.recs, groups[12:], 8)
	r.w.Close()

	// A checkpoint naming a segment that is gone is reported.
	_, err := recoverLog(fsys, testDir, opts, Position{Segment: 1, Offset: HeaderBlockBytes, NextSeq: 1})
	if ce := asCorrupt(t, err); ce.Path != segFile(1) {
		t.Fatalf("error names %s", ce.Path)
	}
}

// TestAppendGroupRejectsBadInput: bad input is refused without failing the
// Writer.
func TestAppendGroupRejectsBadInput(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
	defer w.Close()
	cases := []struct {
		name string
		recs []Record
		want error
	}{
		{"empty", nil, nil},
		{"wrong first seq", []Record{{Seq: 2}}, nil},
		{"gap", []Record{{Seq: 1}, {Seq: 3}}, nil},
		{"record too large", []Record{{Seq: 1, Payload: make([]byte, MaxRecordBytes+1)}}, ErrRecordTooLarge},
		{"group too large", []Record{{Seq: 1, Payload: make([]byte, MaxRecordBytes)}, {Seq: 2, Payload: make([]byte, MaxRecordBytes)}}, ErrGroupTooLarge},
	}
	for _, c := range cases {
		_, err := w.AppendGroup(c.recs, true)
		if err == nil || errors.Is(err, ErrFailed) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want a plain error (%v)", c.name, err, c.want)
		}
	}
	if _, err := w.AppendGroup([]Record{{Seq: 1, Payload: []byte("ok")}}, true); err != nil {
		t.Fatalf("the writer refused good input after bad input: %v", err)
	}
	if _, err := w.ReadRecord(RecordPos{Segment: 1, GroupOffset: 100, Logical: 48, Length: 18}); err == nil {
		t.Fatal("ReadRecord accepted an unaligned group offset")
	}
	if _, err := w.ReadRecord(RecordPos{Segment: 9, GroupOffset: 4096, Logical: 48, Length: 18}); err == nil {
		t.Fatal("ReadRecord accepted a segment that does not exist")
	}
	if _, _, err := Recover(fsys, "/other", Options{SegmentSizeBytes: 5000}, Position{}, nil); err == nil {
		t.Fatal("Recover accepted a segment size that is not a multiple of a page")
	}
}

// TestConcurrentReadsDuringAppends runs ReadRecord, Stats and Position
// from other goroutines while one goroutine appends (run with -race).
func TestConcurrentReadsDuringAppends(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 5})
	w := mustRecover(t, fsys, testDir, quietOpts(32<<10), Position{}).w
	defer w.Close()
	var mu sync.Mutex
	var positions []RecordPos
	var all []Record
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 0))
			for {
				select {
				case <-done:
					return
				default:
				}
				w.Stats()
				w.Position()
				w.Segments()
				mu.Lock()
				if len(positions) == 0 {
					mu.Unlock()
					continue
				}
				i := rng.IntN(len(positions))
				p, want := positions[i], all[i]
				mu.Unlock()
				rec, err := w.ReadRecord(p)
				if err != nil || rec.Seq != want.Seq || !bytes.Equal(rec.Payload, want.Payload) {
					errs <- errors.Join(err, errors.New("read back a different record"))
					return
				}
			}
		}(uint64(i))
	}
	rng := rand.New(rand.NewPCG(9, 9))
	seq := uint64(1)
	for g := 0; g < 200; g++ {
		recs := makeGroup(rng, seq, 1+rng.IntN(3), 2000)
		pos, err := w.AppendGroup(recs, g%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		positions = append(positions, pos...)
		all = append(all, recs...)
		mu.Unlock()
		seq += uint64(len(recs))
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// TestDirectIOFallback: where O_DIRECT is refused, the log works through
// the page cache and says so.
func TestDirectIOFallback(t *testing.T) {
	fsys := noDirectFS{faultfs.New(faultfs.Options{Seed: 7})}
	opts := quietOpts(16 << 10)
	var logged bytes.Buffer
	opts.Logger = slogTo(&logged)
	r := mustRecover(t, fsys, testDir, opts, Position{})
	if r.w.Stats().DirectIO {
		t.Fatal("stats say O_DIRECT on a file system that refuses it")
	}
	recs := []Record{{Seq: 1, Payload: []byte("buffered")}}
	pos, err := r.w.AppendGroup(recs, true)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := r.w.ReadRecord(pos[0]); err != nil || string(rec.Payload) != "buffered" {
		t.Fatalf("ReadRecord: %q %v", rec.Payload, err)
	}
	r.w.Close()
	r = mustRecover(t, fsys, testDir, opts, Position{})
	defer r.w.Close()
	if r.info.DirectIO || len(r.recs) != 1 {
		t.Fatalf("info %+v, %d records", r.info, len(r.recs))
	}
	if !strings.Contains(logged.String(), "O_DIRECT refused") {
		t.Fatalf("no warning logged: %s", logged.String())
	}
}

// TestOrphanTmpAndDirectoryChecks: unfinished segments are removed; a
// missing segment or a damaged header block is corruption.
func TestOrphanTmpAndDirectoryChecks(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 11})
	opts := quietOpts(8 << 10)
	w := mustRecover(t, fsys, testDir, opts, Position{}).w
	for s := uint64(1); s <= 4; s++ {
		if _, err := w.AppendGroup([]Record{{Seq: s, Payload: payload(s, 3000)}}, true); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if segs := w.Segments(); len(segs) != 4 {
		t.Fatalf("segments %v: want one group per 8 KiB segment", segs)
	}
	orphan := segFile(5) + ".tmp"
	f, err := fsys.OpenFile(orphan, vfs.ORdWr|vfs.OCreate, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := mustRecover(t, fsys, testDir, opts, Position{})
	r.w.Close()
	if exists, _ := vfs.Exists(fsys, orphan); exists {
		t.Fatal("orphan .tmp segment not removed")
	}
	if len(r.recs) != 4 {
		t.Fatalf("%d records", len(r.recs))
	}

	// A damaged header block.
	if err := fsys.FlipBit(segFile(2), 100, 3); err != nil {
		t.Fatal(err)
	}
	_, err = recoverLog(fsys, testDir, opts, Position{})
	if ce := asCorrupt(t, err); ce.Path != segFile(2) || ce.Offset != 0 {
		t.Fatalf("corrupt header reported as %v", ce)
	}
	fsys.FlipBit(segFile(2), 100, 3)

	// A missing segment in the middle.
	if err := fsys.Rename(segFile(3), path.Join(testDir, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	_, err = recoverLog(fsys, testDir, opts, Position{})
	if ce := asCorrupt(t, err); ce.Path != segFile(3) {
		t.Fatalf("missing segment reported as %v", ce)
	}
}
