package wal

import (
	"cmp"
	"fmt"
	"slices"
)

// ReadRecords reads many records back from the device and verifies each
// as ReadRecord does, but in log order through a sliding window of
// scanWindowBytes, so records that lie close together cost one large
// O_DIRECT read instead of one small read each. fn gets each record with
// its index in pos; the record's Payload is valid only until fn returns. It is safe to call concurrently with appends; the
// segments must stay (the engine holds them against compaction).
func (w *Writer) ReadRecords(pos []RecordPos, fn func(i int, rec Record) error) error {
	order := make([]int, len(pos))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := pos[a], pos[b]
		return cmp.Or(cmp.Compare(pa.Segment, pb.Segment), cmp.Compare(pa.GroupOffset, pb.GroupOffset), cmp.Compare(pa.Logical, pb.Logical))
	})
	var s *segReader
	var segID uint64
	defer func() {
		if s != nil {
			s.f.Close()
		}
	}()
	var scratch []byte
	for _, i := range order {
		p := pos[i]
		if p.Length < recordHeaderBytes || int64(p.Length) > recordHeaderBytes+MaxRecordBytes ||
			p.Logical < groupHeaderBytes || p.Logical > MaxGroupBytes ||
			p.GroupOffset < HeaderBlockBytes || p.GroupOffset%pageBytes != 0 {
			return fmt.Errorf("wal: ReadRecords: invalid position %+v", p)
		}
		if s == nil || segID != p.Segment {
			if s != nil {
				s.f.Close()
				s = nil
			}
			w.mu.Lock()
			if w.closed {
				w.mu.Unlock()
				return ErrClosed
			}
			_, found := slices.BinarySearch(w.segs, p.Segment)
			direct := w.directRead
			w.mu.Unlock()
			if !found {
				return fmt.Errorf("wal: segment %d is not in the log", p.Segment)
			}
			name := w.segPath(p.Segment)
			f, err := openRead(w.fsys, name, &direct, w.logger)
			if err != nil {
				return err
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			s, segID = &segReader{f: f, path: name, size: fi.Size()}, p.Segment
		}
		firstSector := p.Logical / sectorPayloadBytes
		lastSector := (p.Logical + int64(p.Length) - 1) / sectorPayloadBytes
		physStart := p.GroupOffset + firstSector*sectorBytes
		physEnd := p.GroupOffset + (lastSector+1)*sectorBytes
		if physEnd > s.size {
			return &CorruptError{Path: s.path, Offset: physStart, Reason: fmt.Sprintf("record at group %d runs past the segment end %d", p.GroupOffset, s.size)}
		}
		phys, err := s.read(physStart, physEnd-physStart)
		if err != nil {
			return err
		}
		logical, at, err := destamp(scratch[:0], phys, p.Segment, physStart)
		if err != nil {
			return &CorruptError{Path: s.path, Offset: physStart + at, Reason: fmt.Sprintf("record at group %d: %v", p.GroupOffset, err)}
		}
		scratch = logical
		skip := p.Logical - firstSector*sectorPayloadBytes
		rec, err := decodeRecordFrame(logical[skip : skip+int64(p.Length)])
		if err != nil {
			return &CorruptError{Path: s.path, Offset: physStart, Reason: fmt.Sprintf("record at group %d: %v", p.GroupOffset, err)}
		}
		if err := fn(i, rec); err != nil {
			return err
		}
	}
	return nil
}
