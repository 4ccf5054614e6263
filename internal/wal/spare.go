package wal

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// A spare is the segment after the current one, made ahead of need as
// "<id>.seg.tmp": preallocated, then filled with zeros and fsynced. The
// log's writes then land on blocks the file system has already written,
// so each group's fdatasync flushes data only. Writing into space that is
// merely preallocated (an unwritten extent on ext4 and XFS) makes every
// fdatasync also commit the extent's conversion to the journal: on this
// project's test machine that doubled the cost of a 4 KiB O_DIRECT write
// plus fdatasync on ext4 (86 µs zeroed against 138 µs preallocated) and
// more on XFS (docs/benchmarks.md).
//
// The spare is started when the current segment is half full, on a
// goroutine of its own (or, with Options.InlineSpare, on the appending
// goroutine when a roll needs it), and it becomes the next segment at the
// roll: header block, fsync, rename, directory sync, as createSegment
// does. Until then it is an orphan temporary file that recovery removes.
// A failed write or sync while making it fails the log as any other does
// (I5): nothing acknowledged is in the spare, but the device has reported
// an error, and the dataspace stops and recovers from what it holds
// rather than carry on past it. (Made in the background, the failure
// reaches the next append or sync; made inline, the roll.)
type spare struct {
	id   uint64
	size int64
	tmp  string
	done chan struct{}
	stop atomic.Bool // Close is waiting: give up
	f    vfs.File    // open for writing under tmp; nil if err is set
	err  error
}

// zeroChunkBytes is how much of a spare one write fills: small enough that
// the log's own writes are not queued long behind it. Made in the
// background, the spare then waits as long as the write took before the
// next one, so it takes at most about half the device's time: at full
// speed it made every writer wait 2 ms and more about ten times a second
// with 4 MiB segments, against three to four times without spares
// (docs/benchmarks.md).
const zeroChunkBytes = 256 << 10

// maybeStartSpare starts making the next segment once the current one is
// half full. Appending goroutine only.
func (w *Writer) maybeStartSpare(off, size int64) {
	if w.spare != nil || w.opts.InlineSpare || off < size/2 {
		return
	}
	w.spare = w.newSpare(w.curID()+1, w.segmentSizeAfter(size))
	go w.makeSpare(w.spare)
}

func (w *Writer) newSpare(id uint64, size int64) *spare {
	return &spare{id: id, size: size, tmp: w.segPath(id) + tmpSuffix, done: make(chan struct{})}
}

// makeSpare creates, preallocates, zero-fills and fsyncs s, then closes
// s.done. An error other than being stopped by Close fails the log.
func (w *Writer) makeSpare(s *spare) {
	defer close(s.done)
	f, err := w.openWrite(s.tmp, vfs.OCreate|vfs.OTrunc)
	if err != nil {
		err = fmt.Errorf("create spare segment %s: %w", s.tmp, err)
	} else if err = w.zeroFill(s, f); err != nil {
		f.Close()
	} else {
		s.f = f
		return
	}
	s.err = err
	if !w.opts.InlineSpare && !s.stop.Load() {
		w.fail(err) // the roll returns it when made inline
	}
}

func (w *Writer) zeroFill(s *spare, f vfs.File) error {
	if err := f.Preallocate(0, s.size); err != nil {
		return fmt.Errorf("preallocate %s to %d bytes: %w", s.tmp, s.size, err)
	}
	zeros := vfs.AlignedBuffer(int(min(zeroChunkBytes, s.size)))
	for off := int64(0); off < s.size; off += int64(len(zeros)) {
		if s.stop.Load() {
			return fmt.Errorf("spare segment %s: %w", s.tmp, ErrClosed)
		}
		chunk := zeros[:min(int64(len(zeros)), s.size-off)]
		start := time.Now()
		if _, err := f.WriteAt(chunk, off); err != nil {
			return fmt.Errorf("zero-fill %s at offset %d: %w", s.tmp, off, err)
		}
		if !w.opts.InlineSpare {
			time.Sleep(time.Since(start))
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.tmp, err)
	}
	return nil
}

// takeSpareIf returns, when use is set, the spare made for segment id,
// waiting for it to be finished; nil when there is none (or it was made
// for another id), and the caller creates the segment the usual way. A
// spare that failed returns its error. Made inline (InlineSpare), the
// spare is size bytes. Appending goroutine only.
func (w *Writer) takeSpareIf(use bool, id uint64, size int64) (*spare, error) {
	if !use {
		return nil, nil
	}
	if w.spare == nil && w.opts.InlineSpare {
		w.spare = w.newSpare(id, size)
		w.makeSpare(w.spare)
	}
	s := w.spare
	if s == nil {
		return nil, nil
	}
	w.spare = nil
	<-s.done
	if s.err != nil {
		return nil, s.err
	}
	if s.id == id {
		return s, nil
	}
	w.dropSpare(s)
	return nil, nil
}

// dropSpare closes and removes a spare that will not be used. A removal
// that fails leaves an orphan for recovery to remove.
func (w *Writer) dropSpare(s *spare) {
	if s.f != nil {
		s.f.Close()
	}
	if err := w.fsys.Remove(s.tmp); err != nil && s.err == nil {
		w.logger.Warn("wal: removing an unused spare segment", "file", s.tmp, "err", err)
	}
}

// closeSpare stops a spare being made and removes it; for Close.
func (w *Writer) closeSpare() {
	s := w.spare
	if s == nil {
		return
	}
	w.spare = nil
	s.stop.Store(true)
	<-s.done
	w.dropSpare(s)
}
