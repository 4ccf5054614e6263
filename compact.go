package holdfast

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-db/holdfast/internal/wal"
)

// Compaction reclaims the space of overwritten and deleted keys.
//
// The log is a sequence of segments. Compaction picks a cut — the current
// (newest) segment at the start — and copies every live value that still
// lives in an older segment to the head of the log, in "relocated" records
// that keep each value's version. When no live value is left below the
// cut, the older segments are deleted and the directory synced.
//
// Crash safety needs no extra machinery: until the segments are removed,
// a crash leaves both copies, and replay applies the relocated copy (later
// in the log) over the original, which holds the same value and version.
// Removing segments is the only destructive step and happens after every
// relocation is durable. Removal deletes the oldest segments first, so a
// crash part-way leaves a contiguous suffix of the log.
//
// The work is split so that client writes barely notice it. The writer
// goroutine only fixes the cut and takes a copy-on-write copy of the index
// (beginCompaction), and at the end confirms the relocations and takes the
// old segments out of the log (finishCompaction); the compactor deletes
// their files, a directory sync each, off the writer goroutine.
// In between, a compactor goroutine lists the entries below the cut in log
// order, reads their values (from the value cache, or in large O_DIRECT
// reads, off the writer goroutine), and hands them to the writer a chunk
// at a time as a relocation request: a write like any other, which rides
// in a commit group with client writes and shares its write and
// fdatasync. The writer drops from a chunk, when it plans it, every value
// that was overwritten or deleted since, so a relocated record never
// brings back an old value. One chunk is in flight at a time: at least
// relocationChunkBytes, and twice what the clients wrote meanwhile when
// that is more (up to maxRelocationChunkBytes), so a compaction outpaces
// them.
//
// Space bound: compaction starts by itself when the log exceeds
// CompactionSpaceAmp times the live data plus one segment, and at least
// two segments exist. Right after a compaction the log holds the live data
// (relocated) plus the current segment, so the log stays within
// CompactionSpaceAmp × (live bytes + one segment) + one segment, where live
// bytes count keys, values and the request ids compaction carries. While a
// compaction runs, its relocations add up to the live bytes, and client
// writes go on; should the log grow by more than twice the live bytes plus
// a segment before it ends, client writes wait for it (compactionStalls,
// counted in Stats.CompactionStalls), except while a quiesce or an open
// View pauses it. So during a compaction the log stays within
// CompactionSpaceAmp × (live bytes + one segment) + 2 × live bytes + two
// segments. Clients rarely reach that: at the compactor's pace they write
// at most about half the live bytes before it ends. Writes
// that each fill a group of their own occupy a 4 KiB page however small
// they are; compaction packs them densely, so it also runs, and pays off,
// when nothing was overwritten.
//
// Request ids are carried forward too: the relocated records list the ids
// whose original records are about to be removed, so the request-id window
// survives compaction and restarts alike.

// CompactStats report one compaction.
type CompactStats struct {
	Relocated       int   // values copied to the head of the log
	RemovedSegments int   // segment files deleted
	LogBytesBefore  int64 // approximate log size before and after
	LogBytesAfter   int64
	Duration        time.Duration
}

type compactJob struct {
	cut uint64 // segments below this id are to be removed
	// stallAt: client writes wait while the log is larger (see
	// compactionStalls).
	stallAt int64
	stalled bool // client writes have waited for it (Stats.CompactionStalls)
	stats   CompactStats
	start   time.Time
	// done is the caller of Compact (nil for automatic ones); waiters
	// asked while it ran. Writer goroutine only.
	done    chan compactResult
	waiters []chan compactResult
	// stop is closed when the writer goroutine exits; exited once the
	// compactor goroutine has returned.
	stop, exited chan struct{}
}

// relocation is a chunk of live values for the writer to copy to the head
// of the log (a request's reloc).
type relocation struct {
	cut     uint64
	entries []*entry // the index entries the values belong to
	ops     []op     // relocated puts, one per entry
	ids     []string // request ids to carry forward
}

type compactResult struct {
	stats CompactStats
	err   error
}

// Compaction tuning.
const (
	// relocationChunkBytes is what one relocation request carries (what
	// compaction adds to one commit group) while clients write less than
	// that per chunk; it grows with their writes, up to
	// maxRelocationChunkBytes.
	relocationChunkBytes    = 32 << 10
	maxRelocationChunkBytes = 4 << 20
	// DefaultCompactionSpaceAmp is the default Options.CompactionSpaceAmp.
	DefaultCompactionSpaceAmp = 2.0
)

// Compact runs a compaction now and waits for it. It returns at once with
// zero stats when there is nothing below the current segment.
func (ds *Dataspace) Compact(ctx context.Context) (CompactStats, error) {
	job := &compactJob{done: make(chan compactResult, 1)}
	if err := ds.err(); err != nil {
		return CompactStats{}, err
	}
	select {
	case ds.compactReqs <- job:
	case <-ds.done:
		return CompactStats{}, ds.stoppedErr()
	case <-ctx.Done():
		return CompactStats{}, ctx.Err()
	}
	res := <-job.done
	return res.stats, res.err
}

// logBytes is the log's size: the segments before the current one, and
// the current one up to its write position.
func (ds *Dataspace) logBytes() int64 {
	pos := ds.log.Position()
	return ds.log.Stats().SegmentBytes + pos.Offset // Stats, not Segments(): this runs on every turn of the writer while compacting
}

// maybeStartCompaction starts an automatic compaction when the log has
// grown past the bound; writer goroutine only.
func (ds *Dataspace) maybeStartCompaction() {
	if ds.compacting != nil || ds.db.opts.CompactionSpaceAmp < 0 {
		return
	}
	if len(ds.log.Segments()) < 2 {
		return
	}
	if float64(ds.logBytes()) <= ds.db.opts.CompactionSpaceAmp*float64(ds.liveBytes()+ds.db.opts.SegmentSizeBytes) {
		return
	}
	ds.beginCompaction(&compactJob{})
}

// liveBytes is what a compaction would write at most: the live values and
// the request ids it carries. Padding is not counted: compaction also
// repacks values that single writes left one to a 4 KiB page. Writer
// goroutine.
func (ds *Dataspace) liveBytes() int64 {
	ds.mu.RLock()
	live := ds.keyBytes + int64(ds.index.Len())*(opHeadSize+versionSize)
	ds.mu.RUnlock()
	return live + int64(len(ds.dedup.ids))*(carriedIDFixedSize+24)
}

// beginCompaction fixes the cut, takes a copy of the index and the
// request ids below the cut, and starts the compactor goroutine; writer
// goroutine only.
func (ds *Dataspace) beginCompaction(job *compactJob) {
	job.start = time.Now()
	job.cut = ds.log.Position().Segment
	job.stats.LogBytesBefore = ds.logBytes()
	// The relocations add at most the live bytes; the clients get as much
	// again, and a segment, before they wait (see compactionStalls).
	job.stallAt = job.stats.LogBytesBefore + 2*ds.liveBytes() + ds.db.opts.SegmentSizeBytes
	job.stop, job.exited = make(chan struct{}), make(chan struct{})
	ds.mu.Lock() // Copy marks the tree shared: no reader may copy it meanwhile
	snap := ds.index.Copy()
	ds.mu.Unlock()
	ids := ds.dedup.below(job.cut)
	ds.compacting = job
	go ds.compactor(job, snap, ids)
}

// compactionStalls says whether client writes must wait for the running
// compaction: the log has grown by a segment since it began, so the space
// bound would not hold if they went on. Compaction keeps pace with the
// clients (a chunk relocates at least what they wrote meanwhile), so this
// happens only when it cannot: not while a quiesce or an open View pauses
// it, which would make the writes wait for the View. Writer goroutine.
func (ds *Dataspace) compactionStalls() bool {
	job := ds.compacting
	if job == nil || ds.logBytes() <= job.stallAt || ds.db.quiesce.pausesMaint() {
		return false
	}
	if !job.stalled {
		job.stalled = true
		ds.stats.compactionStalls.Add(1)
	}
	return true
}

// stopCompaction ends a running compaction with err when the writer
// goroutine exits: it stops the compactor and waits for it, so nothing
// reads the log after it closes.
func (ds *Dataspace) stopCompaction(err error) {
	job := ds.compacting
	if job == nil {
		return
	}
	close(job.stop)
	<-job.exited
	ds.endCompaction(job, err)
}

// errCompactionStopped is what the compactor sees when the writer exits.
var errCompactionStopped = errors.New("compaction stopped")

// compactor relocates the values below the cut, a chunk at a time, and
// then has the writer finish the compaction. Its own goroutine.
func (ds *Dataspace) compactor(job *compactJob, snap *keyIndex, ids []string) {
	defer close(job.exited)
	var below []*entry
	var y yielder // the listing takes milliseconds of CPU: let the writer in
	snap.Scan(func(e *entry) bool {
		if e.pos.Segment < job.cut {
			below = append(below, e)
		}
		y.step()
		return true
	})
	// In log order, so that values written by one batch (one record) are
	// read with one read of that record.
	sortYielding(below, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.pos.Segment, b.pos.Segment), cmp.Compare(a.pos.GroupOffset, b.pos.GroupOffset), cmp.Compare(a.pos.Logical, b.pos.Logical))
	}, &y)
	ds.db.log.Info("compaction started", "dataspace", ds.name, "cut_segment", job.cut,
		"values_to_relocate", len(below), "log_bytes", job.stats.LogBytesBefore)
	relocated := 0
	lastWritten, lastSize := ds.log.Stats().BytesWritten, 0
	for len(below) > 0 || len(ids) > 0 {
		if !ds.enterMaint(job.stop) {
			return
		}
		// A chunk relocates at least twice what the clients wrote while
		// the last one was on its way, so a compaction ends however fast
		// they write, before they have written half the live bytes: well
		// within what they may write before they wait (stallAt).
		written := ds.log.Stats().BytesWritten
		budget := min(max(relocationChunkBytes, 2*(int(written-lastWritten)-lastSize)), maxRelocationChunkBytes)
		rl := &relocation{cut: job.cut}
		size := recordHeadSize
		below = ds.takeLive(rl, below, &size, budget)
		for len(ids) > 0 && size < budget {
			rl.ids = append(rl.ids, ids[0])
			size += carriedIDFixedSize + len(ids[0])
			ids = ids[1:]
		}
		n, err := ds.relocate(rl, size, job.stop)
		ds.db.quiesce.leaveMaint()
		lastWritten, lastSize = written, size
		if err != nil {
			ds.compactorFailed(job, err)
			return
		}
		relocated += n
	}
	if !ds.enterMaint(job.stop) {
		return
	}
	// The gate stays passed until the segments are gone: a View waits for
	// it before it copies the index.
	defer ds.db.quiesce.leaveMaint()
	var removal *wal.Removal
	if !ds.onWriter(job, func() { removal = ds.finishCompaction(job, relocated) }) || removal == nil {
		return
	}
	// The segments are out of the log; deleting their files (a directory
	// sync each) takes milliseconds, which client writes need not wait
	// for. The compaction ends once they are gone. The deletions are
	// spaced out, unless Close, a quiesce or a View waits for them.
	hurry, removed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(hurry)
		select {
		case <-job.stop:
		case <-ds.db.quiesce.pausedSignal():
		case <-removed:
		}
	}()
	err := removal.RunPaced(hurry)
	close(removed)
	ds.onWriter(job, func() { ds.completeCompaction(job, removal.Len(), err) })
}

// onWriter runs fn on the writer goroutine, with the pipeline empty, and
// waits for it. It returns false, not having waited, when the writer
// exits first (stopCompaction then ends the compaction).
func (ds *Dataspace) onWriter(job *compactJob, fn func()) bool {
	fin := make(chan struct{})
	select {
	case ds.finishReqs <- func() { defer close(fin); fn() }:
		select {
		case <-fin:
			return true
		case <-job.stop: // the writer exited before it ran fn
			return false
		}
	case <-job.stop:
		return false
	}
}

// enterMaint passes the quiesce gate for a compaction step, waiting while
// the database is quiesced or a View is open. It returns false when stop
// closes first.
func (ds *Dataspace) enterMaint(stop <-chan struct{}) bool {
	for !ds.db.quiesce.tryEnter() { // quiesce.go: paused while quiesced or a View is open
		ds.db.quiesce.pause(stop)
		select {
		case <-stop:
			return false
		default:
		}
	}
	return true
}

// takeLive fills rl with the next entries of below (in log order) that are
// still live, up to budget bytes of their keys and values; it returns the
// entries left. Entries overwritten or deleted since the index was copied
// are dropped here, and again by the writer if that happens meanwhile.
func (ds *Dataspace) takeLive(rl *relocation, below []*entry, size *int, budget int) []*entry {
	taken := 0
	ds.mu.RLock()
	for taken < len(below) && *size < budget {
		e := below[taken]
		taken++
		if cur, ok := ds.index.Get(e.key); !ok || cur != e {
			continue
		}
		rl.entries = append(rl.entries, e)
		*size += opHeadSize + versionSize + len(e.key) + int(e.size)
	}
	ds.mu.RUnlock()
	return below[taken:]
}

// relocate reads a chunk's values and has the writer write them; it
// returns how many values the writer relocated.
func (ds *Dataspace) relocate(rl *relocation, size int, stop <-chan struct{}) (int, error) {
	if len(rl.entries) > 0 {
		values, err := ds.relocationValues(rl.entries)
		if err != nil {
			return 0, err
		}
		rl.ops = make([]op, len(rl.entries))
		for i, e := range rl.entries {
			rl.ops[i] = op{kind: opPut, version: e.seq, key: []byte(e.key), value: values[i], str: e.key}
		}
	}
	if len(rl.ops) == 0 && len(rl.ids) == 0 {
		return 0, nil
	}
	r := &request{reloc: rl, size: size, reply: make(chan reply, 1)}
	select {
	case ds.relocs <- r:
	case <-stop:
		return 0, errCompactionStopped
	}
	select {
	case rep := <-r.reply:
		return rep.relocated, rep.err
	case <-stop:
		return 0, errCompactionStopped
	}
}

// compactorFailed ends the compaction with err on the writer goroutine,
// unless it is exiting (stopCompaction then ends it).
func (ds *Dataspace) compactorFailed(job *compactJob, err error) {
	if errors.Is(err, errCompactionStopped) {
		return
	}
	select {
	case ds.finishReqs <- func() { ds.endCompaction(job, err) }:
	case <-job.stop:
	}
}

// planRelocation builds the record of a relocation request: the values
// that are still live, with nothing pending in the pipeline for their key
// (a write planned after this one wins anyway, being later in the log).
// A value overwritten or deleted since the compactor read it is dropped,
// so a relocated record never brings an old value back.
func (ds *Dataspace) planRelocation(rl *relocation) (recordPayload, bool, reply) {
	// rl is this request's own: its ops are filtered in place.
	p := recordPayload{relocated: true, ops: rl.ops[:0]}
	for i, e := range rl.entries {
		// e.replaced: published since the compactor read it.
		if _, ok := ds.unpublished(e.key); ok || e.replaced {
			continue
		}
		p.ops = append(p.ops, rl.ops[i])
	}
	for _, id := range rl.ids {
		a, ok := ds.dedup.get(id)
		if !ok || a.segment >= rl.cut {
			continue
		}
		p.ids = append(p.ids, carriedID{id: id, seq: a.seq, hasInt: a.hasInt, intValue: a.intValue})
	}
	if len(p.ops) == 0 && len(p.ids) == 0 {
		return recordPayload{}, false, reply{}
	}
	return p, true, reply{relocated: len(p.ops)}
}

// relocationValues returns the values of a chunk of entries: inline ones
// and those in the value cache from memory, the rest from the log in one
// pass of large O_DIRECT reads in log order (wal.ReadRecords), each record
// read and verified once however many of its values are live. Reading
// values one record at a time held the writer goroutine, and every client
// group behind it, for a hundred milliseconds and more per chunk.
func (ds *Dataspace) relocationValues(chunk []*entry) ([][]byte, error) {
	values := make([][]byte, len(chunk))
	var positions []wal.RecordPos
	var users [][]int // for each position, the chunk entries whose value it holds
	seen := make(map[wal.RecordPos]int)
	for i, e := range chunk {
		if e.isInl {
			values[i] = e.inline
			continue
		}
		if v, ok := ds.db.cache.get(makeCacheKey(ds.cacheID, e.seq, e.key), e.key); ok {
			values[i] = v // the cache's slice: never changed, only replaced
			continue
		}
		k, ok := seen[e.pos]
		if !ok {
			k = len(positions)
			seen[e.pos] = k
			positions = append(positions, e.pos)
			users = append(users, nil)
		}
		users[k] = append(users[k], i)
	}
	if len(positions) == 0 {
		return values, nil
	}
	err := ds.log.ReadRecords(positions, func(k int, rec wal.Record) error {
		p, err := decodeRecord(rec.Payload, rec.Seq)
		for _, i := range users[k] {
			e := chunk[i]
			if err == nil {
				err = checkHolds(&p, rec.Seq, e)
			}
			if err != nil {
				return fmt.Errorf("%w: compaction: %v", ErrCorrupt, err)
			}
			values[i] = clone(p.ops[e.opIndex].value) // the payload is reused after fn returns
		}
		return nil
	})
	switch {
	case err == nil:
		return values, nil
	case errors.Is(err, ErrCorrupt), errors.Is(err, wal.ErrCorrupt):
		if !errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("%w: compaction: %w", ErrCorrupt, err)
		}
		return nil, ds.corruptStop(err)
	default:
		return nil, ds.failStop(fmt.Errorf("compaction: read the log: %w", err))
	}
}

// finishCompaction makes sure the relocated values are durable and takes
// the segments below the cut out of the log. It returns the removal that
// deletes their files, for the compactor to run off the writer goroutine
// and then end the compaction with completeCompaction; nil when the
// compaction has ended (failed, or, under SerialMaintenance, done here in
// full so that a replayed run issues its operations in the same order).
// Writer goroutine, pipeline empty.
func (ds *Dataspace) finishCompaction(job *compactJob, relocated int) *wal.Removal {
	job.stats.Relocated = relocated
	// Under an interval policy the relocations rode in groups that were
	// acknowledged unsynced: sync them first (nothing happens when that
	// is done already).
	if err := ds.syncNow(); err != nil {
		ds.endCompaction(job, ds.failStop(fmt.Errorf("compaction: sync relocated values: %w", err)))
		return nil
	}
	// One more sync of what holds the relocated values before the
	// originals go: it catches a sync failure the file system reports
	// late (ext4 data=journal), which would otherwise cost old data. It
	// must come after the sync that made them durable, never be it.
	if err := ds.log.Confirm(job.cut); err != nil {
		ds.endCompaction(job, ds.failStop(fmt.Errorf("compaction: confirm relocated values: %w", err)))
		return nil
	}
	// Readers holding positions in the segments finish first (segMu);
	// later ones find every live value above the cut.
	ds.segMu.Lock()
	removal, err := ds.log.DetachSegmentsBefore(job.cut)
	ds.segMu.Unlock()
	if err != nil {
		ds.endCompaction(job, ds.failStop(fmt.Errorf("compaction: remove segments: %w", err)))
		return nil
	}
	if ds.db.opts.SerialMaintenance {
		ds.completeCompaction(job, removal.Len(), removal.Run())
		return nil
	}
	return removal
}

// completeCompaction ends a compaction whose segments' files removeErr
// says were deleted, or not. Writer goroutine.
func (ds *Dataspace) completeCompaction(job *compactJob, removed int, removeErr error) {
	if removeErr != nil {
		ds.endCompaction(job, ds.failStop(fmt.Errorf("compaction: remove segments: %w", removeErr)))
		return
	}
	job.stats.RemovedSegments = removed
	job.stats.LogBytesAfter = ds.logBytes()
	job.stats.Duration = time.Since(job.start)
	ds.stats.compactions.Add(1)
	ds.db.log.Info("compaction done", "dataspace", ds.name, "relocated", job.stats.Relocated,
		"removed_segments", job.stats.RemovedSegments, "log_bytes", job.stats.LogBytesAfter,
		"ms", job.stats.Duration.Milliseconds())
	ds.endCompaction(job, nil)
	// Earlier checkpoints may point into the removed segments; write one
	// that does not, so the next open need not replay the whole log.
	ds.maybeCheckpoint(true)
}

func (ds *Dataspace) endCompaction(job *compactJob, err error) {
	ds.compacting = nil
	if job.done != nil {
		job.done <- compactResult{stats: job.stats, err: err}
	}
	for _, w := range job.waiters {
		w <- compactResult{stats: job.stats, err: err}
	}
	if err != nil {
		ds.db.log.Error("compaction failed", "dataspace", ds.name, "err", err)
	}
}
