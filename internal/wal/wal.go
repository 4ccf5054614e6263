// Package wal is holdfast's write-ahead log: an append-only sequence of
// preallocated segment files holding checksummed groups of records, written
// with O_DIRECT and read back from the device, never from the page cache.
//
// The format is specified byte by byte in docs/format.md. In short:
//
//   - A dataspace's log directory holds segments named %016x.seg (the
//     segment id, never reused). Each is preallocated (SegmentSizeBytes) and
//     begins with a 4 KiB header block.
//   - Every 512-byte sector the log writes starts with an 8-byte stamp
//     derived from the segment id and the sector's offset, never zero. A
//     sector still holding zeros was never written; a sector whose stamp is
//     wrong was damaged or misdirected. That makes the difference between a
//     torn tail (never acknowledged: cut it) and damage (possibly
//     acknowledged: stop) exact rather than a guess.
//   - Records are appended in groups: one group is one aligned write of
//     whole pages and, under sync=always, one fdatasync. A group is valid
//     only as a whole (CRC-32C over the group), and each record also carries
//     its own CRC-32C so a single value can be read and verified alone.
//   - A group is written only after the previous one is durable, so
//     anything invalid followed by a valid group is damage, and a torn write
//     can only be the last group of the last segment.
package wal

import (
	"errors"
	"log/slog"
)

// Limits and defaults.
const (
	DefaultSegmentSizeBytes = 64 << 20
	// MaxRecordBytes bounds one record's payload: the engine's largest
	// batch (64 MiB) plus its framing.
	MaxRecordBytes = 64<<20 + 1<<20
	// HeaderBlockBytes is the size of a segment's header block.
	HeaderBlockBytes = 4096
)

var (
	// ErrCorrupt: the log holds damage that may cover acknowledged data.
	// Errors wrap it with the segment file and offset.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrFailed: an earlier write or sync failed; the Writer refuses all
	// further work (fail-stop: a failed sync is never retried).
	ErrFailed = errors.New("wal: log failed")
	// ErrRecordTooLarge: a record's payload exceeds MaxRecordBytes.
	ErrRecordTooLarge = errors.New("wal: record too large")
)

// Options configure a log.
type Options struct {
	// SegmentSizeBytes is the preallocated size of a segment; a group
	// larger than that gets a segment of its own size. Default
	// DefaultSegmentSizeBytes; tests use small values to exercise rolls.
	SegmentSizeBytes int64
	// BufferedIO disables O_DIRECT even where the file system accepts it.
	// When O_DIRECT is refused the log falls back to buffered I/O by
	// itself and logs a warning.
	BufferedIO bool
	// Logger receives warnings (O_DIRECT fallback, torn tail cut). Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Record is one entry of the log: a sequence number chosen by the caller
// (strictly increasing, without gaps) and an opaque payload.
type Record struct {
	Seq     uint64
	Payload []byte
}

// RecordPos locates a record so it can be read back alone.
type RecordPos struct {
	Segment uint64
	// Offset is the physical offset in the segment file of the first
	// sector of the record's group.
	GroupOffset int64
	// Logical is the record's offset within its group's de-stamped
	// stream, and Length its framed length there.
	Logical int64
	Length  int32
}

// RecoverInfo reports what Recover found.
type RecoverInfo struct {
	Segments   int    // segments scanned
	Groups     int    // valid groups
	Records    int    // valid records
	LastSeq    uint64 // 0 when the log is empty
	TornBytes  int64  // bytes cut from a torn tail (0 if none)
	BrokenFile string // where the cut bytes were saved ("" if none)
	DirectIO   bool   // whether the device was read with O_DIRECT
}

// Position is a place between groups: where the next group goes, and the
// sequence number its first record must carry. A checkpoint records the
// Position it covers, so recovery scans only what follows.
type Position struct {
	Segment uint64
	Offset  int64
	NextSeq uint64
}
