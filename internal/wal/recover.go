package wal

import (
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"

	"github.com/holdfast-db/holdfast/vfs"
)

// scanWindowBytes is how much of a segment recovery reads at a time.
const scanWindowBytes = 1 << 20

// Recover opens the log in dir, creating dir and a first segment durably if
// it holds none, and verifies it by reading the device: O_DIRECT reads, or
// buffered reads with a logged warning where the file system refuses
// O_DIRECT. Every segment from start on is fdatasynced before it is read,
// so that nothing recovery returns can be taken away by a crash (I2).
//
// fn is called for every record of every valid group from start on, in
// order. start is the zero Position to scan every segment, or a Position
// returned earlier by Writer.Position (a checkpoint); segments before
// start.Segment are then ignored. Record payloads passed to fn are fresh
// copies. If fn returns an error, Recover stops and returns it. fn may
// have been called for records before Recover returns an error; the caller
// must then discard what it built. A nil fn only verifies.
//
// Where the valid log ends, recovery decides (see docs/format.md):
//   - zeros up to the end of the segment: the clean end;
//   - in the last segment, a partially persisted write that no later group
//     vouches was durable: a torn tail. Its bytes are saved to
//     "<segment>.broken" (synced), overwritten with zeros and fdatasynced,
//     and a warning is logged (RecoverInfo.TornBytes, BrokenFile);
//   - anything else: a *CorruptError (matching ErrCorrupt) naming the file
//     and offset. Nothing is cut then.
//
// Before returning, Recover removes orphan *.seg.tmp files and syncs the
// directory.
func Recover(fsys vfs.FS, dir string, opts Options, start Position, fn func(Record, RecordPos) error) (*Writer, RecoverInfo, error) {
	var info RecoverInfo
	if opts.SegmentSizeBytes == 0 {
		opts.SegmentSizeBytes = DefaultSegmentSizeBytes
	}
	if opts.SegmentSizeBytes < MinSegmentSizeBytes || opts.SegmentSizeBytes%pageBytes != 0 {
		return nil, info, fmt.Errorf("wal: SegmentSizeBytes %d must be a multiple of %d and at least MinSegmentSizeBytes %d",
			opts.SegmentSizeBytes, pageBytes, MinSegmentSizeBytes)
	}
	if opts.FirstSeq == 0 {
		opts.FirstSeq = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if fn == nil {
		fn = func(Record, RecordPos) error { return nil }
	}
	w := &Writer{
		fsys:        fsys,
		dir:         dir,
		opts:        opts,
		logger:      opts.Logger,
		directWrite: !opts.BufferedIO,
		directRead:  !opts.forceBufferedReads,
		readers:     make(map[uint64]vfs.File),
	}
	w.stats.DirectIO = w.directWrite
	r := &recovery{w: w, fn: fn, info: &info}
	if err := r.run(start); err != nil {
		r.closeAll()
		return nil, info, err
	}
	info.DirectIO = w.directRead
	w.stats.Segments = len(w.segs)
	return w, info, nil
}

// recovery holds the state of one Recover call.
type recovery struct {
	w    *Writer
	fn   func(Record, RecordPos) error
	info *RecoverInfo
}

func (r *recovery) closeAll() {
	if r.w.cur != nil {
		r.w.cur.Close()
	}
}

func (r *recovery) run(start Position) error {
	w := r.w
	if err := r.ensureDir(); err != nil {
		return err
	}
	names, err := w.fsys.List(w.dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", w.dir, err)
	}
	removedTmp := false
	for _, name := range names {
		id, tmp, ok := parseSegmentName(name)
		switch {
		case !ok:
			continue
		case tmp:
			// A segment whose creation did not finish: it was never
			// renamed into place, so nothing was written to it.
			if err := w.fsys.Remove(path.Join(w.dir, name)); err != nil {
				return fmt.Errorf("wal: remove orphan %s: %w", path.Join(w.dir, name), err)
			}
			removedTmp = true
		default:
			w.segs = append(w.segs, id)
		}
	}
	slices.Sort(w.segs)
	w.segSize = make(map[uint64]int64, len(w.segs))
	for i, id := range w.segs {
		info, err := w.fsys.Stat(w.segPath(id))
		if err != nil {
			return fmt.Errorf("wal: stat %s: %w", w.segPath(id), err)
		}
		w.segSize[id] = info.Size()
		if i < len(w.segs)-1 {
			w.stats.SegmentBytes += info.Size()
		}
	}
	if removedTmp {
		if err := vfs.SyncDir(w.fsys, w.dir); err != nil {
			return fmt.Errorf("wal: sync directory %s: %w", w.dir, err)
		}
	}

	if len(w.segs) == 0 {
		if start != (Position{}) {
			return &CorruptError{Path: w.segPath(start.Segment), Reason: fmt.Sprintf("checkpoint %+v names a segment, but the log directory holds none", start)}
		}
		size := w.firstSegmentSize()
		f, err := w.createSegment(1, w.opts.FirstSeq, size, false)
		if err != nil {
			return fmt.Errorf("wal: create first segment: %w", err)
		}
		w.cur = f
		w.segs = []uint64{1}
		w.addSegmentLocked(1, size)
		w.curSize = size
		w.off, w.syncedOff = HeaderBlockBytes, HeaderBlockBytes
		w.nextSeq = w.opts.FirstSeq
		r.info.LastSeq = w.nextSeq - 1
		r.info.Segments = 1
		return nil
	}

	first := 0
	if start != (Position{}) {
		i, found := slices.BinarySearch(w.segs, start.Segment)
		if !found {
			return &CorruptError{Path: w.segPath(start.Segment), Reason: fmt.Sprintf("checkpoint %+v names a segment that is missing (log holds %s)", start, w.segRange())}
		}
		first = i
	}
	for i := first + 1; i < len(w.segs); i++ {
		if w.segs[i] != w.segs[i-1]+1 {
			return &CorruptError{Path: w.segPath(w.segs[i-1] + 1), Reason: fmt.Sprintf("segment missing: %s is followed by %s", segmentName(w.segs[i-1]), segmentName(w.segs[i]))}
		}
	}

	var nextSeq uint64
	for i := first; i < len(w.segs); i++ {
		last := i == len(w.segs)-1
		from := int64(HeaderBlockBytes)
		var wantFirst uint64 // 0: take it from the header
		switch {
		case i == first && start != (Position{}):
			from = start.Offset
		case i > first:
			wantFirst = nextSeq
		}
		end, seq, err := r.scanSegment(w.segs[i], last, from, wantFirst, start, i == first)
		if err != nil {
			return err
		}
		nextSeq = seq
		r.info.Segments++
		if last {
			w.off, w.syncedOff = end, end
		}
	}
	w.nextSeq = nextSeq
	r.info.LastSeq = nextSeq - 1
	if err := vfs.SyncDir(w.fsys, w.dir); err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", w.dir, err)
	}
	return nil
}

// ensureDir creates dir if it is missing, syncing the parent of every
// directory it creates.
func (r *recovery) ensureDir() error {
	w := r.w
	var missing []string
	for d := path.Clean(w.dir); ; d = path.Dir(d) {
		ok, err := vfs.Exists(w.fsys, d)
		if err != nil {
			return fmt.Errorf("wal: stat %s: %w", d, err)
		}
		if ok || d == path.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return nil
	}
	if err := w.fsys.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("wal: create %s: %w", w.dir, err)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := vfs.SyncDir(w.fsys, path.Dir(missing[i])); err != nil {
			return fmt.Errorf("wal: sync directory %s: %w", path.Dir(missing[i]), err)
		}
	}
	return nil
}

// segReader reads a segment through an aligned window.
type segReader struct {
	f      vfs.File
	path   string
	size   int64
	win    []byte
	winOff int64
	winLen int64
}

// read returns the bytes [off, off+n) of the segment; off and n are
// multiples of 512 and inside the file. The slice is valid until the next
// read.
func (s *segReader) read(off, n int64) ([]byte, error) {
	if off >= s.winOff && off+n <= s.winOff+s.winLen {
		return s.win[off-s.winOff : off-s.winOff+n], nil
	}
	lo := vfs.AlignDown(off)
	hi := min(s.size, max(vfs.AlignUp(off+n), lo+scanWindowBytes))
	if int64(len(s.win)) < hi-lo {
		s.win = vfs.AlignedBuffer(int(hi - lo))
	}
	s.winLen = 0
	got, err := s.f.ReadAt(s.win[:hi-lo], lo)
	if int64(got) < hi-lo {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("wal: read %s at offset %d (%d bytes): %w", s.path, lo, hi-lo, err)
	}
	s.winOff, s.winLen = lo, hi-lo
	return s.win[off-lo : off-lo+n], nil
}

// scanSegment verifies segment id from offset from and passes its valid
// records to fn. wantFirst, if not zero, is the seq its header must name.
// It returns where the valid log ends in it and the next seq.
func (r *recovery) scanSegment(id uint64, last bool, from int64, wantFirst uint64, start Position, isStart bool) (int64, uint64, error) {
	w := r.w
	name := w.segPath(id)
	rf, err := openRead(w.fsys, name, &w.directRead, w.logger)
	if err != nil {
		return 0, 0, fmt.Errorf("wal: open %s: %w", name, err)
	}
	defer rf.Close()
	// Make what the device (or its cache) holds durable before believing
	// it: after a process crash, written but unsynced data is readable
	// but could still be lost.
	if err := rf.SyncData(); err != nil {
		return 0, 0, fmt.Errorf("wal: fdatasync %s before reading it: %w", name, err)
	}
	fi, err := rf.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	size := fi.Size()
	if size < MinSegmentSizeBytes || size%pageBytes != 0 {
		return 0, 0, &CorruptError{Path: name, Offset: size, Reason: fmt.Sprintf("segment size %d is not a multiple of %d of at least %d bytes", size, pageBytes, MinSegmentSizeBytes)}
	}
	s := &segReader{f: rf, path: name, size: size}
	hb, err := s.read(0, HeaderBlockBytes)
	if err != nil {
		return 0, 0, err
	}
	firstSeq, err := decodeHeaderBlock(hb, id)
	if err != nil {
		return 0, 0, &CorruptError{Path: name, Offset: 0, Reason: err.Error()}
	}
	nextSeq := firstSeq
	switch {
	case wantFirst != 0 && firstSeq != wantFirst:
		return 0, 0, &CorruptError{Path: name, Offset: 0, Reason: fmt.Sprintf("segment starts at seq %d, previous segment ended before seq %d", firstSeq, wantFirst)}
	case isStart && start != (Position{}):
		if from < HeaderBlockBytes || from > size || from%pageBytes != 0 {
			return 0, 0, &CorruptError{Path: name, Offset: from, Reason: fmt.Sprintf("checkpoint %+v is not a group boundary inside the segment (size %d)", start, size)}
		}
		if start.NextSeq < firstSeq || (from == HeaderBlockBytes && start.NextSeq != firstSeq) {
			return 0, 0, &CorruptError{Path: name, Offset: from, Reason: fmt.Sprintf("checkpoint %+v does not match the segment's first seq %d", start, firstSeq)}
		}
		nextSeq = start.NextSeq
	}

	if last {
		// The writer continues in the last segment; open it now so a torn
		// tail can be cut through the same descriptor.
		f, err := w.openWrite(name, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("wal: open %s for writing: %w", name, err)
		}
		w.cur, w.curSize = f, size
	}

	off := from
	for off < size {
		first, err := s.read(off, sectorBytes)
		if err != nil {
			return 0, 0, err
		}
		h, err := decodeGroupHeader(first, id, off)
		if err != nil || off+h.extentBytes() > size {
			break
		}
		phys, err := s.read(off, h.extentBytes())
		if err != nil {
			return 0, 0, err
		}
		g, _, err := decodeGroup(phys, id, off)
		if err != nil {
			break
		}
		if g.FirstSeq != nextSeq {
			return 0, 0, &CorruptError{Path: name, Offset: off, Reason: fmt.Sprintf("group starts at seq %d, want %d", g.FirstSeq, nextSeq)}
		}
		for i, rec := range g.Records {
			pos := RecordPos{Segment: id, GroupOffset: off, Logical: g.Offs[i], Length: int32(recordHeaderBytes + len(rec.Payload))}
			if err := r.fn(Record{Seq: rec.Seq, Payload: slices.Clone(rec.Payload)}, pos); err != nil {
				return 0, 0, err
			}
		}
		r.info.Groups++
		r.info.Records += len(g.Records)
		nextSeq += uint64(g.Count)
		off += g.extentBytes()
	}
	if off >= size {
		return off, nextSeq, nil
	}
	cutEnd, err := r.classify(s, id, off, last)
	if err != nil {
		return 0, 0, err
	}
	if cutEnd > off {
		if err := r.cut(s, off, cutEnd); err != nil {
			return 0, 0, err
		}
	}
	return off, nextSeq, nil
}

// classify decides what lies at p, the first offset of segment id where no
// valid group starts. It returns p if the rest of the segment is zeros (the
// clean end), the end of the window to cut if it is a torn tail, or a
// *CorruptError.
//
// A torn write leaves sectors that are either new (stamped) or never
// written (zero), because groups never overwrite acknowledged bytes. It
// can only be in the last segment, and only in groups written after the
// last successful sync. So the bytes from p are a torn tail exactly when:
// every non-zero sector has its stamp; the group at p, if its header
// survived, has at least one sector missing (a group whose sectors are all
// there but which does not check out is damage); no later group whose
// sectors are all there fails to check out; and no later valid group
// carries a durable offset past p (which would prove p was synced).
func (r *recovery) classify(s *segReader, id uint64, p int64, last bool) (int64, error) {
	name := s.path
	corrupt := func(off int64, format string, args ...any) error {
		return &CorruptError{Path: name, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}

	// One pass over [p, size): stamps, and the extent of what was written.
	var lastWritten int64 = -1 // end of the last non-zero sector
	var candidates []int64     // page offsets after p whose header decodes
	for off := p; off < s.size; off += scanWindowBytes {
		n := min(scanWindowBytes, s.size-off)
		b, err := s.read(off, n)
		if err != nil {
			return 0, err
		}
		for i := int64(0); i < n; i += sectorBytes {
			at := off + i
			switch classifySector(id, uint64(at)/sectorBytes, b[i:i+sectorBytes]) {
			case sectorBadStamp:
				return 0, corrupt(at, "%v", errBadStamp)
			case sectorStamped:
				lastWritten = at + sectorBytes
				if at > p && at%pageBytes == 0 {
					if _, err := decodeGroupHeader(b[i:i+sectorBytes], id, at); err == nil {
						candidates = append(candidates, at)
					}
				}
			}
		}
	}
	if lastWritten < 0 {
		return p, nil // clean end
	}
	whyP := "data after the end of the valid log"
	allWritten := func(off, extent int64) (bool, error) {
		for at := off; at < off+extent; at += sectorBytes {
			b, err := s.read(at, sectorBytes)
			if err != nil {
				return false, err
			}
			if classifySector(id, uint64(at)/sectorBytes, b) != sectorStamped {
				return false, nil
			}
		}
		return true, nil
	}

	// The group at p.
	first, err := s.read(p, sectorBytes)
	if err != nil {
		return 0, err
	}
	if classifySector(id, uint64(p)/sectorBytes, first) == sectorStamped {
		h, err := decodeGroupHeader(first, id, p)
		if err != nil {
			return 0, corrupt(p, "written sector does not hold a valid group header: %v", err)
		}
		if p+h.extentBytes() > s.size {
			return 0, corrupt(p, "group extent %d bytes runs past the segment end %d", h.extentBytes(), s.size)
		}
		complete, err := allWritten(p, h.extentBytes())
		if err != nil {
			return 0, err
		}
		phys, err := s.read(p, h.extentBytes())
		if err != nil {
			return 0, err
		}
		g, badAt, derr := decodeGroup(phys, id, p)
		if complete {
			if derr != nil {
				return 0, corrupt(p+badAt, "group at %d has every sector written but does not check out: %v", p, derr)
			}
			// Valid but rejected by the scan: only a seq mismatch does that,
			// and the scan reports it itself. Keep this as a guard.
			return 0, corrupt(p, "group at %d (seq %d) does not continue the log", p, g.FirstSeq)
		}
		whyP = fmt.Sprintf("group at %d is partly written (%v)", p, derr)
	} else {
		whyP = "group header sector at the end of the log was never written"
	}

	if !last {
		return 0, corrupt(p, "%s, in a segment that is not the last", whyP)
	}
	for _, q := range candidates {
		b, err := s.read(q, sectorBytes)
		if err != nil {
			return 0, err
		}
		h, err := decodeGroupHeader(b, id, q)
		if err != nil || q+h.extentBytes() > s.size {
			continue // cannot happen: it decoded during the pass
		}
		complete, err := allWritten(q, h.extentBytes())
		if err != nil {
			return 0, err
		}
		phys, err := s.read(q, h.extentBytes())
		if err != nil {
			return 0, err
		}
		g, badAt, derr := decodeGroup(phys, id, q)
		switch {
		case derr != nil && complete:
			return 0, corrupt(q+badAt, "%s; group at %d after it has every sector written but does not check out: %v", whyP, q, derr)
		case derr == nil && g.Durable > p:
			return 0, corrupt(p, "%s, but the valid group at %d was written after the log was durable up to %d", whyP, q, g.Durable)
		}
	}
	return vfs.AlignUp(lastWritten), nil
}

// cut saves the torn tail [p, end) of the segment to a .broken file,
// overwrites it with zeros and syncs.
func (r *recovery) cut(s *segReader, p, end int64) error {
	w := r.w
	broken, err := r.brokenName(s.path)
	if err != nil {
		return err
	}
	bf, err := w.fsys.OpenFile(broken, vfs.OWrOnly|vfs.OCreate|vfs.OExcl, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create %s: %w", broken, err)
	}
	err = func() error {
		for off := p; off < end; off += scanWindowBytes {
			b, err := s.read(off, min(scanWindowBytes, end-off))
			if err != nil {
				return err
			}
			if _, err := bf.Write(b); err != nil {
				return fmt.Errorf("wal: write %s: %w", broken, err)
			}
		}
		if err := bf.Sync(); err != nil {
			return fmt.Errorf("wal: fsync %s: %w", broken, err)
		}
		return nil
	}()
	if cerr := bf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close %s: %w", broken, cerr)
	}
	if err != nil {
		return err
	}
	// The copy's name must be durable before the original is destroyed.
	if err := vfs.SyncDir(w.fsys, w.dir); err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", w.dir, err)
	}
	zeros := vfs.AlignedBuffer(int(min(scanWindowBytes, end-p)))
	for off := p; off < end; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), end-off)
		if _, err := w.cur.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("wal: zero torn tail of %s at %d: %w", s.path, off, err)
		}
	}
	if err := w.cur.SyncData(); err != nil {
		return fmt.Errorf("wal: fdatasync %s after cutting its torn tail: %w", s.path, err)
	}
	s.winLen = 0 // the window holds the bytes just cut
	r.info.TornBytes = end - p
	r.info.BrokenFile = broken
	w.logger.Warn("wal: cut a torn tail (never acknowledged) from the log",
		"file", s.path, "offset", p, "bytes", end-p, "saved_to", broken)
	return nil
}

// brokenName picks "<segment>.broken", or "<segment>.broken.N" if earlier
// cuts of the same segment are kept.
func (r *recovery) brokenName(seg string) (string, error) {
	names, err := r.w.fsys.List(r.w.dir)
	if err != nil {
		return "", fmt.Errorf("wal: list %s: %w", r.w.dir, err)
	}
	base := path.Base(seg) + brokenSuffix
	candidate := base
	for n := 1; slices.Contains(names, candidate); n++ {
		candidate = fmt.Sprintf("%s.%d", base, n)
	}
	return path.Join(r.w.dir, candidate), nil
}
