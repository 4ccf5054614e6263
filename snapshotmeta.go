package holdfast

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast/internal/snapshot"
	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

// snapshot.json (docs/format.md, "snapshot.json") is what a quiesce
// leaves for whoever restores a copy of the volume: the root one at
// <dir>/snapshot.json lists every dataspace, and each dataspace's
// <dir>/dataspaces/<name>/snapshot.json repeats its own entry. Both are
// checksummed metadata files (vfs.WriteMetaFile, kind "snapshot"), so an
// empty or half-written one is rejected with a clear error, never half
// believed (I6).
//
// Per dataspace they record the last sequence number, the number of live
// keys and their bytes, the content hash, and the data files (MANIFEST and
// every log segment) with the size and CRC-32C of the prefix the quiesce
// covers. A restored copy holds "at least" what they record when its last
// sequence number is not lower, the content hash matches when it is equal,
// and every recorded file still present has the recorded prefix.
const (
	snapshotFileName      = "snapshot.json"
	snapshotKind          = "snapshot"
	snapshotFormatVersion = 1
)

// Version is the holdfast version recorded in snapshot.json; set it at
// build time with -ldflags "-X github.com/holdfast-db/holdfast.Version=...".
var Version = "0.0.0-dev"

// snapshotRoot is the body of a snapshot.json: Kind "root" at the top of
// the data directory, "dataspace" (with one entry) in a dataspace.
type snapshotRoot struct {
	Kind          string              `json:"kind"`
	FormatVersion int                 `json:"format_version"`
	QuiesceID     string              `json:"quiesce_id"`
	Time          time.Time           `json:"time"`
	Version       string              `json:"holdfast_version"`
	Dataspaces    []SnapshotDataspace `json:"dataspaces"`
}

// SnapshotDataspace is one dataspace as a quiesce recorded it.
type SnapshotDataspace struct {
	Name    string `json:"name"`
	LastSeq uint64 `json:"last_seq"`
	Keys    int    `json:"keys"`
	// Bytes counts the keys and values of live keys.
	Bytes int64 `json:"bytes"`
	// ContentHash is ContentHash of the live keys and values.
	ContentHash string         `json:"content_hash"`
	Files       []SnapshotFile `json:"files"`
}

// SnapshotFile is one data file as a quiesce recorded it.
type SnapshotFile struct {
	// Name is relative to the dataspace's directory ("MANIFEST",
	// "wal/0000000000000001.seg").
	Name string `json:"name"`
	// SizeBytes is the file's size; the checksum covers its first
	// CoveredBytes (a log segment's valid prefix; the rest is zeros not
	// yet written, and grows after a resume).
	SizeBytes    int64  `json:"size_bytes"`
	CoveredBytes int64  `json:"covered_bytes"`
	CRC32C       string `json:"crc32c"`
}

// contentHasher is snapshot.Hasher: the content hash is defined there,
// once, for snapshot.json, holdfast check and logical snapshots alike.
type contentHasher = snapshot.Hasher

func newContentHasher() *contentHasher { return snapshot.NewHasher() }

// ContentHash returns the content hash of key-value pairs given in
// ascending key order, as snapshot.json, holdfast check and logical
// snapshots record it.
func ContentHash(kvs func(yield func(key, value []byte) bool)) string {
	c := newContentHasher()
	kvs(func(k, v []byte) bool { c.Add(k, v); return true })
	return c.Sum()
}

// digestEntry is an index entry with the SHA-256 of its value. Entries
// are immutable (a write makes a new one), so a digest computed for an
// entry stays right for as long as the index holds that entry.
type digestEntry struct {
	e *entry
	d [sha256.Size]byte
}

// content hashes an index copy. Digests of entries the previous call saw
// are reused, found by a merge in key order (no hashing of keys); values
// kept in memory are hashed at once; the others are read from the log in
// log order, with large sequential reads (verified as every read is), one
// read per record.
func (ds *Dataspace) content(ctx context.Context, idx *keyIndex) (keys int, bytes int64, sum string, err error) {
	q := &ds.db.quiesce
	q.sumMu.Lock()
	prev := q.valueSums[ds]
	q.sumMu.Unlock()
	out := make([]digestEntry, 0, idx.Len())
	need := map[wal.RecordPos][]int{}
	var positions []wal.RecordPos
	j := 0
	idx.Scan(func(e *entry) bool {
		// Unchanged entries come in the same order as last time: try
		// the next one first, then skip forward by key.
		if j < len(prev) && prev[j].e != e {
			for j < len(prev) && prev[j].e.key < e.key {
				j++
			}
		}
		de := digestEntry{e: e}
		switch {
		case j < len(prev) && prev[j].e == e:
			de.d = prev[j].d
			j++
		case e.isInl:
			de.d = sha256.Sum256(e.inline)
		default:
			if need[e.pos] == nil {
				positions = append(positions, e.pos)
			}
			need[e.pos] = append(need[e.pos], len(out))
		}
		out = append(out, de)
		return true
	})
	if len(positions) > 0 {
		ds.segMu.RLock()
		err = ds.log.ReadRecords(positions, func(i int, rec wal.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			p, err := decodeRecord(rec.Payload, rec.Seq)
			if err != nil {
				return ds.corruptStop(fmt.Errorf("%w: record %d at segment %d offset %d: %v", ErrCorrupt, rec.Seq, positions[i].Segment, positions[i].GroupOffset, err))
			}
			for _, k := range need[positions[i]] {
				e := out[k].e
				if !recordHolds(&p, rec.Seq, e) {
					return ds.corruptStop(fmt.Errorf("%w: record %d at segment %d offset %d does not hold key %q", ErrCorrupt, rec.Seq, e.pos.Segment, e.pos.GroupOffset, e.key))
				}
				out[k].d = sha256.Sum256(p.ops[e.opIndex].value)
			}
			return nil
		})
		ds.segMu.RUnlock()
		if err != nil {
			if errors.Is(err, wal.ErrCorrupt) {
				err = ds.corruptStop(fmt.Errorf("%w: %w", ErrCorrupt, err))
			}
			return 0, 0, "", err
		}
	}
	c := newContentHasher()
	for _, de := range out {
		c.AddDigest([]byte(de.e.key), int(de.e.size), de.d)
	}
	q.sumMu.Lock()
	if q.valueSums == nil {
		q.valueSums = make(map[*Dataspace][]digestEntry)
	}
	q.valueSums[ds] = out
	q.sumMu.Unlock()
	return c.Keys(), c.Bytes(), c.Sum(), nil
}

// describe builds a dataspace's snapshot.json entry for checkpoint state c.
func (ds *Dataspace) describe(ctx context.Context, c checkpointState) (SnapshotDataspace, error) {
	rec := SnapshotDataspace{Name: ds.name, LastSeq: c.lastSeq}
	var err error
	rec.Keys, rec.Bytes, rec.ContentHash, err = ds.content(ctx, c.index)
	if err != nil {
		return rec, dsError(ds.name, fmt.Errorf("content hash: %w", err))
	}
	fsys := ds.db.fsys
	mf, err := fileSum(fsys, path.Join(ds.dir, manifestFileName), -1, 0, 0)
	if err != nil {
		return rec, dsError(ds.name, err)
	}
	mf.Name = manifestFileName
	rec.Files = append(rec.Files, mf.SnapshotFile)
	segs, err := wal.ListSegments(fsys, path.Join(ds.dir, walDirName))
	if err != nil {
		return rec, dsError(ds.name, fmt.Errorf("list log segments: %w", err))
	}
	q := &ds.db.quiesce
	q.sumMu.Lock()
	defer q.sumMu.Unlock()
	if q.segSums == nil {
		q.segSums = make(map[segSumKey]segSum)
	}
	live := make(map[segSumKey]bool)
	for _, id := range segs {
		if id > c.pos.Segment {
			return rec, dsError(ds.name, fmt.Errorf("log segment %d is past the log position %+v", id, c.pos))
		}
		name := path.Join(walDirName, fmt.Sprintf("%016x.seg", id))
		covered := int64(-1) // a sealed segment: all of it
		if id == c.pos.Segment {
			covered = c.pos.Offset
		}
		key := segSumKey{ds: ds, id: id}
		live[key] = true
		prev := q.segSums[key]
		f, err := fileSum(fsys, path.Join(ds.dir, name), covered, prev.covered, prev.crc)
		if err != nil {
			return rec, dsError(ds.name, err)
		}
		q.segSums[key] = segSum{covered: f.CoveredBytes, crc: f.crc}
		f.Name = name
		rec.Files = append(rec.Files, f.SnapshotFile)
	}
	for k := range q.segSums {
		if k.ds == ds && !live[k] {
			delete(q.segSums, k)
		}
	}
	return rec, nil
}

// segSumKey and segSum cache the checksum of a log segment's prefix, so a
// quiesce reads only what was appended since the last one (segments are
// append-only and their ids never reused within a dataspace).
type segSumKey struct {
	ds *Dataspace
	id uint64
}

type segSum struct {
	covered int64
	crc     uint32
}

type fileSumResult struct {
	SnapshotFile
	crc uint32
}

// fileSum checksums the first covered bytes of name (-1: all of it),
// continuing from a known checksum of its first from bytes.
func fileSum(fsys vfs.FS, name string, covered, from int64, crc uint32) (fileSumResult, error) {
	f, err := vfs.Open(fsys, name)
	if err != nil {
		return fileSumResult{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileSumResult{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	size := fi.Size()
	if covered < 0 {
		covered = size
	}
	if covered > size {
		return fileSumResult{}, fmt.Errorf("checksum %s: %d bytes to cover, file holds %d", name, covered, size)
	}
	if from > covered {
		from, crc = 0, 0
	}
	crc, err = crcRange(f, from, covered, crc)
	if err != nil {
		return fileSumResult{}, fmt.Errorf("checksum %s: %w", name, err)
	}
	return fileSumResult{SnapshotFile: SnapshotFile{SizeBytes: size, CoveredBytes: covered, CRC32C: fmt.Sprintf("%08x", crc)}, crc: crc}, nil
}

// crcRange extends crc over [from, to) of f.
func crcRange(f io.ReaderAt, from, to int64, crc uint32) (uint32, error) {
	buf := make([]byte, min(1<<20, max(to-from, 1)))
	for off := from; off < to; {
		n := min(int64(len(buf)), to-off)
		got, err := f.ReadAt(buf[:n], off)
		if int64(got) < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("read at offset %d: %w", off, err)
		}
		crc = crc32.Update(crc, crc32c, buf[:n])
		off += n
	}
	return crc, nil
}

// snapshotState is what a dataspace holds now, to compare against its
// snapshot.json entry. content is called only when the hash is needed.
type snapshotState struct {
	dir     string // the dataspace directory
	lastSeq uint64
	content func() (keys int, bytes int64, hash string, err error)
}

// compareSnapshot checks that a dataspace holds at least what rec records.
// It returns problems (each saying what is wrong and what to do) and notes.
func compareSnapshot(fsys vfs.FS, rec SnapshotDataspace, got snapshotState) (problems, notes []string) {
	const todo = "restore the volume snapshot again, or from another snapshot, and check that the snapshot was taken after quiesce returned and before resume"
	switch {
	case got.lastSeq < rec.LastSeq:
		return []string{fmt.Sprintf("dataspace %q holds writes up to sequence number %d, but snapshot.json records %d: acknowledged writes are missing; %s",
			rec.Name, got.lastSeq, rec.LastSeq, todo)}, nil
	case got.lastSeq == rec.LastSeq:
		keys, bytes, sum, err := got.content()
		if err != nil {
			return []string{fmt.Sprintf("dataspace %q: content hash: %v", rec.Name, err)}, nil
		}
		if keys != rec.Keys || bytes != rec.Bytes || sum != rec.ContentHash {
			problems = append(problems, fmt.Sprintf("dataspace %q at sequence number %d holds %d keys, %d bytes, content %s; snapshot.json records %d keys, %d bytes, content %s; %s",
				rec.Name, rec.LastSeq, keys, bytes, sum, rec.Keys, rec.Bytes, rec.ContentHash, todo))
		}
	default:
		notes = append(notes, fmt.Sprintf("dataspace %q was written after the snapshot (sequence number %d, snapshot.json records %d); its content hash is not compared",
			rec.Name, got.lastSeq, rec.LastSeq))
	}
	// Files: every recorded file still present must hold the recorded
	// prefix. A log segment may be gone only if the log moved on and
	// compaction removed it.
	firstSeg := uint64(0)
	if segs, err := wal.ListSegments(fsys, path.Join(got.dir, walDirName)); err == nil && len(segs) > 0 {
		firstSeg = segs[0]
	}
	for _, f := range rec.Files {
		name := path.Join(got.dir, f.Name)
		if strings.Contains(f.Name, "..") || path.IsAbs(f.Name) {
			problems = append(problems, fmt.Sprintf("dataspace %q: snapshot.json names file %q outside the dataspace; the file is damaged or forged", rec.Name, f.Name))
			continue
		}
		var want uint32
		if _, err := fmt.Sscanf(f.CRC32C, "%08x", &want); err != nil || len(f.CRC32C) != 8 || f.CoveredBytes < 0 {
			problems = append(problems, fmt.Sprintf("%s: snapshot.json records checksum %q over %d bytes, which is not valid", name, f.CRC32C, f.CoveredBytes))
			continue
		}
		fi, err := fsys.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			if seg, ok := segmentID(f.Name); ok && got.lastSeq > rec.LastSeq && firstSeg > seg {
				notes = append(notes, fmt.Sprintf("%s: removed by compaction after the snapshot", name))
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: recorded in snapshot.json but missing; %s", name, todo))
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if fi.Size() < f.CoveredBytes {
			problems = append(problems, fmt.Sprintf("%s: %d bytes, snapshot.json records %d covered bytes: the file is truncated; %s", name, fi.Size(), f.CoveredBytes, todo))
			continue
		}
		sum, err := fileSum(fsys, name, f.CoveredBytes, 0, 0)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if sum.crc != want {
			problems = append(problems, fmt.Sprintf("%s: the first %d bytes have CRC-32C %08x, snapshot.json records %s: the file differs from the snapshot; %s",
				name, f.CoveredBytes, sum.crc, f.CRC32C, todo))
		}
	}
	return problems, notes
}

// segmentID parses "wal/<16 hex>.seg".
func segmentID(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, walDirName+"/")
	if !ok {
		return 0, false
	}
	var id uint64
	if _, err := fmt.Sscanf(rest, "%016x.seg", &id); err != nil || len(rest) != 20 {
		return 0, false
	}
	return id, true
}

// readSnapshotMeta reads a snapshot.json. A missing file gives ok=false
// and no error.
func readSnapshotMeta(fsys vfs.FS, name string) (m snapshotRoot, ok bool, err error) {
	exists, err := vfs.Exists(fsys, name)
	if err != nil {
		return m, false, err
	}
	if !exists {
		return m, false, nil
	}
	if err := vfs.ReadMetaFile(fsys, name, snapshotKind, &m); err != nil {
		return m, true, err
	}
	if m.FormatVersion != snapshotFormatVersion {
		return m, true, fmt.Errorf("%s: snapshot format %d, this build reads %d", name, m.FormatVersion, snapshotFormatVersion)
	}
	if m.QuiesceID == "" || (m.Kind != "root" && m.Kind != "dataspace") || (m.Kind == "dataspace" && len(m.Dataspaces) != 1) {
		return m, true, fmt.Errorf("%w: %s: intact envelope but kind %q, quiesce id %q, %d dataspaces", vfs.ErrMetaCorrupt, name, m.Kind, m.QuiesceID, len(m.Dataspaces))
	}
	return m, true, nil
}

// recordHolds reports whether record payload p, with sequence number seq,
// holds the value entry e points at.
func recordHolds(p *recordPayload, seq uint64, e *entry) bool {
	return int(e.opIndex) < len(p.ops) && string(p.ops[e.opIndex].key) == e.key &&
		(p.relocated && p.ops[e.opIndex].version == e.seq || !p.relocated && seq == e.seq)
}
