package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

const (
	segmentSuffix = ".seg"
	tmpSuffix     = ".tmp"
	brokenSuffix  = ".broken"
)

// segmentName is the file name of segment id: 16 lower-case hex digits
// and ".seg".
func segmentName(id uint64) string { return fmt.Sprintf("%016x%s", id, segmentSuffix) }

// parseSegmentName returns the id of a segment file name (tmp says whether
// it is an unfinished "<id>.seg.tmp").
func parseSegmentName(name string) (id uint64, tmp, ok bool) {
	if strings.HasSuffix(name, tmpSuffix) {
		name, tmp = strings.TrimSuffix(name, tmpSuffix), true
	}
	hex, found := strings.CutSuffix(name, segmentSuffix)
	if !found || len(hex) != 16 || strings.ToLower(hex) != hex {
		return 0, false, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	if err != nil || id == 0 {
		return 0, false, false
	}
	return id, tmp, true
}

// Writer appends groups to the log. See the package documentation for
// which methods may run concurrently.
type Writer struct {
	fsys   vfs.FS
	dir    string
	opts   Options
	logger *slog.Logger
	// directWrite and directRead say whether O_DIRECT is in use; they are
	// set before the Writer is shared and only cleared (by a fallback)
	// under mu.
	directWrite bool
	directRead  bool

	// Used only by the appending goroutine.
	cur     vfs.File // the current segment, open for writing
	buf     []byte   // aligned buffer for group writes
	logical []byte   // scratch for a group's logical stream
	offs    []int64
	spare   *spare          // the next segment, being made ahead (spare.go)
	ioq     chan asyncGroup // to the I/O goroutine (async.go), once started

	mu        sync.Mutex
	flush     *Flush           // the group AppendGroupAsync queued last, until waited for
	segs      []uint64         // every segment in dir, ascending; the last is the current one
	segSize   map[uint64]int64 // the size of each segment in segs
	curSize   int64            // size of the current segment
	off       int64            // where the next group goes in the current segment
	nextSeq   uint64
	syncedOff int64 // the current segment is durable up to here
	// writtenAt records when each group not yet known durable was
	// written (its end offset in the current segment), oldest first, so
	// OldestUnsynced stays right when a sync covers only some of them.
	writtenAt []groupTime
	failed    error // the first write or sync error; sticky
	closed    bool
	readers   map[uint64]vfs.File
	stats     Stats

	// reads and readBytes count ReadRecord and ReadRecordRange (Stats).
	reads, readBytes atomic.Int64
}

type groupTime struct {
	end int64
	at  time.Time
}

func (w *Writer) curID() uint64 { return w.segs[len(w.segs)-1] }

func (w *Writer) segPath(id uint64) string { return path.Join(w.dir, segmentName(id)) }

// check returns the error every call must return once the Writer failed or
// was closed. w.mu is held.
func (w *Writer) checkLocked() error {
	if w.closed {
		return ErrClosed
	}
	if w.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, w.failed)
	}
	return nil
}

// fail records the first write or sync error and returns the error the
// caller sees. A failed sync is never retried: the page cache can no
// longer be trusted, only recovery from the device can.
func (w *Writer) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = err
		w.logger.Error("wal: write-ahead log failed; refusing all further writes", "dir", w.dir, "err", err)
	}
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// AppendGroup writes recs as one group: one write of whole pages at a fresh
// page boundary, then, if sync, one fdatasync. recs must carry the
// consecutive seqs that continue the log (the first is Position().NextSeq).
// If the group does not fit in the current segment, the segment is synced
// and a new one is created first. Bad input returns an error and changes
// nothing; any write or sync error fails the Writer for good.
func (w *Writer) AppendGroup(recs []Record, sync bool) ([]RecordPos, error) {
	w.waitFlush()
	return w.appendGroup(recs, sync)
}

// appendGroup is AppendGroup without waiting for the groups
// AppendGroupAsync queued: those run it, in order.
func (w *Writer) appendGroup(recs []Record, sync bool) ([]RecordPos, error) {
	w.mu.Lock()
	if err := w.checkLocked(); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	nextSeq, off, size := w.nextSeq, w.off, w.curSize
	w.mu.Unlock()

	if len(recs) == 0 {
		return nil, errors.New("wal: AppendGroup: no records")
	}
	for i, r := range recs {
		if want := nextSeq + uint64(i); r.Seq != want {
			return nil, fmt.Errorf("wal: AppendGroup: record %d has seq %d, want %d (seqs continue the log without gaps)", i, r.Seq, want)
		}
	}
	logicalBytes, err := groupLogicalBytes(recs)
	if err != nil {
		return nil, err
	}
	extent := physicalBytes(logicalBytes)
	if off+extent > size {
		if err := w.roll(extent); err != nil {
			return nil, w.fail(err)
		}
		w.mu.Lock()
		off, size = w.off, w.curSize
		w.mu.Unlock()
	}
	id := w.curID()
	w.maybeStartSpare(off+extent, size)

	w.mu.Lock()
	durable := w.syncedOff
	w.mu.Unlock()
	w.logical, w.offs = appendGroupLogical(w.logical[:0], w.offs[:0], id, durable, recs)
	if int64(len(w.buf)) < extent {
		w.buf = vfs.AlignedBuffer(int(extent))
	}
	phys := w.buf[:extent]
	stampInto(phys, w.logical, id, off)
	if _, err := w.cur.WriteAt(phys, off); err != nil {
		return nil, w.fail(fmt.Errorf("write group at %s offset %d: %w", w.segPath(id), off, err))
	}
	pos := make([]RecordPos, len(recs))
	for i, r := range recs {
		pos[i] = RecordPos{Segment: id, GroupOffset: off, Logical: w.offs[i], Length: int32(recordHeaderBytes + len(r.Payload))}
	}

	w.mu.Lock()
	w.off = off + extent
	w.nextSeq = nextSeq + uint64(len(recs))
	w.stats.BytesWritten += extent
	w.stats.Groups++
	now := time.Now()
	if len(w.writtenAt) == 0 {
		w.stats.OldestUnsynced = now
	}
	w.writtenAt = append(w.writtenAt, groupTime{end: w.off, at: now})
	w.stats.UnsyncedBytes = w.off - w.syncedOff
	w.mu.Unlock()

	if sync {
		if err := w.syncCurrent(); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// Sync makes every group written so far durable (one fdatasync of the
// current segment; earlier segments were synced when the log rolled past
// them). It does nothing if nothing was written since the last sync.
func (w *Writer) Sync() error {
	w.waitFlush()
	w.mu.Lock()
	err := w.checkLocked()
	unsynced := w.stats.UnsyncedBytes
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if unsynced == 0 {
		return nil
	}
	return w.syncCurrent()
}

// Confirm fdatasyncs every segment whose id is at least from, even when
// nothing was written since the last sync. A destructive step that relies
// on earlier syncs (compaction removing the segments whose values it has
// copied) calls it first: a file system that reports a failed sync late,
// on the next sync, as ext4 with data=journal does, is caught here rather
// than after the originals are gone. Any error fails the Writer.
func (w *Writer) Confirm(from uint64) error {
	w.waitFlush()
	w.mu.Lock()
	if err := w.checkLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	var ids []uint64
	for _, id := range w.segs {
		if id >= from && id != w.curID() {
			ids = append(ids, id)
		}
	}
	w.mu.Unlock()
	for _, id := range ids {
		w.mu.Lock()
		f, err := w.readerLocked(id)
		w.mu.Unlock()
		if err == nil {
			err = f.SyncData()
		}
		if err != nil {
			return w.fail(fmt.Errorf("confirm: fdatasync %s: %w", w.segPath(id), err))
		}
	}
	return w.syncCurrent()
}

// syncCurrent fdatasyncs the current segment and advances the durable
// watermark that later groups will carry.
func (w *Writer) syncCurrent() error {
	w.mu.Lock()
	// An earlier sync may have failed: never sync again after that (the
	// file system may have dropped the data and will now say yes).
	if err := w.checkLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	f, id, off := w.cur, w.curID(), w.off
	w.mu.Unlock()
	return w.syncSegment(f, id, off)
}

// syncSegment fdatasyncs f, the current segment id, which holds groups up
// to off; groups written after off while it runs are not covered.
func (w *Writer) syncSegment(f vfs.File, id uint64, off int64) error {
	if err := f.SyncData(); err != nil {
		return w.fail(fmt.Errorf("fdatasync %s: %w", w.segPath(id), err))
	}
	if w.opts.ConfirmSyncs {
		if err := f.SyncData(); err != nil {
			return w.fail(fmt.Errorf("fdatasync %s (confirming the previous one): %w", w.segPath(id), err))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats.Syncs++
	if id != w.curID() || off <= w.syncedOff {
		return nil
	}
	w.syncedOff = off
	k := 0
	for k < len(w.writtenAt) && w.writtenAt[k].end <= off {
		k++
	}
	w.writtenAt = append(w.writtenAt[:0], w.writtenAt[k:]...)
	w.stats.UnsyncedBytes = w.off - off
	w.stats.OldestUnsynced = time.Time{}
	if len(w.writtenAt) > 0 {
		w.stats.OldestUnsynced = w.writtenAt[0].at
	}
	return nil
}

// roll makes the current segment durable, then creates the next one, big
// enough for a group of extent bytes, and makes it current.
func (w *Writer) roll(extent int64) error {
	w.mu.Lock()
	// A failed sync waited for fails the roll: no segment may follow one
	// whose groups are not known durable.
	err := w.checkLocked()
	unsynced := w.stats.UnsyncedBytes
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if unsynced > 0 {
		// A torn tail may only be in the last segment: nothing is
		// written to a new segment while the old one has unsynced groups.
		if err := w.syncCurrent(); err != nil {
			return err
		}
	}
	w.mu.Lock()
	id, nextSeq, curSize := w.curID()+1, w.nextSeq, w.curSize
	w.mu.Unlock()
	size := max(w.segmentSizeAfter(curSize), HeaderBlockBytes+extent)
	f, err := w.createSegment(id, nextSeq, size, true)
	if err != nil {
		return err
	}
	old := w.cur
	w.cur = f
	w.mu.Lock()
	w.segs = append(w.segs, id)
	w.addSegmentLocked(id, size)
	w.curSize = size
	w.off = HeaderBlockBytes
	w.syncedOff = HeaderBlockBytes
	w.stats.Segments = len(w.segs)
	w.mu.Unlock()
	if err := old.Close(); err != nil {
		w.logger.Warn("wal: closing the previous segment", "err", err)
	}
	return nil
}

// createSegment creates segment id durably before anything uses it:
// <id>.seg.tmp is created and preallocated (or, with fromSpare, the spare
// made ahead for id is taken: spare.go), given its header block and
// fsynced, then renamed into place and the directory synced. It returns
// the segment opened for writing under its final name.
func (w *Writer) createSegment(id, firstSeq uint64, sizeBytes int64, fromSpare bool) (vfs.File, error) {
	final := w.segPath(id)
	tmp := final + tmpSuffix
	var f vfs.File
	preallocated := int64(0)
	s, err := w.takeSpareIf(fromSpare, id, sizeBytes)
	switch {
	case err != nil:
		return nil, err
	case s != nil:
		f, preallocated = s.f, s.size
	default:
		if f, err = w.openWrite(tmp, vfs.OCreate|vfs.OTrunc); err != nil {
			return nil, fmt.Errorf("create segment %s: %w", tmp, err)
		}
	}
	err = func() error {
		if sizeBytes > preallocated {
			if err := f.Preallocate(0, sizeBytes); err != nil {
				return fmt.Errorf("preallocate %s to %d bytes: %w", tmp, sizeBytes, err)
			}
		}
		hb := vfs.AlignedBuffer(HeaderBlockBytes)
		encodeHeaderBlock(hb, id, firstSeq)
		if _, err := f.WriteAt(hb, 0); err != nil {
			return fmt.Errorf("write header block of %s: %w", tmp, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", tmp, err)
		}
		if err := w.fsys.Rename(tmp, final); err != nil {
			return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
		}
		if err := vfs.SyncDir(w.fsys, w.dir); err != nil {
			return fmt.Errorf("sync directory %s: %w", w.dir, err)
		}
		return nil
	}()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", tmp, cerr)
	}
	if err != nil {
		return nil, err
	}
	// Reopen under the final name, so that the descriptor (and anything
	// that names files, such as a fault injector) sees the segment's name.
	f, err = w.openWrite(final, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", final, err)
	}
	return f, nil
}

// openWrite opens name for writing groups: with O_DIRECT unless the options
// or the file system refuse it.
func (w *Writer) openWrite(name string, flag int) (vfs.File, error) {
	flag |= vfs.ORdWr
	if w.directWrite {
		f, err := w.fsys.OpenFile(name, flag|vfs.ODirect, 0o644)
		if !errors.Is(err, vfs.ErrDirectIOUnsupported) {
			return f, err
		}
		w.logger.Warn("wal: O_DIRECT refused; writing through the page cache with fdatasync", "file", name, "err", err)
		w.mu.Lock()
		w.directWrite = false
		w.stats.DirectIO = false
		w.mu.Unlock()
	}
	return w.fsys.OpenFile(name, flag, 0o644)
}

// openRead opens name for reading from the device: with O_DIRECT unless
// the file system refuses it (then buffered, with a warning).
func openRead(fsys vfs.FS, name string, direct *bool, logger *slog.Logger) (vfs.File, error) {
	if *direct {
		f, err := fsys.OpenFile(name, vfs.ORdOnly|vfs.ODirect, 0)
		if !errors.Is(err, vfs.ErrDirectIOUnsupported) {
			return f, err
		}
		logger.Warn("wal: O_DIRECT refused; reading the log through the page cache, which may hold data that is not on the device", "file", name, "err", err)
		*direct = false
	}
	return vfs.Open(fsys, name)
}

// reader returns a cached read descriptor for segment id. w.mu is held.
func (w *Writer) readerLocked(id uint64) (vfs.File, error) {
	if f, ok := w.readers[id]; ok {
		return f, nil
	}
	if _, found := slices.BinarySearch(w.segs, id); !found {
		return nil, fmt.Errorf("wal: segment %d is not in the log (segments %v)", id, w.segRange())
	}
	f, err := openRead(w.fsys, w.segPath(id), &w.directRead, w.logger)
	if err != nil {
		return nil, err
	}
	w.readers[id] = f
	return f, nil
}

func (w *Writer) segRange() string {
	if len(w.segs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d..%d", w.segs[0], w.segs[len(w.segs)-1])
}

// ReadRecord reads one record back from the device (O_DIRECT, aligned) and
// verifies the stamps of its sectors and its checksum. Damage is reported
// as a *CorruptError (matching ErrCorrupt) naming the file and offset. It is
// safe to call concurrently with appends; it does not refuse work after the
// Writer failed (the data it reads is checked either way), only after Close.
func (w *Writer) ReadRecord(pos RecordPos) (Record, error) {
	if err := checkRecordPos(pos); err != nil {
		return Record{}, fmt.Errorf("wal: ReadRecord: %w", err)
	}
	frame, physStart, err := w.readLogical(pos, pos.Logical, int64(pos.Length))
	if err != nil {
		return Record{}, err
	}
	rec, err := decodeRecordFrame(frame)
	if err != nil {
		return Record{}, &CorruptError{Path: w.segPath(pos.Segment), Offset: physStart, Reason: fmt.Sprintf("record at group %d: %v", pos.GroupOffset, err)}
	}
	return rec, nil
}

// ReadRecordRange reads n bytes at offset off of the payload of the record
// at pos back from the device (O_DIRECT, aligned): only the sectors that
// hold those bytes, rounded out to the device's alignment, so that one
// small part of a large record costs a small read. The sectors' stamps are
// checked as ReadRecord checks them, and a bad one is a *CorruptError
// naming the file and offset. The record's checksum covers its whole
// payload and is therefore not checked: the caller must verify what it
// reads by other means (the engine's ops carry checksums of their own).
// Like ReadRecord, it is safe to call concurrently with appends.
func (w *Writer) ReadRecordRange(pos RecordPos, off, n int) ([]byte, error) {
	if err := checkRecordPos(pos); err != nil {
		return nil, fmt.Errorf("wal: ReadRecordRange: %w", err)
	}
	if payload := int(pos.Length) - recordHeaderBytes; off < 0 || n <= 0 || off > payload || n > payload-off {
		return nil, fmt.Errorf("wal: ReadRecordRange: %d bytes at offset %d lie outside the record's %d-byte payload", n, off, payload)
	}
	b, _, err := w.readLogical(pos, pos.Logical+recordHeaderBytes+int64(off), int64(n))
	return b, err
}

// Locate names the segment file that holds the record at pos and the file
// offset of byte off of its payload: where to point when the caller finds
// damage in bytes ReadRecordRange returned.
func (w *Writer) Locate(pos RecordPos, off int) (path string, offset int64) {
	l := pos.Logical + recordHeaderBytes + int64(off)
	return w.segPath(pos.Segment), pos.GroupOffset + l/sectorPayloadBytes*sectorBytes + stampBytes + l%sectorPayloadBytes
}

// checkRecordPos rejects a position no record can have.
func checkRecordPos(pos RecordPos) error {
	if pos.Length < recordHeaderBytes || int64(pos.Length) > recordHeaderBytes+MaxRecordBytes ||
		pos.Logical < groupHeaderBytes || pos.Logical > MaxGroupBytes ||
		pos.GroupOffset < HeaderBlockBytes || pos.GroupOffset%pageBytes != 0 {
		return fmt.Errorf("invalid position %+v", pos)
	}
	return nil
}

// readLogical reads the bytes [start, start+n) of the logical stream of the
// group at pos.GroupOffset in segment pos.Segment: the sectors that hold
// them, in one aligned read, with their stamps checked. It returns the
// bytes and the file offset of the first sector they lie in.
func (w *Writer) readLogical(pos RecordPos, start, n int64) ([]byte, int64, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, 0, ErrClosed
	}
	f, err := w.readerLocked(pos.Segment)
	w.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	name := w.segPath(pos.Segment)

	firstSector := start / sectorPayloadBytes
	lastSector := (start + n - 1) / sectorPayloadBytes
	physStart := pos.GroupOffset + firstSector*sectorBytes
	physEnd := pos.GroupOffset + (lastSector+1)*sectorBytes
	readStart, readEnd := vfs.AlignDown(physStart), vfs.AlignUp(physEnd)
	buf := vfs.AlignedBuffer(int(readEnd - readStart))
	if got, err := f.ReadAt(buf, readStart); got < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("wal: read %s at offset %d (%d bytes): %w", name, readStart, len(buf), err)
	}
	w.reads.Add(1)
	w.readBytes.Add(int64(len(buf)))
	phys := buf[physStart-readStart : physEnd-readStart]
	logical, at, err := destamp(make([]byte, 0, (lastSector-firstSector+1)*sectorPayloadBytes), phys, pos.Segment, physStart)
	if err != nil {
		return nil, 0, &CorruptError{Path: name, Offset: physStart + at, Reason: fmt.Sprintf("record at group %d: %v", pos.GroupOffset, err)}
	}
	skip := start - firstSector*sectorPayloadBytes
	return logical[skip : skip+n : skip+n], physStart, nil
}

// Position returns where the next group goes and the seq it must carry.
func (w *Writer) Position() Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Position{Segment: w.curID(), Offset: w.off, NextSeq: w.nextSeq}
}

// Stats returns counters and the current loss window.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Reads, s.ReadBytes = w.reads.Load(), w.readBytes.Load()
	return s
}

// segmentSizeAfter is the size of the segment that follows one of cur
// bytes: twice as large, up to SegmentSizeBytes. A new log starts with a
// small segment (firstSegmentBytes), only preallocated, so that creating
// a dataspace writes little; the segments after it are zero-filled ahead
// of need (spare.go), so the log leaves preallocated space early, and each
// spare, twice the current segment, is ready before the current one is
// full.
func (w *Writer) segmentSizeAfter(cur int64) int64 {
	return min(w.opts.SegmentSizeBytes, max(2*cur, w.firstSegmentSize()))
}

// firstSegmentSize is the size of a new log's first segment.
func (w *Writer) firstSegmentSize() int64 {
	first := int64(firstSegmentBytes)
	if w.opts.firstSegmentBytes > 0 {
		first = w.opts.firstSegmentBytes
	}
	return min(w.opts.SegmentSizeBytes, first)
}

// addSegmentLocked records the size of a segment added to segs; w.mu is
// held or the Writer is not yet shared.
func (w *Writer) addSegmentLocked(id uint64, size int64) {
	if w.segSize == nil {
		w.segSize = make(map[uint64]int64)
	}
	if n := len(w.segs); n > 1 {
		w.stats.SegmentBytes += w.segSize[w.segs[n-2]] // the previous current
	}
	w.segSize[id] = size
}

// Segments returns the ids of the segment files in the log, ascending.
func (w *Writer) Segments() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.segs)
}

// RemoveSegmentsBefore deletes every segment whose id is below id, then
// syncs the directory: DetachSegmentsBefore and Run in one.
func (w *Writer) RemoveSegmentsBefore(id uint64) error {
	r, err := w.DetachSegmentsBefore(id)
	if err != nil {
		return err
	}
	return r.Run()
}

// A Removal deletes the files of segments DetachSegmentsBefore took out of
// the log.
type Removal struct {
	w   *Writer
	ids []uint64 // ascending
	// paused is how long RunPaced waited between deletions.
	paused time.Duration
}

// Len returns how many segments the removal deletes.
func (r *Removal) Len() int { return len(r.ids) }

// DetachSegmentsBefore takes every segment whose id is below id out of the
// log (Segments, Stats and reads no longer see them) and returns a Removal
// that deletes their files. A ReadRecord of a detached segment that is
// running concurrently may fail. The current segment cannot be detached:
// id may be at most the current segment's id.
func (w *Writer) DetachSegmentsBefore(id uint64) (*Removal, error) {
	w.waitFlush()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkLocked(); err != nil {
		return nil, err
	}
	if cur := w.curID(); id > cur {
		return nil, fmt.Errorf("wal: detach segments before %d: would remove the current segment %d", id, cur)
	}
	r := &Removal{w: w}
	for len(w.segs) > 1 && w.segs[0] < id {
		r.ids = append(r.ids, w.segs[0])
		w.stats.SegmentBytes -= w.segSize[w.segs[0]]
		delete(w.segSize, w.segs[0])
		w.segs = w.segs[1:]
	}
	for _, v := range r.ids {
		if f, ok := w.readers[v]; ok {
			f.Close()
			delete(w.readers, v)
		}
	}
	w.stats.Segments = len(w.segs)
	return r, nil
}

// Run deletes the detached segments' files. It may run on any goroutine,
// concurrently with the appending goroutine's calls (it touches only the
// detached files and the directory), but must return before Close is
// called. An error fails the Writer (the state of the directory is then
// unknown); once the Writer has failed, Run deletes nothing more and
// returns its error.
//
// Oldest first, with a directory sync after each removal: removals in one
// directory may otherwise persist in any order, and a crash could leave a
// gap in the segment sequence, which recovery must treat as a lost
// segment. This way a crash part-way always leaves a contiguous suffix.
// (A directory sync by the appending goroutine meanwhile, for a new
// segment, persists at most the one removal not yet synced: the oldest
// left.)
func (r *Removal) Run() error { return r.run(nil) }

// RunPaced is Run for a background caller: after each segment it waits
// twice as long as deleting it took, until hurry is closed. Deleting a
// large file frees its extents in a journal transaction that the log's
// own fdatasyncs then wait for (about a millisecond per 4 MiB segment on
// ext4 here), so removals back to back stall every client write for their
// sum.
func (r *Removal) RunPaced(hurry <-chan struct{}) error {
	if hurry == nil {
		hurry = make(chan struct{})
	}
	return r.run(hurry)
}

func (r *Removal) run(hurry <-chan struct{}) error {
	w := r.w
	var last time.Duration // how long the last segment's deletion took
	for i, v := range r.ids {
		select {
		case <-hurry:
			hurry = nil // no more pauses
		default:
		}
		if hurry != nil && i > 0 {
			wait := time.Now()
			t := time.NewTimer(min(2*last, maxRemovalPause))
			select {
			case <-t.C:
			case <-hurry:
				hurry = nil // no more pauses
			}
			t.Stop()
			r.paused += time.Since(wait)
		}
		start := time.Now()
		w.mu.Lock()
		err := w.checkLocked()
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if err := w.fsys.Remove(w.segPath(v)); err != nil {
			return w.fail(fmt.Errorf("remove %s: %w", w.segPath(v), err))
		}
		if err := vfs.SyncDir(w.fsys, w.dir); err != nil {
			return w.fail(fmt.Errorf("sync directory %s: %w", w.dir, err))
		}
		last = time.Since(start)
	}
	return nil
}

// maxRemovalPause bounds RunPaced's wait between two segments.
const maxRemovalPause = 100 * time.Millisecond

// Close closes the log's files. It does not sync: the engine syncs first
// when it should. Later calls return ErrClosed.
func (w *Writer) Close() error {
	w.stopIO()
	w.closeSpare()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	if w.cur != nil {
		errs = append(errs, w.cur.Close())
	}
	for id, f := range w.readers {
		errs = append(errs, f.Close())
		delete(w.readers, id)
	}
	return errors.Join(errs...)
}

// ListSegments returns the ids of the finished segment files in dir,
// ascending, without opening or changing anything.
func ListSegments(fsys vfs.FS, dir string) ([]uint64, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, n := range names {
		if id, tmp, ok := parseSegmentName(n); ok && !tmp {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
