package holdfast

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

// Dataspace is a named, independent key space with its own log, index and
// sync policy. All methods are safe for concurrent use.
//
// The path of a write: Put builds a request and hands it to the
// dataspace's one writer goroutine (commit.go), which gathers concurrent
// requests into a group, checks their preconditions, appends the group to
// the log with one write and one fdatasync, and only then applies it to the
// index and releases the waiters. Readers see only the index, so they never
// see a write before it is durable (I1, I2).
type Dataspace struct {
	db     *DB
	name   string
	dir    string
	opts   DataspaceOptions
	limits Limits

	// mu guards the index and the stop state for readers; the writer
	// takes it to publish a committed group.
	mu       sync.RWMutex
	index    *keyIndex
	lastSeq  uint64
	keyBytes int64 // sum of key and value lengths of live keys
	stopErr  error // non-nil once stopped; reads and writes return it

	log   *wal.Writer
	dedup *dedupTable // request ids; writer goroutine and recovery only
	// segMu keeps log segments alive while readers use positions they
	// looked up: readers hold it shared from index lookup to value read;
	// compaction holds it exclusively to remove segments.
	segMu sync.RWMutex
	// compaction state, owned by the writer goroutine (compact.go):
	// relocs carries the compactor's relocation requests, finishReqs its
	// last step, which waits in finishing for the pipeline to drain (the
	// writer takes no new request meanwhile).
	compactReqs chan *compactJob
	compacting  *compactJob
	relocs      chan *request
	finishReqs  chan func()
	finishing   func()
	// checkpoints: one at a time, written off the writer goroutine.
	ckptWG      sync.WaitGroup
	ckptBusy    atomic.Bool
	ckptAtBytes int64        // log BytesWritten at the last checkpoint; writer only
	ckptSize    atomic.Int64 // bytes of the last checkpoint written or read
	// verified is closed when the background verification of the log
	// before the checkpoint has finished; verifyErr is its result.
	verified  chan struct{}
	verifyErr error

	// The write pipeline, owned by the writer goroutine (see run):
	// inflight holds the groups queued to the log and not yet published,
	// oldest first; overlay and inflightIDs hold their effects until they
	// are published.
	inflight    []*group
	deepest     int                   // the most groups inflight held at once (for tests)
	overlay     map[string]pendingKey // see unpublished
	overlayHigh int                   // overlay's largest size since it was made
	overlayLeft int                   // writes resetOverlay found not unlaid (for tests: 0)
	encFree     []encoding            // encoding buffers for prepare to reuse
	inflightIDs map[string]*planned

	// cacheID identifies this instance in the value cache; a reopened
	// dataspace gets a new one.
	cacheID uint64

	reqs     chan *request
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	stats    dsStats

	// tasks run on the writer goroutine when the pipeline is empty
	// (quiesce.go: syncing the log and taking a checkpoint's state).
	tasks chan func()
}

// requestQueueLen is how many writes may wait for the writer goroutine.
// A queue rather than a rendezvous lets one goroutine submit several
// writes without waiting (PutAsync and friends), so that they share a
// commit group.
const requestQueueLen = 1024

// entry is the index's record of one live key. Its fields are ordered so
// that opOffset, isInl and replaced share what was padding: an entry takes 96 bytes
// on 64-bit platforms (TestEntrySize), one per live key.
type entry struct {
	key string
	seq uint64
	// pos and opIndex locate the put that made the value.
	pos     wal.RecordPos
	opIndex uint32
	size    uint32 // value length
	// opOffset is where the put's op starts in its record's payload, so
	// that a Get reads and verifies that op alone (record.go); 0 when the
	// record is format 1, whose ops carry no checksum: it is read whole.
	opOffset uint32
	isInl    bool
	// replaced is set by the writer goroutine, and read only there, when
	// a later write or delete of the key takes the entry out of the index
	// (copies of the index may still hold it): compaction then leaves the
	// value behind.
	replaced bool
	// inline holds the value when it is at most InlineValueMaxBytes.
	inline []byte
}

// manifest is a dataspace's MANIFEST, written with vfs.WriteMetaFile.
type manifest struct {
	FormatVersion int    `json:"format_version"`
	Name          string `json:"name"`
	ID            string `json:"id"`
	Sync          string `json:"sync"`
}

const (
	manifestKind  = "dataspace-manifest"
	formatVersion = 1
)

// openDataspace recovers a dataspace from its directory. It never fails:
// a dataspace that cannot be recovered is returned stopped, with the
// reason as its error.
func openDataspace(db *DB, name string) *Dataspace {
	ds := &Dataspace{
		db:          db,
		name:        name,
		dir:         path.Join(db.spacesDir(), name),
		limits:      db.opts.Limits,
		index:       newKeyIndex(),
		dedup:       newDedupTable(db.opts.RequestIDWindow),
		reqs:        make(chan *request, requestQueueLen),
		cacheID:     db.spaceIDs.Add(1),
		overlay:     make(map[string]pendingKey),
		inflightIDs: make(map[string]*planned),
		compactReqs: make(chan *compactJob),
		relocs:      make(chan *request),
		finishReqs:  make(chan func()),
		tasks:       make(chan func()),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	start := time.Now()
	ds.verified = make(chan struct{})
	if err := ds.recover(); err != nil {
		close(ds.verified)
		if !errors.Is(err, ErrCorrupt) {
			// An I/O error while recovering is an I/O error like any
			// other: fail-stop (I5).
			err = fmt.Errorf("%w: recovery: %w", ErrFailStop, err)
		}
		ds.stopErr = dsError(name, err)
		close(ds.done)
		db.log.Error("dataspace stopped at open", "dataspace", name, "err", err)
		return ds
	}
	db.log.Info("dataspace open", "dataspace", name, "keys", ds.index.Len(), "last_seq", ds.lastSeq,
		"sync", ds.opts.Sync.String(), "open_ms", time.Since(start).Milliseconds())
	go ds.run()
	return ds
}

// recover reads the manifest and replays the log from the device.
func (ds *Dataspace) recover() error {
	var m manifest
	if err := vfs.ReadMetaFile(ds.db.fsys, path.Join(ds.dir, manifestFileName), manifestKind, &m); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if m.FormatVersion != formatVersion || m.Name != ds.name {
		return fmt.Errorf("%w: manifest %s: format %d name %q, want format %d name %q",
			ErrCorrupt, path.Join(ds.dir, manifestFileName), m.FormatVersion, m.Name, formatVersion, ds.name)
	}
	policy, err := ParseSyncPolicy(m.Sync)
	if err != nil {
		return fmt.Errorf("%w: manifest %s: %v", ErrCorrupt, path.Join(ds.dir, manifestFileName), err)
	}
	ds.opts.Sync = policy
	if err := ds.removeOrphans(); err != nil {
		return err
	}
	replay := func(rec wal.Record, pos wal.RecordPos) error {
		p, err := decodeRecord(rec.Payload, rec.Seq)
		if err != nil {
			return fmt.Errorf("%w: %s segment %d offset %d: record %d: %v", ErrCorrupt, path.Join(ds.dir, walDirName), pos.Segment, pos.GroupOffset, rec.Seq, err)
		}
		ds.apply(rec.Seq, pos, &p)
		return nil
	}
	var start wal.Position
	if c, ok := ds.loadCheckpoint(); ok {
		ds.restore(c)
		start = c.pos
	}
	w, info, err := recoverLog(ds.db, path.Join(ds.dir, walDirName), start, replay)
	if err != nil && start != (wal.Position{}) && (errors.Is(err, wal.ErrCorrupt) || errors.Is(err, ErrCorrupt)) {
		// The checkpoint and the log disagree: the log is the truth. Only
		// then: an I/O error (a failed read or fdatasync) is not retried
		// by a second replay, which would read what a failed sync left
		// in the cache (I5); it fail-stops the dataspace.
		ds.db.log.Warn("replay from the checkpoint failed; replaying the whole log", "dataspace", ds.name, "err", err)
		ds.reset()
		w, info, err = recoverLog(ds.db, path.Join(ds.dir, walDirName), wal.Position{}, replay)
	}
	if err != nil {
		if errors.Is(err, wal.ErrCorrupt) && !errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return err
	}
	if info.TornBytes > 0 {
		ds.db.log.Warn("cut a torn log tail that was never acknowledged", "dataspace", ds.name,
			"bytes", info.TornBytes, "saved_to", info.BrokenFile)
	}
	if !info.DirectIO {
		ds.db.log.Warn("the file system refused O_DIRECT: the log is read and written through the page cache", "dataspace", ds.name)
	}
	// Everything recovered is durable before anything is served (I2):
	// the log has synced its files and directory; sync ours too.
	if err := vfs.SyncDir(ds.db.fsys, ds.dir); err != nil {
		w.Close()
		return err
	}
	ds.log = w
	if start == (wal.Position{}) {
		close(ds.verified) // the whole log was read and verified
	} else {
		if ds.db.opts.SerialMaintenance {
			ds.verifyBeforeCheckpoint(start)
		} else {
			go ds.verifyBeforeCheckpoint(start)
		}
	}
	return nil
}

// verifyBeforeCheckpoint checks, in the background, the part of the log
// that opening from a checkpoint did not read: damage there is found and
// stops the dataspace (I4), as a full replay would have.
func (ds *Dataspace) verifyBeforeCheckpoint(upTo wal.Position) {
	defer close(ds.verified)
	err := ds.log.Verify(upTo)
	switch {
	case err == nil, errors.Is(err, wal.ErrClosed):
		return
	case errors.Is(err, wal.ErrCorrupt):
		ds.verifyErr = ds.corruptStop(fmt.Errorf("%w: %w", ErrCorrupt, err))
	default:
		ds.verifyErr = ds.failStop(fmt.Errorf("verify log: %w", err))
	}
}

// WaitVerified waits until the dataspace's log has been verified in full
// (at open, the part a checkpoint covered is verified in the background)
// and returns what the verification found: nil, or the error that stopped
// the dataspace.
func (ds *Dataspace) WaitVerified(ctx context.Context) error {
	if ds.verified == nil {
		return ds.err()
	}
	select {
	case <-ds.verified:
		return ds.verifyErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// removeOrphans removes temporary files an interrupted WriteFileAtomic
// left in the dataspace directory.
func (ds *Dataspace) removeOrphans() error {
	names, err := ds.db.fsys.List(ds.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, n := range names {
		if vfs.IsTempFile(n) {
			if err := ds.db.fsys.Remove(path.Join(ds.dir, n)); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		return vfs.SyncDir(ds.db.fsys, ds.dir)
	}
	return nil
}

// restore loads a checkpoint into the empty index.
func (ds *Dataspace) restore(c checkpointState) {
	ds.index = c.index
	ds.lastSeq = c.lastSeq
	ds.keyBytes = 0
	ds.index.Scan(func(e *entry) bool {
		ds.keyBytes += int64(len(e.key)) + int64(e.size)
		return true
	})
	for _, d := range c.dedup {
		ds.dedup.add(d.id, d.a)
	}
}

// reset empties the in-memory state before a full replay.
func (ds *Dataspace) reset() {
	ds.index = newKeyIndex()
	ds.lastSeq, ds.keyBytes = 0, 0
	ds.dedup = newDedupTable(ds.db.opts.RequestIDWindow)
}

// recoverLog opens the log at dir, replaying records from start into fn
// (nil: none).
func recoverLog(db *DB, dir string, start wal.Position, fn func(wal.Record, wal.RecordPos) error) (*wal.Writer, wal.RecoverInfo, error) {
	if fn == nil {
		fn = func(wal.Record, wal.RecordPos) error { return nil }
	}
	return wal.Recover(db.fsys, dir, wal.Options{
		SegmentSizeBytes: db.opts.SegmentSizeBytes,
		BufferedIO:       db.opts.BufferedIO,
		ConfirmSyncs:     db.opts.ConfirmSyncs,
		InlineSpare:      db.opts.SerialMaintenance,
		Logger:           db.log,
	}, start, fn)
}

// apply publishes one durable record to the index; the caller holds mu
// for writing (or is recovering, before any reader exists).
func (ds *Dataspace) apply(seq uint64, pos wal.RecordPos, p *recordPayload) {
	next := p.firstOpOffset()
	for i := range p.ops {
		o := &p.ops[i]
		offset := next
		next += p.opSize(o)
		key := o.str
		if key == "" {
			key = string(o.key)
		}
		if o.kind == opDelete {
			if old, ok := ds.index.Delete(key); ok {
				ds.replaced(old, seq)
			}
			continue
		}
		version := seq
		if p.relocated {
			version = o.version
		}
		e := &entry{key: key, seq: version, pos: pos, opIndex: uint32(i), size: uint32(len(o.value))}
		if !p.v1 {
			e.opOffset = uint32(offset)
		}
		if len(o.value) <= ds.db.opts.InlineValueMaxBytes {
			e.inline = append([]byte(nil), o.value...)
			e.isInl = true
		}
		if old, ok := ds.index.Set(e); ok {
			ds.replaced(old, version)
		}
		ds.keyBytes += int64(len(key)) + int64(len(o.value))
	}
	if p.requestID != "" {
		ds.dedup.add(p.requestID, appliedFor(seq, pos.Segment, p))
	}
	for _, id := range p.ids {
		ds.dedup.add(id.id, applied{seq: id.seq, segment: pos.Segment, hasInt: id.hasInt, intValue: id.intValue})
	}
	ds.lastSeq = seq
}

// replaced accounts for an index entry that a write at version replaced
// or deleted. Its cached value goes, unless a relocation moved the same
// version.
func (ds *Dataspace) replaced(old *entry, version uint64) {
	old.replaced = true
	ds.keyBytes -= int64(len(old.key)) + int64(old.size)
	if !old.isInl && old.seq != version {
		ds.db.cache.drop(makeCacheKey(ds.cacheID, old.seq, old.key))
	}
}

// Name returns the dataspace's name.
func (ds *Dataspace) Name() string { return ds.name }

// SyncPolicy returns the dataspace's sync policy.
func (ds *Dataspace) SyncPolicy() SyncPolicy { return ds.opts.Sync }

// err returns why the dataspace is stopped, or nil.
func (ds *Dataspace) err() error {
	ds.mu.RLock()
	defer ds.mu.RUnlock()
	return ds.stopErr
}

// stoppedErr is the error of an operation that found the writer gone.
// Close stops the writer before it records why, so a nil err() here means
// the dataspace is closing: never report success for a write that was not
// taken.
func (ds *Dataspace) stoppedErr() error {
	if err := ds.err(); err != nil {
		return err
	}
	return dsError(ds.name, ErrClosed)
}

// Err reports why the dataspace is stopped (wrapping ErrFailStop,
// ErrCorrupt or ErrClosed), or nil while it serves.
func (ds *Dataspace) Err() error { return ds.err() }

// Value is a stored value with the sequence number of the write that made
// it, which is also the key's version for CompareAndSwap.
type Value struct {
	Data []byte
	Seq  uint64
}

// Get returns the value of key. Values larger than InlineValueMaxBytes
// are read from the log on the device and verified, so damage is reported
// as ErrCorrupt, never returned.
func (ds *Dataspace) Get(ctx context.Context, key []byte) (Value, error) {
	if err := ds.limits.checkKey(key); err != nil {
		return Value{}, err
	}
	ds.segMu.RLock()
	defer ds.segMu.RUnlock()
	ds.mu.RLock()
	if ds.stopErr != nil {
		ds.mu.RUnlock()
		return Value{}, ds.stopErr
	}
	e, ok := ds.index.Get(string(key))
	ds.mu.RUnlock()
	if !ok {
		return Value{}, ErrNotFound
	}
	data, err := ds.readValue(e)
	if err != nil {
		return Value{}, err
	}
	return Value{Data: data, Seq: e.seq}, nil
}

// readValue returns an entry's value, from memory or from the log: the
// op alone when its record is format 2, the whole record when it is
// format 1.
func (ds *Dataspace) readValue(e *entry) ([]byte, error) {
	if e.isInl {
		return append([]byte(nil), e.inline...), nil
	}
	key := makeCacheKey(ds.cacheID, e.seq, e.key)
	if v, ok := ds.db.cache.get(key, e.key); ok {
		return append([]byte(nil), v...), nil
	}
	if e.opOffset != 0 {
		v, err := ds.readOp(e)
		if err != nil || ds.db.cache == nil {
			return v, err
		}
		ds.db.cache.put(key, e.key, v)
		return append([]byte(nil), v...), nil
	}
	p, err := ds.readRecord(e)
	if err != nil {
		return nil, err
	}
	ds.cacheRecord(e.pos, p)
	return append([]byte(nil), p.ops[e.opIndex].value...), nil
}

// cacheRecord caches the values of a record just read and verified that
// are still live, so the other keys a batch wrote cost no read either.
func (ds *Dataspace) cacheRecord(pos wal.RecordPos, p *recordPayload) {
	if ds.db.cache == nil {
		return
	}
	ds.mu.RLock()
	defer ds.mu.RUnlock()
	for i, o := range p.ops {
		if o.kind != opPut || len(o.value) <= ds.db.opts.InlineValueMaxBytes {
			continue
		}
		e, ok := ds.index.Get(string(o.key))
		if !ok || e.pos != pos || e.opIndex != uint32(i) {
			continue // overwritten or deleted since
		}
		ds.db.cache.put(makeCacheKey(ds.cacheID, e.seq, e.key), e.key, append([]byte(nil), o.value...))
	}
}

// cachePublished caches the larger values of a record just published,
// the write seq: they are durable, and likely to be read soon. A
// relocated record changes nothing: its values keep their versions, so
// those cached stay cached, and the others are old and cold.
func (ds *Dataspace) cachePublished(seq uint64, p *recordPayload) {
	if ds.db.cache == nil || p.relocated {
		return
	}
	for i := range p.ops {
		o := &p.ops[i]
		if o.kind == opPut && len(o.value) > ds.db.opts.InlineValueMaxBytes {
			key := o.str
			if key == "" {
				key = string(o.key)
			}
			ds.db.cache.put(makeCacheKey(ds.cacheID, seq, key), key, o.value)
		}
	}
}

// readRecord reads and checks the record that holds an entry's value. The
// log verifies the record's checksum; this checks it is the record the
// index means. Damage stops the dataspace (I4); a read error fail-stops it
// (I5), and recovery decides what the device holds.
func (ds *Dataspace) readRecord(e *entry) (*recordPayload, error) {
	rec, err := ds.log.ReadRecord(e.pos)
	if err != nil {
		if errors.Is(err, wal.ErrCorrupt) {
			return nil, ds.corruptStop(fmt.Errorf("%w: key %q: %w", ErrCorrupt, e.key, err))
		}
		return nil, ds.failStop(fmt.Errorf("read key %q: %w", e.key, err))
	}
	p, err := decodeRecord(rec.Payload, rec.Seq)
	if err == nil {
		err = checkHolds(&p, rec.Seq, e)
	}
	if err != nil {
		return nil, ds.corruptStop(fmt.Errorf("%w: %v", ErrCorrupt, err))
	}
	return &p, nil
}

// readOp reads the op that holds an entry's value from its format 2
// record, and only the sectors the op lies in (wal.ReadRecordRange): a
// value a 1,000-key batch wrote costs a read of a block or two, not of the
// ~130 KB record. The op is verified alone: its checksum, with the
// entry's seq (record.go), and that it is a put of the entry's key with a
// value of the entry's length. Damage stops the dataspace (I4), a read
// error fail-stops it (I5), as in readRecord. The value returned is the
// caller's.
func (ds *Dataspace) readOp(e *entry) ([]byte, error) {
	// The op's size is known but for the version a relocated put
	// carries: read those 8 bytes more, within the payload. decodeOp
	// ignores what follows the op.
	n := min(opFixedSize+versionSize+len(e.key)+int(e.size), e.pos.PayloadBytes()-int(e.opOffset))
	b, err := ds.log.ReadRecordRange(e.pos, int(e.opOffset), n)
	if err != nil {
		if errors.Is(err, wal.ErrCorrupt) {
			return nil, ds.corruptStop(fmt.Errorf("%w: key %q: %w", ErrCorrupt, e.key, err))
		}
		return nil, ds.failStop(fmt.Errorf("read key %q: %w", e.key, err))
	}
	o, _, err := decodeOp(b, e.seq)
	switch {
	case err != nil:
	case o.kind != opPut || string(o.key) != e.key || len(o.value) != int(e.size):
		err = fmt.Errorf("the op is a kind %d of key %q with %d bytes, not a put of key %q with %d", o.kind, o.key, len(o.value), e.key, e.size)
	case o.version != 0 && o.version != e.seq:
		err = fmt.Errorf("the relocated put has version %d, not %d", o.version, e.seq)
	}
	if err != nil {
		file, at := ds.log.Locate(e.pos, int(e.opOffset))
		cause := &wal.CorruptError{Path: file, Offset: at, Reason: fmt.Sprintf("record at group %d, op %d at payload offset %d: %v", e.pos.GroupOffset, e.opIndex, e.opOffset, err)}
		return nil, ds.corruptStop(fmt.Errorf("%w: key %q: %w", ErrCorrupt, e.key, cause))
	}
	return append([]byte(nil), o.value...), nil
}

// checkHolds says why a record read back is not the one the index entry
// means (recordHolds), or nil.
func checkHolds(p *recordPayload, seq uint64, e *entry) error {
	if recordHolds(p, seq, e) {
		return nil
	}
	return fmt.Errorf("record %d at segment %d offset %d does not hold key %q", seq, e.pos.Segment, e.pos.GroupOffset, e.key)
}

// corruptStop stops the dataspace because verified data turned out damaged
// (I4): it is never served, and nothing more is written on top of it. The
// writer sees the stop before its next group.
func (ds *Dataspace) corruptStop(err error) error {
	err = dsError(ds.name, err)
	ds.db.log.Error("dataspace stopped: stored data failed verification", "dataspace", ds.name, "err", err)
	ds.mu.Lock()
	if ds.stopErr == nil {
		ds.stopErr = err
	} else {
		err = ds.stopErr
	}
	ds.mu.Unlock()
	return err
}

// KV is one key and value returned by Scan.
type KV struct {
	Key   []byte
	Value Value
}

// ScanOptions select a key range. Keys are ordered bytewise.
type ScanOptions struct {
	// Start is the first key (inclusive); End the bound (exclusive; nil
	// means no bound).
	Start, End []byte
	// Prefix, if set, restricts the scan to keys with this prefix (and
	// narrows Start and End accordingly).
	Prefix []byte
	// After resumes a scan: only keys strictly greater are returned. Pass
	// the Next of the previous page.
	After []byte
	// Limit caps the number of results (default 1000, at most 100,000).
	Limit int
	// MaxBytes caps the keys and values of one page (default
	// DefaultScanMaxBytes); a page always holds at least one key, and
	// Next says where to resume.
	MaxBytes int
	// KeysOnly returns keys and versions without reading the values
	// (Value.Data is nil).
	KeysOnly bool
}

// ScanPage is one page of scan results.
type ScanPage struct {
	KVs []KV
	// Next is the resume point for the following page (pass it as After),
	// nil when the range is exhausted.
	Next []byte
}

// Scan limits.
const (
	DefaultScanLimit = 1000
	MaxScanLimit     = 100_000
	// DefaultScanMaxBytes bounds a page's keys and values when
	// ScanOptions.MaxBytes is not set.
	DefaultScanMaxBytes = 32 << 20
)

// Scan returns keys in order within the range, with their values (or
// without, with KeysOnly), a page at a time (Limit keys, MaxBytes bytes).
func (ds *Dataspace) Scan(ctx context.Context, opts ScanOptions) (ScanPage, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultScanLimit
	}
	if limit > MaxScanLimit {
		return ScanPage{}, fmt.Errorf("%w: scan limit %d exceeds %d (MaxScanLimit)", ErrInvalidArgument, limit, MaxScanLimit)
	}
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultScanMaxBytes
	}
	start := string(opts.Start)
	if p := string(opts.Prefix); p > start {
		start = p
	}
	ds.segMu.RLock()
	defer ds.segMu.RUnlock()
	ds.mu.RLock()
	if ds.stopErr != nil {
		ds.mu.RUnlock()
		return ScanPage{}, ds.stopErr
	}
	var hits []*entry
	more := false
	bytes := 0
	ds.index.Ascend(start, func(e *entry) bool {
		if opts.After != nil && e.key <= string(opts.After) {
			return true
		}
		if opts.End != nil && e.key >= string(opts.End) {
			return false
		}
		if opts.Prefix != nil && (len(e.key) < len(opts.Prefix) || e.key[:len(opts.Prefix)] != string(opts.Prefix)) {
			return false
		}
		n := len(e.key)
		if !opts.KeysOnly {
			n += int(e.size)
		}
		if len(hits) == limit || (len(hits) > 0 && bytes+n > maxBytes) {
			more = true
			return false
		}
		bytes += n
		hits = append(hits, e)
		return true
	})
	ds.mu.RUnlock()
	page := ScanPage{KVs: make([]KV, 0, len(hits))}
	for _, e := range hits {
		if err := ctx.Err(); err != nil {
			return ScanPage{}, err
		}
		var data []byte
		if !opts.KeysOnly {
			var err error
			if data, err = ds.readValue(e); err != nil {
				return ScanPage{}, err
			}
		}
		page.KVs = append(page.KVs, KV{Key: []byte(e.key), Value: Value{Data: data, Seq: e.seq}})
	}
	if more && len(hits) > 0 {
		page.Next = []byte(hits[len(hits)-1].key)
	}
	return page, nil
}

// Len returns the number of live keys.
func (ds *Dataspace) Len() int {
	ds.mu.RLock()
	defer ds.mu.RUnlock()
	return ds.index.Len()
}

// LastSeq returns the sequence number of the last visible write.
func (ds *Dataspace) LastSeq() uint64 {
	ds.mu.RLock()
	defer ds.mu.RUnlock()
	return ds.lastSeq
}
