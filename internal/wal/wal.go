// Package wal is holdfast's write-ahead log: an append-only sequence of
// preallocated segment files holding checksummed groups of records, written
// with O_DIRECT and read back from the device, never from the page cache.
//
// The format is specified byte by byte in docs/format.md. In short:
//
//   - A dataspace's log directory holds segments named %016x.seg (the
//     segment id, never reused). Each is preallocated and begins with a
//     4 KiB header block; each after the first is made ahead and
//     zero-filled (spare.go), so group writes need no metadata update. A
//     new log's first segment is small (firstSegmentBytes) and each next
//     one twice the size of the one before, up to SegmentSizeBytes.
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
//   - Each group header carries the offset up to which the segment was
//     durable when the group was written (a synced-offset promise, as in
//     Pebble's WAL-sync chunks). Anything invalid that a later valid group
//     promises was durable is damage; invalid bytes that no later group
//     vouches for were never synced, so they can only be a torn tail of
//     unsynced groups, and a torn tail can only be in the last segment
//     (a segment is synced before the next one is created).
//
// Concurrency: one goroutine at a time calls AppendGroup,
// AppendGroupAsync, Sync, Confirm, RemoveSegmentsBefore,
// DetachSegmentsBefore and Close (the groups AppendGroupAsync queues run
// on the log's own I/O goroutine, and the other calls wait for them);
// ReadRecord,
// ReadRecordRange, Position, Stats and Segments may be called from any
// goroutine at any time, and a Removal's Run from any goroutine before
// Close.
package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Limits and defaults.
const (
	DefaultSegmentSizeBytes = 64 << 20
	// firstSegmentBytes is the size of a new log's first segment (at most
	// SegmentSizeBytes); see Writer.segmentSizeAfter.
	firstSegmentBytes = 4 << 20
	// MaxRecordBytes bounds one record's payload: the engine's largest
	// batch (64 MiB) plus its framing.
	MaxRecordBytes = 64<<20 + 1<<20
	// HeaderBlockBytes is the size of a segment's header block.
	HeaderBlockBytes = 4096
	// MaxGroupBytes bounds one group's logical size (group header plus
	// framed records), so that a damaged length field can never make the
	// reader allocate or scan more than this.
	MaxGroupBytes = 128 << 20
	// MinSegmentSizeBytes is the smallest SegmentSizeBytes accepted: the
	// header block and one page for a group.
	MinSegmentSizeBytes = 2 * 4096
	// FormatVersion is the segment format this package writes and reads.
	FormatVersion = 1
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
	// ErrGroupTooLarge: a group's framed size exceeds MaxGroupBytes.
	ErrGroupTooLarge = errors.New("wal: group too large")
	// ErrClosed: the Writer was closed.
	ErrClosed = errors.New("wal: log closed")
)

// CorruptError describes damage found in the log: which file, where, and
// what was wrong. It matches ErrCorrupt with errors.Is.
type CorruptError struct {
	Path   string // the segment (or missing segment) file
	Offset int64  // byte offset in Path of the damaged sector or group
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt: %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

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
	// ConfirmSyncs makes every sync of a segment two fdatasyncs, and
	// counts it done only if both succeed: on a file system that reports
	// a failed sync on the next one (ext4 data=journal), the second
	// catches the failure before anything is acknowledged.
	ConfirmSyncs bool
	// InlineSpare makes the zero-filled next segment (spare.go) on the
	// appending goroutine when a roll needs it, instead of ahead of time
	// on a goroutine of its own: slower rolls, but the order of file
	// operations depends only on the calls made (for crash testing).
	InlineSpare bool
	// FirstSeq is the sequence number the first record of a newly created
	// log must carry. Zero means 1. It is ignored when the log exists.
	FirstSeq uint64

	// forceBufferedReads makes recovery and ReadRecord read through the
	// page cache. Tests only: it shows that the ATC'20 test fails when
	// reads do not reach the device.
	forceBufferedReads bool
	// firstSegmentBytes, when set, replaces the package's
	// firstSegmentBytes, so that tests see segments grow in a small log.
	firstSegmentBytes int64
}

// Record is one entry of the log: a sequence number chosen by the caller
// (strictly increasing, without gaps) and an opaque payload.
type Record struct {
	Seq     uint64
	Payload []byte
}

// RecordPos locates a record so it can be read back alone, whole
// (ReadRecord) or in part (ReadRecordRange).
type RecordPos struct {
	Segment uint64
	// GroupOffset is the physical offset in the segment file of the first
	// sector of the record's group.
	GroupOffset int64
	// Logical is the record's offset within its group's de-stamped
	// stream, and Length its framed length there.
	Logical int64
	Length  int32
}

// PayloadBytes is the length of the record's payload.
func (p RecordPos) PayloadBytes() int { return int(p.Length) - recordHeaderBytes }

// RecoverInfo reports what Recover found.
type RecoverInfo struct {
	Segments   int    // segments scanned
	Groups     int    // valid groups
	Records    int    // valid records
	LastSeq    uint64 // the last record's seq: NextSeq-1 of the recovered Position (0 for an empty new log)
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

// Stats describes a Writer's work since Recover returned it.
type Stats struct {
	BytesWritten   int64     // physical bytes of groups written (stamps and padding included)
	Groups         int64     // groups written
	Syncs          int64     // successful fdatasyncs of segments
	UnsyncedBytes  int64     // bytes written since the last successful sync
	OldestUnsynced time.Time // when the oldest unsynced group was written; zero if none
	Segments       int       // segment files in the log directory
	SegmentBytes   int64     // the sizes of the segment files before the current one
	DirectIO       bool      // whether groups are written with O_DIRECT
	// Reads and ReadBytes count the reads of ReadRecord and
	// ReadRecordRange and the bytes they read from the device (whole
	// aligned blocks, as the device is read).
	Reads     int64
	ReadBytes int64
}
