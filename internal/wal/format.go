package wal

// This file is the segment format: sector stamps, the header block, and
// groups. Everything here is pure (no I/O) so that it can be fuzzed and so
// that docs/format.md ("Write-ahead log") can be checked against it. Every
// integer is little-endian.
//
// Physical layout of a segment file:
//
//	[0, 4096)        header block: 8 stamped sectors
//	[4096, ...)      groups, each starting on a 4096-byte boundary and
//	                 occupying whole pages of stamped sectors
//	...              zeros up to the preallocated size (never written)
//
// Sector (512 bytes): stamp u64 | 504 bytes of the logical stream.
// The stamp of the sector at file offset 512*i of segment s is
// splitmix64(s<<40 ^ i) | 1<<63, so a written sector is never all zeros
// and a sector written to the wrong place, or to another segment, has the
// wrong stamp.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	sectorBytes        = 512
	stampBytes         = 8
	sectorPayloadBytes = sectorBytes - stampBytes // 504
	pageBytes          = 4096
	sectorsPerPage     = pageBytes / sectorBytes

	// Header block (logical stream of the first 8 sectors).
	headerMagic           = "HFWAL\x00\x00\x01"
	headerOffVersion      = 8
	headerOffSegment      = 12
	headerOffFirstSeq     = 20
	headerOffCRC          = 28
	headerUsedBytes       = 32
	headerBlockSectors    = HeaderBlockBytes / sectorBytes
	headerBlockLogicBytes = headerBlockSectors * sectorPayloadBytes

	// Group header (start of a group's logical stream).
	groupMagic           = 0x52474648 // "HFGR" in little-endian byte order
	groupOffFlags        = 4
	groupOffReserved     = 6
	groupOffSegment      = 8
	groupOffFirstSeq     = 16
	groupOffDurable      = 24
	groupOffCount        = 32
	groupOffRecordsBytes = 36
	groupOffCRC          = 40
	groupOffHeaderCRC    = 44
	groupHeaderBytes     = 48

	// Record frame: length u32 | crc32c u32 | seq u64 | payload.
	recordHeaderBytes = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// splitmix64 is the finaliser of Steele, Lea and Flood's SplitMix64
// generator applied to x + the golden gamma: the value SplitMix64 returns
// when its state is x.
func splitmix64(x uint64) uint64 {
	z := x + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// sectorStamp is the stamp of sector sectorIndex (file offset / 512) of
// segment segmentID. Its top bit is set, so it is never zero.
func sectorStamp(segmentID, sectorIndex uint64) uint64 {
	return splitmix64(segmentID<<40^sectorIndex) | 1<<63
}

// sectorKind classifies one 512-byte sector as read from the device.
type sectorKind uint8

const (
	sectorZero     sectorKind = iota // all zeros: never written
	sectorStamped                    // carries the stamp of its place
	sectorBadStamp                   // written, but not by us for this place: damaged or misdirected
)

var zeroSector [sectorBytes]byte

// classifySector looks at sector (exactly 512 bytes) found at file offset
// 512*sectorIndex of segment segmentID.
func classifySector(segmentID, sectorIndex uint64, sector []byte) sectorKind {
	if binary.LittleEndian.Uint64(sector) == sectorStamp(segmentID, sectorIndex) {
		return sectorStamped
	}
	if bytes.Equal(sector, zeroSector[:]) {
		return sectorZero
	}
	return sectorBadStamp
}

// stampInto lays the logical stream out in dst, which must hold
// physicalBytes(len(logical)) bytes or more, as stamped sectors starting at
// file offset off: every sector of dst gets its stamp, and payload bytes
// past the end of logical are zero.
func stampInto(dst, logical []byte, segmentID uint64, off int64) {
	base := uint64(off) / sectorBytes
	for i := 0; i*sectorBytes < len(dst); i++ {
		s := dst[i*sectorBytes : (i+1)*sectorBytes]
		binary.LittleEndian.PutUint64(s, sectorStamp(segmentID, base+uint64(i)))
		lo := i * sectorPayloadBytes
		n := 0
		if lo < len(logical) {
			n = copy(s[stampBytes:], logical[lo:])
		}
		clear(s[stampBytes+n:])
	}
}

// destamp checks the stamps of the sectors in phys (a whole number of
// sectors starting at file offset off) and returns their logical stream.
// On failure it returns the offset (relative to phys) of the first bad
// sector and why.
func destamp(dst, phys []byte, segmentID uint64, off int64) ([]byte, int64, error) {
	base := uint64(off) / sectorBytes
	for i := 0; i*sectorBytes < len(phys); i++ {
		s := phys[i*sectorBytes : (i+1)*sectorBytes]
		switch classifySector(segmentID, base+uint64(i), s) {
		case sectorZero:
			return dst, int64(i) * sectorBytes, errZeroSector
		case sectorBadStamp:
			return dst, int64(i) * sectorBytes, errBadStamp
		}
		dst = append(dst, s[stampBytes:]...)
	}
	return dst, 0, nil
}

var (
	errZeroSector = errors.New("sector never written (all zeros)")
	errBadStamp   = errors.New("sector stamp does not match its segment and offset (damaged or misdirected write)")
)

// physicalBytes is the extent of a group whose logical stream has
// logicalBytes bytes: whole sectors of 504 payload bytes, rounded up to
// whole pages.
func physicalBytes(logicalBytes int64) int64 {
	sectors := (logicalBytes + sectorPayloadBytes - 1) / sectorPayloadBytes
	return (sectors*sectorBytes + pageBytes - 1) / pageBytes * pageBytes
}

// ---- header block ----

// encodeHeaderBlock writes the 4096-byte header block of a segment into
// dst (len(dst) >= HeaderBlockBytes).
func encodeHeaderBlock(dst []byte, segmentID, firstSeq uint64) {
	var logical [headerUsedBytes]byte
	copy(logical[:], headerMagic)
	binary.LittleEndian.PutUint32(logical[headerOffVersion:], FormatVersion)
	binary.LittleEndian.PutUint64(logical[headerOffSegment:], segmentID)
	binary.LittleEndian.PutUint64(logical[headerOffFirstSeq:], firstSeq)
	binary.LittleEndian.PutUint32(logical[headerOffCRC:], crc32.Checksum(logical[:headerOffCRC], castagnoli))
	stampInto(dst[:HeaderBlockBytes], logical[:], segmentID, 0)
}

// decodeHeaderBlock checks the header block b (at least HeaderBlockBytes)
// of segment segmentID and returns the first seq it records.
func decodeHeaderBlock(b []byte, segmentID uint64) (uint64, error) {
	if len(b) < HeaderBlockBytes {
		return 0, fmt.Errorf("header block is %d bytes, want %d", len(b), HeaderBlockBytes)
	}
	logical, at, err := destamp(make([]byte, 0, headerBlockLogicBytes), b[:HeaderBlockBytes], segmentID, 0)
	if err != nil {
		return 0, fmt.Errorf("header block sector at %d: %w", at, err)
	}
	if string(logical[:len(headerMagic)]) != headerMagic {
		return 0, fmt.Errorf("bad magic %q", logical[:len(headerMagic)])
	}
	if v := binary.LittleEndian.Uint32(logical[headerOffVersion:]); v != FormatVersion {
		return 0, fmt.Errorf("format version %d, this build reads %d", v, FormatVersion)
	}
	if got, want := binary.LittleEndian.Uint32(logical[headerOffCRC:]), crc32.Checksum(logical[:headerOffCRC], castagnoli); got != want {
		return 0, fmt.Errorf("header block checksum %#08x, computed %#08x", got, want)
	}
	if id := binary.LittleEndian.Uint64(logical[headerOffSegment:]); id != segmentID {
		return 0, fmt.Errorf("header names segment %d, file is segment %d", id, segmentID)
	}
	if !allZero(logical[headerUsedBytes:]) {
		return 0, errors.New("header block padding is not zero")
	}
	firstSeq := binary.LittleEndian.Uint64(logical[headerOffFirstSeq:])
	if firstSeq == 0 {
		return 0, errors.New("header block first seq is 0")
	}
	return firstSeq, nil
}

func allZero(b []byte) bool {
	for len(b) >= sectorBytes {
		if !bytes.Equal(b[:sectorBytes], zeroSector[:]) {
			return false
		}
		b = b[sectorBytes:]
	}
	return bytes.Equal(b, zeroSector[:len(b)])
}

// ---- groups ----

// groupHeader is the decoded fixed part of a group.
type groupHeader struct {
	SegmentID    uint64
	FirstSeq     uint64
	Durable      int64 // the segment was durable up to here when the group was written
	Count        uint32
	RecordsBytes uint32
	CRC          uint32
}

// logicalBytes is the length of the group's logical stream.
func (h groupHeader) logicalBytes() int64 {
	return groupHeaderBytes + int64(h.RecordsBytes)
}

// extentBytes is the group's physical extent in the segment file.
func (h groupHeader) extentBytes() int64 { return physicalBytes(h.logicalBytes()) }

// groupLogicalBytes is the logical size of a group holding recs, and an
// error if a record or the group exceeds its limit.
func groupLogicalBytes(recs []Record) (int64, error) {
	n := int64(groupHeaderBytes)
	for i, r := range recs {
		if len(r.Payload) > MaxRecordBytes {
			return 0, fmt.Errorf("%w: record %d (seq %d) is %d bytes, limit MaxRecordBytes %d",
				ErrRecordTooLarge, i, r.Seq, len(r.Payload), MaxRecordBytes)
		}
		n += recordHeaderBytes + int64(len(r.Payload))
		if n > MaxGroupBytes {
			return 0, fmt.Errorf("%w: %d records exceed MaxGroupBytes %d", ErrGroupTooLarge, i+1, MaxGroupBytes)
		}
	}
	return n, nil
}

// appendGroupLogical appends the logical stream of a group to dst and
// returns it, with the logical offset of each record's frame appended to
// offs. recs must already be checked by groupLogicalBytes and carry
// consecutive seqs.
func appendGroupLogical(dst []byte, offs []int64, segmentID uint64, durable int64, recs []Record) ([]byte, []int64) {
	start := len(dst)
	var hdr [groupHeaderBytes]byte
	dst = append(dst, hdr[:]...)
	for _, r := range recs {
		frame := len(dst)
		offs = append(offs, int64(frame-start))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Payload)))
		dst = binary.LittleEndian.AppendUint32(dst, 0) // the CRC, below
		dst = binary.LittleEndian.AppendUint64(dst, r.Seq)
		dst = append(dst, r.Payload...)
		binary.LittleEndian.PutUint32(dst[frame+4:], recordCRC(dst[frame+8:]))
	}
	g := dst[start:]
	binary.LittleEndian.PutUint32(g[0:], groupMagic)
	binary.LittleEndian.PutUint64(g[groupOffSegment:], segmentID)
	if len(recs) > 0 {
		binary.LittleEndian.PutUint64(g[groupOffFirstSeq:], recs[0].Seq)
	}
	binary.LittleEndian.PutUint64(g[groupOffDurable:], uint64(durable))
	binary.LittleEndian.PutUint32(g[groupOffCount:], uint32(len(recs)))
	binary.LittleEndian.PutUint32(g[groupOffRecordsBytes:], uint32(len(g)-groupHeaderBytes))
	// The group checksum covers the header with both checksum fields zero,
	// then the records; the header checksum covers the header up to
	// itself, group checksum included, so that the extent can be trusted
	// before the whole group is read.
	binary.LittleEndian.PutUint32(g[groupOffCRC:], crc32.Checksum(g, castagnoli))
	binary.LittleEndian.PutUint32(g[groupOffHeaderCRC:], crc32.Checksum(g[:groupOffHeaderCRC], castagnoli))
	return dst, offs
}

// recordCRC is the CRC-32C of a record's seq (8 bytes, little-endian)
// followed by its payload: the frame from its offset 8 on.
func recordCRC(seqAndPayload []byte) uint32 {
	return crc32.Checksum(seqAndPayload, castagnoli)
}

// encodeGroup returns the physical bytes of a group of recs placed at file
// offset off of segment segmentID, and each record's logical frame offset.
// It is the reference encoder the tests and the fuzzer compare against; the
// Writer does the same into a reused aligned buffer.
func encodeGroup(segmentID uint64, off, durable int64, recs []Record) ([]byte, []int64) {
	logical, offs := appendGroupLogical(nil, nil, segmentID, durable, recs)
	phys := make([]byte, physicalBytes(int64(len(logical))))
	stampInto(phys, logical, segmentID, off)
	return phys, offs
}

// decodeGroupHeader parses and checks the group header in the first sector
// of a group at file offset off. It does not read past that sector, so the
// extent it returns can be trusted before the rest is read: the header
// checksum covers every field.
func decodeGroupHeader(firstSector []byte, segmentID uint64, off int64) (groupHeader, error) {
	var h groupHeader
	if off < HeaderBlockBytes || off%pageBytes != 0 {
		return h, fmt.Errorf("group offset %d is not a page boundary after the header block", off)
	}
	if len(firstSector) < sectorBytes {
		return h, fmt.Errorf("group needs at least %d bytes, have %d", sectorBytes, len(firstSector))
	}
	switch classifySector(segmentID, uint64(off)/sectorBytes, firstSector[:sectorBytes]) {
	case sectorZero:
		return h, errZeroSector
	case sectorBadStamp:
		return h, errBadStamp
	}
	g := firstSector[stampBytes : stampBytes+groupHeaderBytes]
	if m := binary.LittleEndian.Uint32(g); m != groupMagic {
		return h, fmt.Errorf("no group header (magic %#08x)", m)
	}
	if got, want := binary.LittleEndian.Uint32(g[groupOffHeaderCRC:]), crc32.Checksum(g[:groupOffHeaderCRC], castagnoli); got != want {
		return h, fmt.Errorf("group header checksum %#08x, computed %#08x", got, want)
	}
	if f := binary.LittleEndian.Uint16(g[groupOffFlags:]); f != 0 {
		return h, fmt.Errorf("unknown group flags %#04x", f)
	}
	if r := binary.LittleEndian.Uint16(g[groupOffReserved:]); r != 0 {
		return h, fmt.Errorf("reserved group field is %#04x, want 0", r)
	}
	h.SegmentID = binary.LittleEndian.Uint64(g[groupOffSegment:])
	h.FirstSeq = binary.LittleEndian.Uint64(g[groupOffFirstSeq:])
	durable := binary.LittleEndian.Uint64(g[groupOffDurable:])
	h.Count = binary.LittleEndian.Uint32(g[groupOffCount:])
	h.RecordsBytes = binary.LittleEndian.Uint32(g[groupOffRecordsBytes:])
	h.CRC = binary.LittleEndian.Uint32(g[groupOffCRC:])
	switch {
	case h.SegmentID != segmentID:
		return h, fmt.Errorf("group names segment %d, file is segment %d", h.SegmentID, segmentID)
	case h.FirstSeq == 0:
		return h, errors.New("group first seq is 0")
	case h.Count == 0:
		return h, errors.New("group holds no records")
	case int64(h.RecordsBytes) > MaxGroupBytes-groupHeaderBytes:
		return h, fmt.Errorf("group records length %d exceeds MaxGroupBytes %d", h.RecordsBytes, MaxGroupBytes)
	case int64(h.RecordsBytes) < int64(h.Count)*recordHeaderBytes:
		return h, fmt.Errorf("group records length %d cannot hold %d records", h.RecordsBytes, h.Count)
	case h.FirstSeq+uint64(h.Count)-1 < h.FirstSeq:
		return h, fmt.Errorf("group seqs %d+%d overflow", h.FirstSeq, h.Count)
	case durable < HeaderBlockBytes || durable > uint64(off) || durable%pageBytes != 0:
		return h, fmt.Errorf("group durable offset %d is outside [%d, %d] or not page-aligned", durable, HeaderBlockBytes, off)
	}
	h.Durable = int64(durable)
	return h, nil
}

// decodedGroup is a fully checked group.
type decodedGroup struct {
	groupHeader
	Records []Record // payloads alias the group's logical stream
	Offs    []int64  // each record frame's logical offset
}

// decodeGroup checks the group at file offset off of segment segmentID
// whose physical bytes begin phys (phys may run past the group). On
// failure, badAt is the offset relative to off of the sector or frame at
// fault.
func decodeGroup(phys []byte, segmentID uint64, off int64) (g decodedGroup, badAt int64, err error) {
	h, err := decodeGroupHeader(phys, segmentID, off)
	if err != nil {
		return g, 0, err
	}
	g.groupHeader = h
	extent := h.extentBytes()
	if int64(len(phys)) < extent {
		return g, int64(len(phys)), fmt.Errorf("group extent %d bytes runs past the %d bytes available", extent, len(phys))
	}
	logical, at, err := destamp(make([]byte, 0, extent/sectorBytes*sectorPayloadBytes), phys[:extent], segmentID, off)
	if err != nil {
		return g, at, err
	}
	n := h.logicalBytes()
	if !allZero(logical[n:]) {
		return g, n / sectorPayloadBytes * sectorBytes, errors.New("group padding is not zero")
	}
	body := logical[:n]
	want := binary.LittleEndian.Uint32(body[groupOffCRC:])
	crc := crc32.Checksum(body[:groupOffCRC], castagnoli)
	crc = crc32.Update(crc, castagnoli, make([]byte, groupHeaderBytes-groupOffCRC))
	crc = crc32.Update(crc, castagnoli, body[groupHeaderBytes:])
	if crc != want {
		return g, 0, fmt.Errorf("group checksum %#08x, computed %#08x", want, crc)
	}
	p := int64(groupHeaderBytes)
	g.Records = make([]Record, 0, h.Count)
	g.Offs = make([]int64, 0, h.Count)
	for i := uint32(0); i < h.Count; i++ {
		if n-p < recordHeaderBytes {
			return g, p / sectorPayloadBytes * sectorBytes, fmt.Errorf("record %d frame runs past the group", i)
		}
		length := int64(binary.LittleEndian.Uint32(body[p:]))
		rcrc := binary.LittleEndian.Uint32(body[p+4:])
		seq := binary.LittleEndian.Uint64(body[p+8:])
		if length > MaxRecordBytes || length > n-p-recordHeaderBytes {
			return g, p / sectorPayloadBytes * sectorBytes, fmt.Errorf("record %d length %d runs past the group or exceeds MaxRecordBytes", i, length)
		}
		if seq != h.FirstSeq+uint64(i) {
			return g, p / sectorPayloadBytes * sectorBytes, fmt.Errorf("record %d has seq %d, want %d", i, seq, h.FirstSeq+uint64(i))
		}
		payload := body[p+recordHeaderBytes : p+recordHeaderBytes+length : p+recordHeaderBytes+length]
		if got := recordCRC(body[p+8 : p+recordHeaderBytes+length]); got != rcrc {
			return g, p / sectorPayloadBytes * sectorBytes, fmt.Errorf("record %d (seq %d) checksum %#08x, computed %#08x", i, seq, rcrc, got)
		}
		g.Records = append(g.Records, Record{Seq: seq, Payload: payload})
		g.Offs = append(g.Offs, p)
		p += recordHeaderBytes + length
	}
	if p != n {
		return g, p / sectorPayloadBytes * sectorBytes, fmt.Errorf("records end at %d, group says %d", p, n)
	}
	return g, 0, nil
}

// decodeRecordFrame checks one record frame taken from a group's logical
// stream: frame is exactly the frame's bytes.
func decodeRecordFrame(frame []byte) (Record, error) {
	if len(frame) < recordHeaderBytes {
		return Record{}, fmt.Errorf("record frame is %d bytes, shorter than its %d-byte header", len(frame), recordHeaderBytes)
	}
	length := binary.LittleEndian.Uint32(frame)
	if int64(length) != int64(len(frame)-recordHeaderBytes) {
		return Record{}, fmt.Errorf("record length %d, position says %d", length, len(frame)-recordHeaderBytes)
	}
	seq := binary.LittleEndian.Uint64(frame[8:])
	payload := frame[recordHeaderBytes:]
	if got, want := recordCRC(frame[8:]), binary.LittleEndian.Uint32(frame[4:]); got != want {
		return Record{}, fmt.Errorf("record (seq %d) checksum %#08x, computed %#08x", seq, want, got)
	}
	return Record{Seq: seq, Payload: payload}, nil
}
