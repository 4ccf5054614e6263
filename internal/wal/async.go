package wal

import "sync"

// A Flush is a group AppendGroupAsync queued: written and synced on the
// log's I/O goroutine while the caller prepares the next one.
type Flush struct {
	done chan struct{}
	err  error
	pos  []RecordPos
	run  func() error // set when the group is deferred until Wait
	once sync.Once
}

// Positions returns where the group's records are, once Wait has returned
// nil.
func (f *Flush) Positions() []RecordPos { return f.pos }

// Wait waits for the group to be written and synced and returns the
// result. It may be called more than once, from any goroutine.
func (f *Flush) Wait() error {
	if f.run != nil {
		f.once.Do(func() {
			f.err = f.run()
			close(f.done)
		})
	}
	<-f.done
	return f.err
}

// Done is closed when the group is durable or has failed (never, for a
// deferred one, until Wait runs it).
func (f *Flush) Done() <-chan struct{} { return f.done }

// AppendGroupAsync queues recs to be written as one group and synced
// (AppendGroup(recs, true)) on the log's own I/O goroutine, and returns at
// once. Groups queued one after another are written and synced in that
// order: the device stays busy while the caller plans the next group, and
// no group is written while another's fdatasync runs (a write queued
// behind a cache flush waits for it on the devices measured,
// docs/benchmarks.md). Groups that are waiting when the I/O goroutine
// turns to them are written together as one group, with one write and one
// fdatasync, up to CoalesceMaxBytes: each is durable when that sync is,
// and on a crash they are all there or none is. recs and their payloads
// must not change until the Flush is done. Every other call that appends,
// syncs, detaches or closes waits for the queued groups first. A failed
// group fails the Writer; the groups queued behind it are not written and
// report the failure.
//
// With deferred set the group is written and synced alone, only when Wait
// is called, after the groups queued before it: the same order of file
// operations, deterministically, for tests that replay a run.
func (w *Writer) AppendGroupAsync(recs []Record, deferred bool) *Flush {
	fl := &Flush{done: make(chan struct{})}
	w.mu.Lock()
	prev := w.flush
	w.flush = fl
	w.mu.Unlock()
	if deferred {
		fl.run = func() error {
			if prev != nil {
				prev.Wait()
			}
			pos, err := w.appendGroup(recs, true)
			fl.pos = pos
			return err
		}
		return fl
	}
	if w.ioq == nil {
		w.ioq = make(chan asyncGroup, ioQueueLen)
		go w.ioLoop(w.ioq)
	}
	w.ioq <- asyncGroup{fl, recs}
	return fl
}

// CoalesceMaxBytes bounds the payload of the queued groups the I/O
// goroutine writes together; a larger group is written alone.
const CoalesceMaxBytes = 1 << 20

// ioQueueLen is how many groups may wait for the I/O goroutine before
// AppendGroupAsync blocks.
const ioQueueLen = 64

type asyncGroup struct {
	fl   *Flush
	recs []Record
}

func (a asyncGroup) bytes() int {
	n := 0
	for _, r := range a.recs {
		n += len(r.Payload)
	}
	return n
}

// ioLoop is the I/O goroutine: it runs the queued groups until Close,
// each batch of them that is waiting as one group.
func (w *Writer) ioLoop(q <-chan asyncGroup) {
	var (
		batch []asyncGroup
		recs  []Record
		next  asyncGroup
		held  bool // next was received and waits for the following batch
	)
	for {
		if !held {
			a, ok := <-q
			if !ok {
				return
			}
			next = a
		}
		held = false
		batch = append(batch[:0], next)
		size := next.bytes()
	gather:
		for size < CoalesceMaxBytes {
			select {
			case a, ok := <-q:
				if !ok {
					break gather // Close waited for every Flush: q is empty
				}
				n := a.bytes()
				if size+n > CoalesceMaxBytes {
					next, held = a, true
					break gather
				}
				batch = append(batch, a)
				size += n
			default:
				break gather
			}
		}
		recs = recs[:0]
		for _, a := range batch {
			recs = append(recs, a.recs...)
		}
		pos, err := w.appendGroup(recs, true)
		clear(recs) // drop the references to the callers' payloads
		k := 0
		for _, a := range batch {
			if err == nil {
				a.fl.pos = pos[k : k+len(a.recs) : k+len(a.recs)]
				k += len(a.recs)
			}
			a.fl.err = err
			close(a.fl.done)
		}
		clear(batch)
	}
}

// waitFlush waits for the groups AppendGroupAsync queued; their results
// reach whoever waits on their Flushes (a failure has failed the Writer).
func (w *Writer) waitFlush() {
	w.mu.Lock()
	fl := w.flush
	w.mu.Unlock()
	if fl == nil {
		return
	}
	fl.Wait()
	w.mu.Lock()
	if w.flush == fl {
		w.flush = nil
	}
	w.mu.Unlock()
}

// stopIO ends the I/O goroutine once the queued groups are done; for
// Close.
func (w *Writer) stopIO() {
	w.waitFlush()
	if w.ioq != nil {
		close(w.ioq)
		w.ioq = nil
	}
}
