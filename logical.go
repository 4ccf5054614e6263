package holdfast

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-db/holdfast/internal/wal"
)

// View is a consistent, read-only view of one dataspace at one sequence
// number, for logical snapshots (holdfast snapshot save, GET
// /v1/snapshot): writes go on, and the view does not see them. The index
// is copied in O(1) (copy-on-write); values that are not kept in memory
// are read from the log, so compaction of the dataspace's database pauses
// between chunks while any View is open, keeping the segments they live
// in. Close it promptly.
type View struct {
	ds      *Dataspace
	index   *keyIndex
	lastSeq uint64
	closed  bool
}

// View opens a view of the dataspace as it is now.
func (ds *Dataspace) View(ctx context.Context) (*View, error) {
	q := &ds.db.quiesce
	q.mu.Lock()
	q.views++
	q.signalPausedLocked()
	q.mu.Unlock()
	// Wait out a compaction step already running: it may be removing
	// segments.
	for {
		q.mu.Lock()
		busy := q.maint > 0
		q.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ctx.Done():
			ds.db.quiesce.endView()
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	ds.mu.Lock() // Copy marks the tree shared: one copier at a time
	if ds.stopErr != nil {
		err := ds.stopErr
		ds.mu.Unlock()
		ds.db.quiesce.endView()
		return nil, err
	}
	v := &View{ds: ds, index: ds.index.Copy(), lastSeq: ds.lastSeq}
	ds.mu.Unlock()
	return v, nil
}

func (q *quiesceState) endView() {
	q.mu.Lock()
	q.views--
	q.mu.Unlock()
}

// LastSeq is the sequence number the view is at.
func (v *View) LastSeq() uint64 { return v.lastSeq }

// Len is the number of keys in the view.
func (v *View) Len() int { return v.index.Len() }

// viewChunk is how many keys Range reads from the log at a time.
const viewChunk = 4096

// Range calls fn for every key in ascending order with its value (valid
// only during the call). Values read from the log are verified; damage
// stops the dataspace and is returned as ErrCorrupt.
func (v *View) Range(ctx context.Context, fn func(key, value []byte) error) error {
	if v.closed {
		return fmt.Errorf("holdfast: view of %q: %w", v.ds.name, ErrClosed)
	}
	ds := v.ds
	var chunk []*entry
	flush := func() error {
		values := make([][]byte, len(chunk))
		need := map[wal.RecordPos][]int{} // a batch's values share a record: read it once
		var pos []wal.RecordPos
		for i, e := range chunk {
			if e.isInl {
				values[i] = e.inline
				continue
			}
			if need[e.pos] == nil {
				pos = append(pos, e.pos)
			}
			need[e.pos] = append(need[e.pos], i)
		}
		if len(pos) > 0 {
			err := ds.log.ReadRecords(pos, func(j int, rec wal.Record) error {
				p, err := decodeRecord(rec.Payload, rec.Seq)
				if err != nil {
					return ds.corruptStop(fmt.Errorf("%w: record %d at segment %d offset %d: %v", ErrCorrupt, rec.Seq, pos[j].Segment, pos[j].GroupOffset, err))
				}
				for _, i := range need[pos[j]] {
					e := chunk[i]
					if !recordHolds(&p, rec.Seq, e) {
						return ds.corruptStop(fmt.Errorf("%w: record %d at segment %d offset %d does not hold key %q", ErrCorrupt, rec.Seq, e.pos.Segment, e.pos.GroupOffset, e.key))
					}
					values[i] = append([]byte(nil), p.ops[e.opIndex].value...)
				}
				return nil
			})
			if err != nil {
				if errors.Is(err, wal.ErrCorrupt) {
					err = ds.corruptStop(fmt.Errorf("%w: %w", ErrCorrupt, err))
				}
				return err
			}
		}
		for i, e := range chunk {
			if err := fn([]byte(e.key), values[i]); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return ctx.Err()
	}
	var err error
	v.index.Scan(func(e *entry) bool {
		chunk = append(chunk, e)
		if len(chunk) == viewChunk {
			err = flush()
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// Close releases the view; compaction may go on.
func (v *View) Close() {
	if !v.closed {
		v.closed = true
		v.ds.db.quiesce.endView()
	}
}
