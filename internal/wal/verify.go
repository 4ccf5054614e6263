package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
)

func (w *Writer) hasSegment(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, found := slices.BinarySearch(w.segs, id)
	return found
}

// Verify reads the log from its first segment up to upTo (a Position the
// Writer returned earlier, such as a checkpoint's) from the device and
// checks every header block and group: stamps, checksums and sequence
// continuity, and that a sealed segment holds only zeros after its last
// group. It changes nothing and runs concurrently with appends. Damage is
// reported as a *CorruptError naming the file and offset.
//
// Recovery from a checkpoint replays only what follows the checkpoint;
// Verify lets the engine check the rest in the background, so damage
// anywhere in the log is still found, not only where a read happens to
// look.
func (w *Writer) Verify(upTo Position) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	var ids []uint64
	for _, id := range w.segs {
		if id <= upTo.Segment {
			ids = append(ids, id)
		}
	}
	direct := w.directRead
	w.mu.Unlock()
	var nextSeq uint64
	for _, id := range ids {
		end := int64(-1) // scan the whole segment
		if id == upTo.Segment {
			end = upTo.Offset
		}
		n, err := w.verifySegment(id, end, nextSeq, direct)
		if err != nil && errors.Is(err, fs.ErrNotExist) && !w.hasSegment(id) {
			// Removed by compaction while we were verifying: nothing
			// left to check there, and the next segment starts fresh.
			nextSeq = 0
			continue
		}
		if err != nil {
			return err
		}
		nextSeq = n
	}
	return nil
}

// verifySegment checks one segment up to end (-1: all of it, which must
// then end in zeros) and returns the seq after its last group.
func (w *Writer) verifySegment(id uint64, end int64, wantFirst uint64, direct bool) (uint64, error) {
	name := w.segPath(id)
	rf, err := openRead(w.fsys, name, &direct, w.logger)
	if err != nil {
		return 0, fmt.Errorf("wal: verify: open %s: %w", name, err)
	}
	defer rf.Close()
	fi, err := rf.Stat()
	if err != nil {
		return 0, fmt.Errorf("wal: verify: stat %s: %w", name, err)
	}
	size := fi.Size()
	if size < MinSegmentSizeBytes || size%pageBytes != 0 {
		return 0, &CorruptError{Path: name, Offset: size, Reason: fmt.Sprintf("segment size %d is not a multiple of %d of at least %d bytes", size, pageBytes, MinSegmentSizeBytes)}
	}
	s := &segReader{f: rf, path: name, size: size}
	hb, err := s.read(0, HeaderBlockBytes)
	if err != nil {
		return 0, err
	}
	firstSeq, err := decodeHeaderBlock(hb, id)
	if err != nil {
		return 0, &CorruptError{Path: name, Offset: 0, Reason: err.Error()}
	}
	if wantFirst != 0 && firstSeq != wantFirst {
		return 0, &CorruptError{Path: name, Offset: 0, Reason: fmt.Sprintf("segment starts at seq %d, previous segment ended before seq %d", firstSeq, wantFirst)}
	}
	nextSeq := firstSeq
	off := int64(HeaderBlockBytes)
	limit := size
	if end >= 0 {
		limit = min(end, size)
	}
	for off < limit {
		first, err := s.read(off, sectorBytes)
		if err != nil {
			return 0, err
		}
		if end < 0 && allZero(first) {
			break // the end of a sealed segment's groups
		}
		h, err := decodeGroupHeader(first, id, off)
		if err != nil {
			return 0, &CorruptError{Path: name, Offset: off, Reason: fmt.Sprintf("group header: %v", err)}
		}
		if off+h.extentBytes() > size {
			return 0, &CorruptError{Path: name, Offset: off, Reason: "group runs past the end of the segment"}
		}
		phys, err := s.read(off, h.extentBytes())
		if err != nil {
			return 0, err
		}
		g, at, err := decodeGroup(phys, id, off)
		if err != nil {
			return 0, &CorruptError{Path: name, Offset: off + at, Reason: fmt.Sprintf("group: %v", err)}
		}
		if g.FirstSeq != nextSeq {
			return 0, &CorruptError{Path: name, Offset: off, Reason: fmt.Sprintf("group starts at seq %d, want %d", g.FirstSeq, nextSeq)}
		}
		nextSeq += uint64(len(g.Records))
		off += h.extentBytes()
	}
	if end < 0 {
		// Past the last group of a sealed segment: never written.
		for ; off < size; off += sectorBytes {
			sec, err := s.read(off, sectorBytes)
			if err != nil {
				return 0, err
			}
			if !allZero(sec) {
				return 0, &CorruptError{Path: name, Offset: off, Reason: "written bytes after the last group of a sealed segment"}
			}
		}
	}
	return nextSeq, nil
}
