package holdfast

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/holdfast-db/holdfast/internal/wal"
)

// Compaction reclaims the space of overwritten and deleted keys.
//
// The log is a sequence of segments. Compaction picks a cut — the current
// (newest) segment at the start — and copies every live value that still
// lives in an older segment to the head of the log, in "relocated" records
// that keep each value's version. Each chunk is an ordinary group: written,
// synced, then published to the index. When no live value is left below
// the cut, the older segments are deleted and the directory synced.
//
// Crash safety needs no extra machinery: until the segments are removed,
// a crash leaves both copies, and replay applies the relocated copy (later
// in the log) over the original, which holds the same value and version.
// Removing segments is the only destructive step and happens after every
// relocation is durable. Removal deletes the oldest segments first, so a
// crash part-way leaves a contiguous suffix of the log.
//
// Compaction runs on the writer goroutine, one chunk at a time, and yields
// to waiting client writes between chunks: a client group waits at most
// for one chunk (CompactionChunkBytes of values and one fdatasync).
//
// Space bound: compaction starts by itself when the log exceeds
// CompactionSpaceAmp times the live data plus one segment, and at least
// two segments exist. Right after a compaction the log holds the live data
// (relocated) plus the current segment, so the log stays within
// CompactionSpaceAmp × (live bytes + one segment) + one segment, where live
// bytes count keys, values and the request ids compaction carries. Writes
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
	cut     uint64   // segments below this id are to be removed
	pending []string // keys that may still live below the cut
	ids     []string // request ids whose proof lives below the cut
	stats   CompactStats
	start   time.Time
	done    chan compactResult // the caller of Compact; nil for automatic ones
	waiters []chan compactResult
}

type compactResult struct {
	stats CompactStats
	err   error
}

// Compaction tuning. CompactionChunkBytes bounds the values relocated in
// one group.
const (
	CompactionChunkBytes = 256 << 10
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

// logBytes approximates the log's size: full segments before the current
// one, and the current one up to its write position.
func (ds *Dataspace) logBytes() int64 {
	pos := ds.log.Position()
	n := len(ds.log.Segments())
	return int64(n-1)*ds.db.opts.SegmentSizeBytes + pos.Offset
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
	// What a compaction would write: the live values and the request ids
	// it carries. Padding is not counted: compaction also repacks values
	// that single writes left one to a 4 KiB page.
	ds.mu.RLock()
	live := ds.keyBytes + int64(ds.index.Len())*(opHeadSize+versionSize)
	ds.mu.RUnlock()
	live += int64(len(ds.dedup.ids)) * (carriedIDFixedSize + 24)
	if float64(ds.logBytes()) <= ds.db.opts.CompactionSpaceAmp*float64(live+ds.db.opts.SegmentSizeBytes) {
		return
	}
	ds.beginCompaction(&compactJob{})
}

// beginCompaction fixes the cut and the keys to look at.
func (ds *Dataspace) beginCompaction(job *compactJob) {
	job.start = time.Now()
	job.cut = ds.log.Position().Segment
	job.stats.LogBytesBefore = ds.logBytes()
	ds.mu.RLock()
	var below []*entry
	ds.index.Scan(func(e *entry) bool {
		if e.pos.Segment < job.cut {
			below = append(below, e)
		}
		return true
	})
	ds.mu.RUnlock()
	// In log order, so that values written by one batch (one record) are
	// read with one read of that record.
	slices.SortFunc(below, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.pos.Segment, b.pos.Segment), cmp.Compare(a.pos.GroupOffset, b.pos.GroupOffset), cmp.Compare(a.pos.Logical, b.pos.Logical))
	})
	for _, e := range below {
		job.pending = append(job.pending, e.key)
	}
	job.ids = ds.dedup.below(job.cut)
	ds.compacting = job
	ds.db.log.Info("compaction started", "dataspace", ds.name, "cut_segment", job.cut,
		"values_to_relocate", len(job.pending), "log_bytes", job.stats.LogBytesBefore)
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
		if v, ok := ds.db.cache.get(makeCacheKey(ds.cacheID, e.pos, e.opIndex)); ok {
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
		p, err := decodeRecord(rec.Payload)
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

// compactStep relocates one chunk, or finishes the compaction. It returns
// false when the dataspace has stopped.
func (ds *Dataspace) compactStep() bool {
	if !ds.db.quiesce.tryEnter() { // quiesce.go: paused while quiesced or a View is open
		ds.db.quiesce.pause(ds.quit)
		return true
	}
	defer ds.db.quiesce.leaveMaint()
	job := ds.compacting
	if len(job.pending) == 0 && len(job.ids) == 0 {
		return ds.finishCompaction(job)
	}
	payload := &recordPayload{relocated: true}
	size := recordHeadSize
	var taken int
	var chunk []*entry
	for taken < len(job.pending) && size < CompactionChunkBytes {
		key := job.pending[taken]
		taken++
		ds.mu.RLock()
		e, ok := ds.index.Get(&entry{key: key})
		ds.mu.RUnlock()
		if !ok || e.pos.Segment >= job.cut {
			continue // deleted or rewritten since the compaction began
		}
		chunk = append(chunk, e)
		size += opHeadSize + versionSize + len(key) + int(e.size)
	}
	values, err := ds.relocationValues(chunk)
	if err != nil {
		ds.endCompaction(job, err)
		return ds.err() == nil
	}
	for i, e := range chunk {
		payload.ops = append(payload.ops, op{kind: opPut, version: e.seq, key: []byte(e.key), value: values[i]})
	}
	job.pending = job.pending[taken:]
	// Request ids ride along, so a retry after the old segments are gone
	// is still applied once.
	for len(job.ids) > 0 && size < CompactionChunkBytes {
		id := job.ids[0]
		job.ids = job.ids[1:]
		a, ok := ds.dedup.get(id)
		if !ok || a.segment >= job.cut {
			continue
		}
		payload.ids = append(payload.ids, carriedID{id: id, seq: a.seq, hasInt: a.hasInt, intValue: a.intValue})
		size += carriedIDFixedSize + len(id)
	}
	if len(payload.ops) == 0 && len(payload.ids) == 0 {
		return true
	}
	seq := ds.lastSeq + 1
	positions, err := ds.log.AppendGroup([]wal.Record{{Seq: seq, Payload: payload.encode()}}, true)
	if err != nil {
		cause := ds.failStop(fmt.Errorf("compaction: log write: %w", err))
		ds.endCompaction(job, cause)
		return false
	}
	ds.mu.Lock()
	ds.apply(seq, positions[0], payload)
	ds.mu.Unlock()
	// The relocated values are the cache's, an entry's, or fresh copies:
	// cached as they are, as a published group's are.
	ds.cachePublished(positions[0], payload)
	job.stats.Relocated += len(payload.ops)
	return true
}

// finishCompaction removes the segments below the cut.
func (ds *Dataspace) finishCompaction(job *compactJob) bool {
	// One more sync of what holds the relocated values before the
	// originals go: it catches a sync failure the file system reports
	// late (ext4 data=journal), which would otherwise cost old data.
	if err := ds.log.Confirm(job.cut); err != nil {
		cause := ds.failStop(fmt.Errorf("compaction: confirm relocated values: %w", err))
		ds.endCompaction(job, cause)
		return false
	}
	before := len(ds.log.Segments())
	ds.segMu.Lock()
	err := ds.log.RemoveSegmentsBefore(job.cut)
	ds.segMu.Unlock()
	if err != nil {
		cause := ds.failStop(fmt.Errorf("compaction: remove segments: %w", err))
		ds.endCompaction(job, cause)
		return false
	}
	job.stats.RemovedSegments = before - len(ds.log.Segments())
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
	return true
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
