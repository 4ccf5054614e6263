package wal

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/holdfast-db/holdfast/vfs"
)

// Read-only access to a log, for offline checks (holdfast check) of a
// directory that must not change: a restored volume, a copy, a directory
// another process may own. Scan reads what Recover reads and decides what
// Recover decides, but changes nothing: it does not create the directory,
// remove orphan .seg.tmp files, fdatasync segments before reading them,
// or cut a torn tail. What Recover would do is reported instead.

// ScanInfo reports what Scan found.
type ScanInfo struct {
	Segments  []SegmentInfo
	Groups    int
	Records   int
	FirstSeq  uint64 // the first segment's first sequence number
	LastSeq   uint64 // the last valid record's
	TornBytes int64  // bytes Recover would cut as a torn tail
	TornFile  string // the segment holding them
	TornAt    int64  // and where they start
	Orphans   []string
	DirectIO  bool
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	ID        uint64
	Path      string
	SizeBytes int64
	// EndOffset is where the segment's valid groups end.
	EndOffset int64
	FirstSeq  uint64
}

// Scan verifies the log in dir without changing anything and passes every
// record of every valid group to fn (nil: none), in order. Damage that
// Recover would refuse is returned as a *CorruptError naming the file and
// offset; ScanInfo then holds what was read before it. A missing or empty
// directory is an error: Recover would create a log, Scan has none to read.
func Scan(fsys vfs.FS, dir string, opts Options, fn func(Record, RecordPos) error) (ScanInfo, error) {
	var info ScanInfo
	if fn == nil {
		fn = func(Record, RecordPos) error { return nil }
	}
	w := &Writer{fsys: fsys, dir: dir, opts: opts, logger: opts.Logger, directRead: !opts.forceBufferedReads, readers: map[uint64]vfs.File{}}
	if w.logger == nil {
		w.logger = discardLogger()
	}
	names, err := fsys.List(dir)
	if err != nil {
		return info, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	for _, name := range names {
		id, tmp, ok := parseSegmentName(name)
		switch {
		case !ok:
		case tmp:
			info.Orphans = append(info.Orphans, name)
		default:
			w.segs = append(w.segs, id)
		}
	}
	slices.Sort(w.segs)
	if len(w.segs) == 0 {
		return info, &CorruptError{Path: w.segPath(1), Reason: "the log directory holds no segment"}
	}
	for i := 1; i < len(w.segs); i++ {
		if w.segs[i] != w.segs[i-1]+1 {
			return info, &CorruptError{Path: w.segPath(w.segs[i-1] + 1), Reason: fmt.Sprintf("segment missing: %s is followed by %s", segmentName(w.segs[i-1]), segmentName(w.segs[i]))}
		}
	}
	r := &recovery{w: w, fn: fn, info: &RecoverInfo{}}
	var nextSeq uint64
	for i, id := range w.segs {
		si, next, err := r.scanSegmentReadOnly(id, i == len(w.segs)-1, nextSeq, &info)
		if si.Path != "" {
			info.Segments = append(info.Segments, si)
		}
		if err != nil {
			info.Groups, info.Records = r.info.Groups, r.info.Records
			return info, err
		}
		if i == 0 {
			info.FirstSeq = si.FirstSeq
		}
		nextSeq = next
	}
	info.Groups, info.Records = r.info.Groups, r.info.Records
	info.LastSeq = nextSeq - 1
	info.DirectIO = w.directRead
	return info, nil
}

// scanSegmentReadOnly is scanSegment without the writes: no fdatasync, no
// descriptor for writing, no cut.
func (r *recovery) scanSegmentReadOnly(id uint64, last bool, wantFirst uint64, info *ScanInfo) (SegmentInfo, uint64, error) {
	w := r.w
	name := w.segPath(id)
	si := SegmentInfo{ID: id, Path: name}
	rf, err := openRead(w.fsys, name, &w.directRead, w.logger)
	if err != nil {
		return si, 0, fmt.Errorf("wal: open %s: %w", name, err)
	}
	defer rf.Close()
	fi, err := rf.Stat()
	if err != nil {
		return si, 0, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	size := fi.Size()
	si.SizeBytes = size
	if size < MinSegmentSizeBytes || size%pageBytes != 0 {
		return si, 0, &CorruptError{Path: name, Offset: size, Reason: fmt.Sprintf("segment size %d is not a multiple of %d of at least %d bytes", size, pageBytes, MinSegmentSizeBytes)}
	}
	s := &segReader{f: rf, path: name, size: size}
	hb, err := s.read(0, HeaderBlockBytes)
	if err != nil {
		return si, 0, err
	}
	firstSeq, err := decodeHeaderBlock(hb, id)
	if err != nil {
		return si, 0, &CorruptError{Path: name, Offset: 0, Reason: err.Error()}
	}
	si.FirstSeq = firstSeq
	if wantFirst != 0 && firstSeq != wantFirst {
		return si, 0, &CorruptError{Path: name, Offset: 0, Reason: fmt.Sprintf("segment starts at seq %d, previous segment ended before seq %d", firstSeq, wantFirst)}
	}
	nextSeq := firstSeq
	off := int64(HeaderBlockBytes)
	for off < size {
		first, err := s.read(off, sectorBytes)
		if err != nil {
			return si, 0, err
		}
		h, err := decodeGroupHeader(first, id, off)
		if err != nil || off+h.extentBytes() > size {
			break
		}
		phys, err := s.read(off, h.extentBytes())
		if err != nil {
			return si, 0, err
		}
		g, _, err := decodeGroup(phys, id, off)
		if err != nil {
			break
		}
		if g.FirstSeq != nextSeq {
			return si, 0, &CorruptError{Path: name, Offset: off, Reason: fmt.Sprintf("group starts at seq %d, want %d", g.FirstSeq, nextSeq)}
		}
		for i, rec := range g.Records {
			pos := RecordPos{Segment: id, GroupOffset: off, Logical: g.Offs[i], Length: int32(recordHeaderBytes + len(rec.Payload))}
			if err := r.fn(Record{Seq: rec.Seq, Payload: slices.Clone(rec.Payload)}, pos); err != nil {
				return si, 0, err
			}
		}
		r.info.Groups++
		r.info.Records += len(g.Records)
		nextSeq += uint64(g.Count)
		off += g.extentBytes()
	}
	si.EndOffset = off
	if off >= size {
		return si, nextSeq, nil
	}
	cutEnd, err := r.classify(s, id, off, last)
	if err != nil {
		return si, 0, err
	}
	if cutEnd > off {
		info.TornBytes, info.TornFile, info.TornAt = cutEnd-off, name, off
	}
	return si, nextSeq, nil
}

// Reader reads single records of a log without changing it.
type Reader struct{ w *Writer }

// OpenReader opens the log in dir for ReadRecord only.
func OpenReader(fsys vfs.FS, dir string, opts Options) (*Reader, error) {
	ids, err := ListSegments(fsys, dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{fsys: fsys, dir: dir, opts: opts, logger: opts.Logger, directRead: !opts.forceBufferedReads, readers: map[uint64]vfs.File{}, segs: ids}
	if w.logger == nil {
		w.logger = discardLogger()
	}
	return &Reader{w: w}, nil
}

// ReadRecord reads and verifies one record, as Writer.ReadRecord does.
func (r *Reader) ReadRecord(pos RecordPos) (Record, error) { return r.w.ReadRecord(pos) }

// Close closes the files the Reader opened.
func (r *Reader) Close() error { return r.w.Close() }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
