package holdfast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"
	"slices"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

// A checkpoint is the index, written down with the log position it covers,
// so that opening a dataspace reads the checkpoint and replays only the log
// after that position instead of the whole log (docs/format.md,
// "Checkpoint").
//
// It is an optimisation only: the log always holds everything. A
// checkpoint that is missing, damaged, or stale (compaction has since
// removed a segment it points into) is ignored with a warning, and the
// whole log is replayed. So a checkpoint can never lose or invent data.
//
// Checkpoints are written when a dataspace closes, after a compaction, and
// whenever the log written since the last one exceeds both
// CheckpointEveryBytes and the size of that checkpoint: a checkpoint
// grows with the index, and writing a 700 MB checkpoint every 64 MB of
// log would multiply the bytes written tenfold. So checkpoints add at most
// as many bytes as the log itself, and an open replays at most about one
// checkpoint's worth of log. The index is copied in O(1)
// (copy-on-write B-tree) between two groups on the writer goroutine, and
// written by another goroutine, so writers do not wait for it.
const (
	checkpointFileName = "CHECKPOINT"
	checkpointMagic    = "HFCKPT01"
	// checkpointVersion is the format written. Version 2 added each
	// entry's op offset; a version 1 checkpoint is still read, its
	// entries without one (their values are read a whole record at a
	// time, as format 1 records are).
	checkpointVersion  = 2
	checkpointVersion1 = 1
	// CheckpointEveryBytes of log written since the last checkpoint start
	// a new one.
	CheckpointEveryBytes = 64 << 20
)

// checkpointDueBytes is how much log must be written after the last
// checkpoint before the next one.
func (ds *Dataspace) checkpointDueBytes() int64 {
	return max(checkpointMinBytes, ds.ckptSize.Load())
}

// checkpointMinBytes is CheckpointEveryBytes; tests lower it.
var checkpointMinBytes int64 = CheckpointEveryBytes

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// checkpointState is what one checkpoint holds.
type checkpointState struct {
	// version is the format it was decoded from; 0 (a new checkpoint)
	// encodes as checkpointVersion.
	version uint32
	pos     wal.Position
	lastSeq uint64
	index   *keyIndex
	dedup   []dedupEntry
}

type dedupEntry struct {
	id string
	a  applied
}

// snapshot captures the index, dedup table and log position; writer
// goroutine only (or before it starts).
func (ds *Dataspace) snapshot() checkpointState {
	ds.mu.Lock() // Copy marks the tree shared: one copier at a time
	idx := ds.index.Copy()
	last := ds.lastSeq
	ds.mu.Unlock()
	return checkpointState{pos: ds.log.Position(), lastSeq: last, index: idx, dedup: ds.dedup.entries()}
}

// encodeCheckpoint lays a checkpoint out (docs/format.md, "Checkpoint"):
//
//	magic "HFCKPT01" (8), version u32,
//	position: segment u64, offset i64, next seq u64; last seq u64,
//	entry count u64, entries, dedup count u32, dedup entries,
//	CRC-32C u32 of everything before it.
func encodeCheckpoint(c checkpointState, y *yielder) []byte {
	version := c.version
	if version == 0 {
		version = checkpointVersion
	}
	// One pass for the exact size: a growing buffer would copy a large
	// index's checkpoint several times over.
	size := 8 + 4 + 8*5 + 4 + 4
	c.index.Scan(func(e *entry) bool {
		size += 2 + len(e.key) + 8*4 + 4*4 + 1 + len(e.inline)
		y.step()
		return true
	})
	for _, d := range c.dedup {
		size += 1 + len(d.id) + 8 + 8 + 1 + 8
	}
	b := make([]byte, 0, size)
	b = append(b, checkpointMagic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, c.pos.Segment)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.pos.Offset))
	b = binary.LittleEndian.AppendUint64(b, c.pos.NextSeq)
	b = binary.LittleEndian.AppendUint64(b, c.lastSeq)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.index.Len()))
	c.index.Scan(func(e *entry) bool {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.key)))
		b = append(b, e.key...)
		b = binary.LittleEndian.AppendUint64(b, e.seq)
		b = binary.LittleEndian.AppendUint64(b, e.pos.Segment)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.pos.GroupOffset))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.pos.Logical))
		b = binary.LittleEndian.AppendUint32(b, uint32(e.pos.Length))
		b = binary.LittleEndian.AppendUint32(b, e.opIndex)
		if version >= 2 {
			b = binary.LittleEndian.AppendUint32(b, e.opOffset)
		}
		b = binary.LittleEndian.AppendUint32(b, e.size)
		if e.isInl {
			b = append(b, 1)
			b = append(b, e.inline...)
		} else {
			b = append(b, 0)
		}
		y.step()
		return true
	})
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.dedup)))
	for _, d := range c.dedup {
		b = append(b, byte(len(d.id)))
		b = append(b, d.id...)
		b = binary.LittleEndian.AppendUint64(b, d.a.seq)
		b = binary.LittleEndian.AppendUint64(b, d.a.segment)
		var flags byte
		if d.a.hasInt {
			flags = 1
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint64(b, uint64(d.a.intValue))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

// decodeCheckpoint parses and verifies a checkpoint; minSegment is the
// lowest segment any entry points into.
func decodeCheckpoint(b []byte, inlineMax int) (c checkpointState, minSegment uint64, err error) {
	const head = 8 + 4 + 8*5
	if len(b) < head+4+4 {
		return c, 0, fmt.Errorf("%d bytes is shorter than a checkpoint can be", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32c) != sum {
		return c, 0, errors.New("checksum mismatch")
	}
	if string(body[:8]) != checkpointMagic {
		return c, 0, errors.New("bad magic")
	}
	c.version = binary.LittleEndian.Uint32(body[8:])
	if c.version != checkpointVersion && c.version != checkpointVersion1 {
		return c, 0, fmt.Errorf("version %d, want %d or %d", c.version, checkpointVersion1, checkpointVersion)
	}
	p := 12
	u64 := func() uint64 { v := binary.LittleEndian.Uint64(body[p:]); p += 8; return v }
	c.pos = wal.Position{Segment: u64(), Offset: int64(u64()), NextSeq: u64()}
	c.lastSeq = u64()
	n := u64()
	fixed := 2 + 8 + 8 + 8 + 8 + 4 + 4 + 4 + 1
	if c.version >= 2 {
		fixed += 4 // op offset
	}
	if n > uint64(len(body)-p)/uint64(fixed) {
		return c, 0, fmt.Errorf("claims %d entries", n)
	}
	c.index = newKeyIndex()
	minSegment = c.pos.Segment
	var prev string
	for i := uint64(0); i < n; i++ {
		if len(body)-p < fixed {
			return c, 0, fmt.Errorf("entry %d overruns the file", i)
		}
		k := int(binary.LittleEndian.Uint16(body[p:]))
		p += 2
		if k == 0 || len(body)-p < k+fixed-2 {
			return c, 0, fmt.Errorf("entry %d key overruns the file", i)
		}
		e := &entry{key: string(body[p : p+k])}
		p += k
		if i > 0 && e.key <= prev {
			return c, 0, fmt.Errorf("entry %d is out of order", i)
		}
		prev = e.key
		e.seq = u64()
		e.pos = wal.RecordPos{Segment: u64(), GroupOffset: int64(u64()), Logical: int64(u64())}
		e.pos.Length = int32(binary.LittleEndian.Uint32(body[p:]))
		e.opIndex = binary.LittleEndian.Uint32(body[p+4:])
		p += 8
		if c.version >= 2 {
			e.opOffset = binary.LittleEndian.Uint32(body[p:])
			p += 4
			if e.opOffset != 0 && (e.opOffset < recordHeadSize || int64(e.opOffset) >= int64(e.pos.Length)) {
				return c, 0, fmt.Errorf("entry %d: op offset %d outside its %d-byte record", i, e.opOffset, e.pos.Length)
			}
		}
		e.size = binary.LittleEndian.Uint32(body[p:])
		inl := body[p+4]
		p += 5
		switch inl {
		case 0:
		case 1:
			if int(e.size) > inlineMax || len(body)-p < int(e.size) {
				return c, 0, fmt.Errorf("entry %d inline value of %d bytes", i, e.size)
			}
			e.inline = slices.Clone(body[p : p+int(e.size)])
			e.isInl = true
			p += int(e.size)
		default:
			return c, 0, fmt.Errorf("entry %d inline flag %d", i, inl)
		}
		if e.seq == 0 || e.seq > c.lastSeq || e.pos.Segment > c.pos.Segment {
			return c, 0, fmt.Errorf("entry %d: version %d segment %d beyond the checkpoint", i, e.seq, e.pos.Segment)
		}
		minSegment = min(minSegment, e.pos.Segment)
		c.index.Load(e) // ascending (checked above): the fast path for sorted input
	}
	if len(body)-p < 4 {
		return c, 0, errors.New("dedup count overruns the file")
	}
	m := int(binary.LittleEndian.Uint32(body[p:]))
	p += 4
	for i := 0; i < m; i++ {
		if len(body)-p < 1 {
			return c, 0, fmt.Errorf("dedup entry %d overruns the file", i)
		}
		l := int(body[p])
		p++
		if l == 0 || len(body)-p < l+17 {
			return c, 0, fmt.Errorf("dedup entry %d overruns the file", i)
		}
		d := dedupEntry{id: string(body[p : p+l])}
		p += l
		d.a.seq, d.a.segment = u64(), u64()
		if body[p] > 1 {
			return c, 0, fmt.Errorf("dedup entry %d flags %#x", i, body[p])
		}
		d.a.hasInt = body[p] == 1
		p++
		d.a.intValue = int64(u64())
		c.dedup = append(c.dedup, d)
	}
	if p != len(body) {
		return c, 0, fmt.Errorf("%d trailing bytes", len(body)-p)
	}
	return c, minSegment, nil
}

// loadCheckpoint returns the checkpoint to start from, or ok=false to
// replay the whole log. It never fails the open: the log is the truth.
func (ds *Dataspace) loadCheckpoint() (c checkpointState, ok bool) {
	name := path.Join(ds.dir, checkpointFileName)
	data, err := vfs.ReadFile(ds.db.fsys, name)
	if err != nil {
		if exists, _ := vfs.Exists(ds.db.fsys, name); exists {
			ds.db.log.Warn("checkpoint unreadable; replaying the whole log", "dataspace", ds.name, "err", err)
		}
		return c, false
	}
	ds.ckptSize.Store(int64(len(data)))
	c, minSeg, err := decodeCheckpoint(data, ds.db.opts.InlineValueMaxBytes)
	if err != nil {
		ds.db.log.Warn("checkpoint damaged; replaying the whole log", "dataspace", ds.name, "file", name, "err", err)
		return c, false
	}
	// Every segment the checkpoint points into must still exist.
	segs, err := wal.ListSegments(ds.db.fsys, path.Join(ds.dir, walDirName))
	if err != nil || len(segs) == 0 {
		return c, false
	}
	first := segs[0]
	if minSeg < first || c.pos.Segment < first {
		ds.db.log.Info("checkpoint is older than the log; replaying the whole log", "dataspace", ds.name)
		return c, false
	}
	return c, true
}

// writeCheckpoint writes c durably (temp file, fsync, rename, directory
// fsync).
func (ds *Dataspace) writeCheckpoint(c checkpointState) error {
	return ds.writeCheckpointPaced(c, 0)
}

// checkpointChunkBytes is how much of a background checkpoint is written
// and synced at a time (vfs.WriteFileAtomicPaced).
const checkpointChunkBytes = 256 << 10

// writeCheckpointPaced writes a checkpoint chunk bytes at a time, pausing
// between chunks (vfs.WriteFileAtomicPaced); chunk 0 writes it at once.
func (ds *Dataspace) writeCheckpointPaced(c checkpointState, chunk int) error {
	// In the background (chunk set) it yields to the writer as it goes.
	var y *yielder
	if chunk > 0 {
		y = &yielder{}
	}
	data := encodeCheckpoint(c, y)
	if err := vfs.WriteFileAtomicPaced(ds.db.fsys, path.Join(ds.dir, checkpointFileName), data, 0o644, chunk); err != nil {
		return err
	}
	ds.ckptSize.Store(int64(len(data)))
	return nil
}

// maybeCheckpoint starts a background checkpoint when enough log has been
// written since the last one, or when force is set; writer goroutine only.
func (ds *Dataspace) maybeCheckpoint(force bool) {
	written := ds.log.Stats().BytesWritten
	if !force && written-ds.ckptAtBytes < ds.checkpointDueBytes() {
		return
	}
	if !ds.ckptBusy.CompareAndSwap(false, true) {
		return
	}
	ds.ckptAtBytes = written
	// A checkpoint must cover only what the log holds durably: one more
	// sync of every segment first catches a sync failure the file system
	// reports late (ext4 data=journal), instead of writing its lost
	// writes down as if they were durable.
	if err := ds.log.Confirm(0); err != nil {
		ds.ckptBusy.Store(false)
		ds.failStop(fmt.Errorf("checkpoint: confirm the log: %w", err))
		return
	}
	c := ds.snapshot()
	// In the background, client writes go on beside it: paced.
	chunk := checkpointChunkBytes
	if ds.db.opts.SerialMaintenance {
		chunk = 0
	}
	write := func() {
		defer ds.ckptBusy.Store(false)
		if err := ds.writeCheckpointPaced(c, chunk); err != nil {
			// A failed write or sync of the device is an I/O error like
			// any other (I5), even though the log still holds everything.
			ds.failStop(fmt.Errorf("checkpoint: %w", err))
		}
	}
	if ds.db.opts.SerialMaintenance {
		write()
		return
	}
	ds.ckptWG.Add(1)
	go func() {
		defer ds.ckptWG.Done()
		write()
	}()
}
