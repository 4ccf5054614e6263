package holdfast

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// Quiesce and resume make a data directory safe to copy at the volume
// level (a CSI VolumeSnapshot, an EBS snapshot, a copy of a loop-device
// image): between the moment Quiesce returns and the moment Resume is
// called, every byte the directory holds, and every directory entry, is on
// stable storage, nothing changes it, and snapshot.json files say what a
// restored copy must hold (docs/snapshots.md, docs/format.md "snapshot.json").
//
// The sequence, for every dataspace at once:
//
//  1. hold new writes at a gate in front of the writer (they wait up to
//     QuiesceOptions.WriteWait, or fail at once with ErrQuiesced); reads go
//     on; pause compaction between chunks;
//  2. drain: wait until every write that passed the gate has its outcome;
//  3. sync every log segment (Confirm: late-reported sync failures are
//     caught here, I5), write a checkpoint (when the log grew by at least
//     QuiesceCheckpointMinBytes since the last one);
//  4. write the dataspace's snapshot.json (last sequence number, key count,
//     content hash, files with sizes and checksums), then the root
//     snapshot.json, each with vfs.WriteMetaFile (temp file, fsync, rename,
//     directory fsync: I6);
//  5. syncfs the file system, and optionally freeze it (FIFREEZE).
//
// Only then does Quiesce return the quiesce id. A second Quiesce while
// quiesced returns the same id (hooks may run twice). A Resume that never
// comes is replaced by the auto-resume deadline, so a lost post-hook never
// leaves the database frozen. A Quiesce that fails or whose context ends
// releases the gate: the database stays writable.

// ErrQuiesced: the database is quiesced for a snapshot and the write was
// not applied. Writes resume after Resume (POST /v1/resume, holdfast
// resume) or at the auto-resume deadline.
var ErrQuiesced = errors.New("holdfast: quiesced for a snapshot; writes resume after resume or the auto-resume deadline")

// Quiesce defaults and limits.
const (
	DefaultAutoResumeAfter = 60 * time.Second
	MaxAutoResumeAfter     = 24 * time.Hour
	// QuiesceCheckpointMinBytes: a quiesce writes a checkpoint when at
	// least this much log, and at least the last checkpoint's size, was
	// written since the last one (as background checkpoints do: never
	// more checkpoint bytes than log bytes), so a restored copy replays at
	// most that much log (16 MiB replays in well under a second) while a
	// quiesce seldom pays for a checkpoint.
	QuiesceCheckpointMinBytes = 16 << 20
	// MaxQuiesceWriteWait bounds QuiesceOptions.WriteWait.
	MaxQuiesceWriteWait = 10 * time.Minute
	// compactionPauseStep is how long a compaction step waits for a
	// resume before handing control back to the writer loop.
	compactionPauseStep = 5 * time.Millisecond
)

// QuiesceOptions configure one quiesce.
type QuiesceOptions struct {
	// AutoResumeAfter is the deadline after which the database resumes by
	// itself (default DefaultAutoResumeAfter, at most MaxAutoResumeAfter).
	AutoResumeAfter time.Duration
	// WriteWait is how long a write that arrives while quiesced waits for
	// the resume before failing with ErrQuiesced. Zero: it fails at once.
	WriteWait time.Duration
	// FSFreeze also freezes the file system holding the data directory
	// (FIFREEZE; Linux, root, the OS file system only) once everything is
	// durable, and thaws it on resume or at the deadline.
	FSFreeze bool
}

func (o QuiesceOptions) withDefaults() (QuiesceOptions, error) {
	if o.AutoResumeAfter == 0 {
		o.AutoResumeAfter = DefaultAutoResumeAfter
	}
	if o.AutoResumeAfter < 0 || o.AutoResumeAfter > MaxAutoResumeAfter {
		return o, fmt.Errorf("%w: auto-resume after %v: must be within (0, %v]", ErrInvalidArgument, o.AutoResumeAfter, MaxAutoResumeAfter)
	}
	if o.WriteWait < 0 || o.WriteWait > MaxQuiesceWriteWait {
		return o, fmt.Errorf("%w: write wait %v: must be within [0, %v]", ErrInvalidArgument, o.WriteWait, MaxQuiesceWriteWait)
	}
	return o, nil
}

// QuiesceInfo describes the current (or last) quiesce.
type QuiesceInfo struct {
	ID string `json:"quiesce_id"`
	// Time is when the quiesce became durable; ResumeBy the auto-resume
	// deadline.
	Time     time.Time `json:"time"`
	ResumeBy time.Time `json:"resume_by"`
	// Dataspaces as recorded in snapshot.json.
	Dataspaces []SnapshotDataspace `json:"dataspaces"`
	Frozen     bool                `json:"fsfreeze"`
	// Duration is how long the quiesce took, request to durable.
	Duration time.Duration `json:"duration_ns"`
	// Phases break Duration down: drain (writes in flight), dataspaces
	// (log sync, checkpoint, content hash, file checksums, their
	// snapshot.json; in parallel), root (the root snapshot.json), syncfs.
	Phases QuiescePhases `json:"phases"`
}

// QuiescePhases are the durations of a quiesce's steps.
type QuiescePhases struct {
	Drain      time.Duration `json:"drain_ns"`
	Dataspaces time.Duration `json:"dataspaces_ns"`
	Root       time.Duration `json:"root_ns"`
	SyncFS     time.Duration `json:"syncfs_ns"`
}

// quiesceState is the DB's quiesce machinery: the write gate every write
// passes (submit, compaction steps), the current quiesce, and the result of
// the restore verification at open.
type quiesceState struct {
	mu        sync.Mutex
	inflight  int           // writes and compaction steps past the gate
	maint     int           // compaction steps among them
	views     int           // open Views (logical.go): compaction pauses
	held      bool          // the gate is closed
	writeWait time.Duration // while held
	resumed   chan struct{} // closed when the gate opens again
	drained   chan struct{} // closed when inflight reaches 0 while held
	// maintPaused is closed (and forgotten) when compaction is paused,
	// by a quiesce or a View: see pausedSignal.
	maintPaused chan struct{}
	active      *QuiesceInfo // the durable quiesce, nil when not quiesced
	timer       *time.Timer
	frozen      io.Closer

	// op serializes Quiesce and Resume.
	op sync.Mutex

	// segSums caches checksums of log segment prefixes (snapshotmeta.go).
	sumMu     sync.Mutex
	segSums   map[segSumKey]segSum
	valueSums map[*Dataspace][]digestEntry

	restoreMu sync.Mutex
	restore   RestoreStatus
	// skipManifestSync is the test-only switch that writes snapshot.json
	// files without syncing (seed 000's bug), so the real-volume test can
	// show that it sees the difference.
	skipManifestSync bool
}

// enter lets a write through the gate, or holds it while quiesced. Every
// successful enter is paired with a leave.
func (q *quiesceState) enter(ctx context.Context) error {
	q.mu.Lock()
	var deadline time.Time
	for q.held {
		if q.writeWait <= 0 {
			q.mu.Unlock()
			return ErrQuiesced
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(q.writeWait)
		}
		ch := q.resumed
		q.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("%w (waited %v)", ErrQuiesced, q.writeWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
			return fmt.Errorf("%w (waited %v)", ErrQuiesced, time.Since(deadline.Add(-q.writeWait)).Round(time.Millisecond))
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		q.mu.Lock()
	}
	q.inflight++
	q.mu.Unlock()
	return nil
}

// tryEnter is enter for background work (compaction): it never waits.
func (q *quiesceState) tryEnter() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held || q.views > 0 {
		return false
	}
	q.inflight++
	q.maint++
	return true
}

// pausedSignal returns a channel closed the next time compaction is
// paused (a quiesce begins or a View opens). A writer that holds client
// writes back for a running compaction (compactionStalls) waits on it
// too: once the compaction is paused it would otherwise wait for a
// compaction that waits for the quiesce, which waits for those writes.
func (q *quiesceState) pausedSignal() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.maintPaused == nil {
		q.maintPaused = make(chan struct{})
	}
	return q.maintPaused
}

// signalPausedLocked wakes whoever waits on pausedSignal; q.mu is held.
func (q *quiesceState) signalPausedLocked() {
	if q.maintPaused != nil {
		close(q.maintPaused)
		q.maintPaused = nil
	}
}

// pausesMaint says whether tryEnter would refuse: a quiesce or a View
// holds compaction.
func (q *quiesceState) pausesMaint() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held || q.views > 0
}

// leaveMaint is leave for a tryEnter.
func (q *quiesceState) leaveMaint() {
	q.mu.Lock()
	q.maint--
	q.mu.Unlock()
	q.leave()
}

func (q *quiesceState) leave() {
	q.mu.Lock()
	q.inflight--
	if q.inflight < 0 {
		panic("holdfast: quiesce gate left more often than entered")
	}
	if q.held && q.inflight == 0 && q.drained != nil {
		close(q.drained)
		q.drained = nil
	}
	q.mu.Unlock()
}

// pause waits a little while the gate is closed, so a paused compaction
// does not spin; it returns early on resume or when quit closes.
func (q *quiesceState) pause(quit <-chan struct{}) {
	q.mu.Lock()
	ch := q.resumed
	held := q.held
	views := q.views
	q.mu.Unlock()
	if !held && views == 0 {
		return
	}
	if !held {
		ch = nil // paused by a View: wait out the step
	}
	t := time.NewTimer(compactionPauseStep)
	defer t.Stop()
	select {
	case <-ch:
	case <-quit:
	case <-t.C:
	}
}

// hold closes the gate and returns a channel closed once nothing is in
// flight.
func (q *quiesceState) hold(writeWait time.Duration) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held {
		panic("holdfast: quiesce gate held twice")
	}
	q.held, q.writeWait = true, writeWait
	q.resumed = make(chan struct{})
	q.signalPausedLocked()
	drained := make(chan struct{})
	if q.inflight == 0 {
		close(drained)
	} else {
		q.drained = drained
	}
	return drained
}

// release opens the gate.
func (q *quiesceState) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.held {
		return
	}
	q.held, q.drained = false, nil
	close(q.resumed)
}

// isHeld reports whether the gate is closed.
func (q *quiesceState) isHeld() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.held
}

// Quiesce drains and holds writes on every dataspace, makes everything
// durable, writes snapshot.json files, and returns once all of it is on
// stable storage (see the comment at the top of quiesce.go). ctx bounds the
// whole operation; if it ends first, or anything fails, the database
// resumes and stays writable, and the error says why.
func (db *DB) Quiesce(ctx context.Context, opts QuiesceOptions) (QuiesceInfo, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return QuiesceInfo{}, err
	}
	q := &db.quiesce
	q.op.Lock()
	defer q.op.Unlock()
	q.mu.Lock()
	if q.active != nil {
		info := *q.active
		q.mu.Unlock()
		return info, nil // idempotent
	}
	q.mu.Unlock()

	start := time.Now()
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return QuiesceInfo{}, ErrClosed
	}
	drained := q.hold(opts.WriteWait)
	spaces := make([]*Dataspace, 0, len(db.spaces))
	for _, ds := range db.spaces {
		spaces = append(spaces, ds)
	}
	db.mu.Unlock()
	slices.SortFunc(spaces, func(a, b *Dataspace) int { return strings.Compare(a.name, b.name) })

	info, err := db.quiesceHeld(ctx, drained, spaces, opts)
	if err != nil {
		// Remove what this attempt wrote, so no snapshot.json outlives a
		// quiesce that was never reported done (best effort: a leftover
		// still describes a state the directory holds at least).
		partial := &QuiesceInfo{}
		for _, ds := range spaces {
			partial.Dataspaces = append(partial.Dataspaces, SnapshotDataspace{Name: ds.name})
		}
		db.removeSnapshotFiles(partial)
		q.release()
		db.log.Warn("quiesce failed; writes continue", "err", err, "ms", time.Since(start).Milliseconds())
		return QuiesceInfo{}, err
	}
	info.Duration = time.Since(start)
	info.ResumeBy = time.Now().Add(opts.AutoResumeAfter)
	q.mu.Lock()
	q.active = &info
	id := info.ID
	q.timer = time.AfterFunc(opts.AutoResumeAfter, func() {
		db.log.Warn("auto-resume: no resume arrived before the deadline", "quiesce_id", id, "after", opts.AutoResumeAfter)
		if err := db.resume(id, "auto-resume deadline"); err != nil {
			db.log.Error("auto-resume failed", "quiesce_id", id, "err", err)
		}
	})
	q.mu.Unlock()
	db.log.Info("quiesced: every dataspace is durable and snapshot.json written", "quiesce_id", info.ID,
		"dataspaces", len(info.Dataspaces), "ms", info.Duration.Milliseconds(), "drain_ms", info.Phases.Drain.Milliseconds(),
		"dataspaces_ms", info.Phases.Dataspaces.Milliseconds(), "root_ms", info.Phases.Root.Milliseconds(),
		"syncfs_ms", info.Phases.SyncFS.Milliseconds(), "resume_by", info.ResumeBy, "fsfreeze", info.Frozen)
	return info, nil
}

// quiesceHeld does the work of Quiesce once the gate is closed.
func (db *DB) quiesceHeld(ctx context.Context, drained <-chan struct{}, spaces []*Dataspace, opts QuiesceOptions) (QuiesceInfo, error) {
	for _, ds := range spaces {
		if err := ds.err(); err != nil {
			return QuiesceInfo{}, fmt.Errorf("quiesce: %w; reopen or drop it first", err)
		}
	}
	t0 := time.Now()
	select {
	case <-drained:
	case <-ctx.Done():
		return QuiesceInfo{}, fmt.Errorf("quiesce: draining writes in flight: %w", ctx.Err())
	}
	info := QuiesceInfo{ID: newQuiesceID(), Time: time.Now().UTC()}
	info.Phases.Drain = time.Since(t0)
	t0 = time.Now()
	records := make([]SnapshotDataspace, len(spaces))
	errs := make([]error, len(spaces))
	// In parallel, except under SerialMaintenance, where the order of
	// file operations must depend only on the workload (crash testing).
	var wg sync.WaitGroup
	for i, ds := range spaces {
		if db.opts.SerialMaintenance {
			records[i], errs[i] = ds.quiesceOne(ctx, info)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			records[i], errs[i] = ds.quiesceOne(ctx, info)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return QuiesceInfo{}, fmt.Errorf("quiesce: %w", err)
	}
	info.Dataspaces = records
	db.pruneSumCaches(spaces)
	info.Phases.Dataspaces = time.Since(t0)
	t0 = time.Now()
	root := snapshotRoot{Kind: "root", QuiesceID: info.ID, Time: info.Time, Version: Version,
		FormatVersion: snapshotFormatVersion, Dataspaces: records}
	if err := db.writeSnapshotMeta(path.Join(db.dir, snapshotFileName), root); err != nil {
		return QuiesceInfo{}, fmt.Errorf("quiesce: write %s: %w", path.Join(db.dir, snapshotFileName), err)
	}
	info.Phases.Root = time.Since(t0)
	t0 = time.Now()
	if !db.quiesce.unsafeMeta() {
		if err := db.fsys.SyncFS(db.dir); err != nil {
			return QuiesceInfo{}, fmt.Errorf("quiesce: syncfs %s: %w", db.dir, err)
		}
	}
	info.Phases.SyncFS = time.Since(t0)
	if opts.FSFreeze {
		thaw, err := freezeFS(db.fsys, db.dir)
		if err != nil {
			return QuiesceInfo{}, fmt.Errorf("quiesce: fsfreeze %s: %w", db.dir, err)
		}
		db.quiesce.frozen = thaw
		info.Frozen = true
	}
	return info, nil
}

// quiesceOne makes one drained dataspace durable and writes its
// snapshot.json. It holds the checkpoint slot, so no background checkpoint
// runs meanwhile.
func (ds *Dataspace) quiesceOne(ctx context.Context, info QuiesceInfo) (SnapshotDataspace, error) {
	for !ds.ckptBusy.CompareAndSwap(false, true) {
		select {
		case <-ctx.Done():
			return SnapshotDataspace{}, dsError(ds.name, fmt.Errorf("waiting for a checkpoint in progress: %w", ctx.Err()))
		case <-time.After(time.Millisecond):
		}
	}
	defer ds.ckptBusy.Store(false)
	if err := ds.err(); err != nil {
		return SnapshotDataspace{}, err
	}
	// Everything acknowledged is in the log; make sure every segment is
	// durable (an interval policy's writes too), catching a sync failure
	// reported late (I5), and take the checkpoint's state: on the writer
	// goroutine, which owns the log, once its pipeline is empty.
	var c checkpointState
	var confirmErr error
	checkpoint := false
	done := make(chan struct{})
	task := func() {
		defer close(done)
		if confirmErr = ds.log.Confirm(0); confirmErr != nil {
			return
		}
		c = ds.snapshot()
		if written := ds.log.Stats().BytesWritten; written-ds.ckptAtBytes >= max(QuiesceCheckpointMinBytes, ds.ckptSize.Load()) {
			checkpoint, ds.ckptAtBytes = true, written
		}
	}
	select {
	case ds.tasks <- task:
		<-done
	case <-ds.done:
		return SnapshotDataspace{}, ds.stoppedErr()
	case <-ctx.Done():
		return SnapshotDataspace{}, dsError(ds.name, fmt.Errorf("waiting for the writer: %w", ctx.Err()))
	}
	if confirmErr != nil {
		return SnapshotDataspace{}, ds.failStop(fmt.Errorf("quiesce: sync the log: %w", confirmErr))
	}
	if checkpoint {
		if err := ds.writeCheckpoint(c); err != nil {
			return SnapshotDataspace{}, ds.failStop(fmt.Errorf("quiesce: checkpoint: %w", err))
		}
	}
	rec, err := ds.describe(ctx, c)
	if err != nil {
		return SnapshotDataspace{}, err
	}
	meta := snapshotRoot{Kind: "dataspace", QuiesceID: info.ID, Time: info.Time, Version: Version,
		FormatVersion: snapshotFormatVersion, Dataspaces: []SnapshotDataspace{rec}}
	if err := ds.db.writeSnapshotMeta(path.Join(ds.dir, snapshotFileName), meta); err != nil {
		return SnapshotDataspace{}, ds.failStop(fmt.Errorf("quiesce: write snapshot.json: %w", err))
	}
	return rec, nil
}

// writeSnapshotMeta writes a snapshot.json durably (I6), or, under the
// test-only switch, the way seed 000 did.
func (db *DB) writeSnapshotMeta(name string, m snapshotRoot) error {
	if db.quiesce.unsafeMeta() {
		db.log.Error("TEST BUILD: snapshot.json written without fsync (holdfast_unsafe_snapshot_meta); never use this binary for data", "file", name)
		data, err := vfs.EncodeMeta(snapshotKind, m)
		if err != nil {
			return err
		}
		return vfs.WriteFileUnsafe(db.fsys, name, data, 0o644)
	}
	return vfs.WriteMetaFile(db.fsys, name, snapshotKind, m)
}

// Resume ends the quiesce id (empty: whichever is active): writes flow
// again, a frozen file system is thawed, and the snapshot.json files are
// removed (a copy taken while quiesced keeps them). Resuming when not
// quiesced is not an error, so post-hooks may run twice; resuming with an
// id that is not the active one is.
func (db *DB) Resume(id string) error { return db.resume(id, "resume") }

func (db *DB) resume(id, why string) error {
	q := &db.quiesce
	q.op.Lock()
	defer q.op.Unlock()
	q.mu.Lock()
	active := q.active
	if active == nil {
		q.mu.Unlock()
		return nil
	}
	if id != "" && id != active.ID {
		q.mu.Unlock()
		return fmt.Errorf("%w: resume %q: the active quiesce is %q", ErrInvalidArgument, id, active.ID)
	}
	q.active = nil
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	frozen := q.frozen
	q.frozen = nil
	q.mu.Unlock()
	var err error
	if frozen != nil {
		if terr := frozen.Close(); terr != nil {
			err = fmt.Errorf("resume: thaw the file system: %w", terr)
		}
	}
	q.release()
	if rerr := db.removeSnapshotFiles(active); rerr != nil {
		err = errors.Join(err, fmt.Errorf("resume: %w", rerr))
	}
	db.log.Info("resumed", "quiesce_id", active.ID, "by", why, "quiesced_ms", time.Since(active.Time).Milliseconds())
	return err
}

// removeSnapshotFiles removes the snapshot.json files of a quiesce that
// ended. A leftover one still describes a state the directory holds at
// least, so restore verification still passes, unless a dataspace it
// lists is dropped later: so a failure to remove the root one is
// returned (and the dataspaces' ones are kept, so a root one never lacks
// them).
func (db *DB) removeSnapshotFiles(info *QuiesceInfo) error {
	// The root one first: a root snapshot.json without a dataspace's own
	// one is a problem for restore verification; the reverse is not.
	dirs := []string{db.dir}
	for _, d := range info.Dataspaces {
		dirs = append(dirs, path.Join(db.spacesDir(), d.Name))
	}
	for i, d := range dirs {
		err := db.fsys.Remove(path.Join(d, snapshotFileName))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = vfs.SyncDir(db.fsys, d)
		}
		if err != nil && i == 0 {
			db.log.Error("removing the root snapshot.json failed; keeping the dataspaces' ones (they still verify)", "dir", d, "err", err)
			return fmt.Errorf("remove %s (writes flow again; if the file survives and a dataspace it lists is dropped, restore verification will report it: remove the file by hand): %w",
				path.Join(d, snapshotFileName), err)
		}
		if err != nil {
			db.log.Warn("removing snapshot.json", "dir", d, "err", err)
		}
	}
	return nil
}

// QuiesceStatus returns the active quiesce, if any.
func (db *DB) QuiesceStatus() (QuiesceInfo, bool) {
	q := &db.quiesce
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active == nil {
		return QuiesceInfo{}, false
	}
	return *q.active, true
}

// Ready reports whether the database serves normally and, if not, why:
// quiesced, or a restore verification at open that failed. Stopped
// dataspaces are reported by their own Err.
func (db *DB) Ready() (bool, []string) {
	var reasons []string
	if info, ok := db.QuiesceStatus(); ok {
		reasons = append(reasons, fmt.Sprintf("quiesced (id %s, auto-resume by %s)", info.ID, info.ResumeBy.UTC().Format(time.RFC3339)))
	}
	if rs := db.RestoreStatus(); rs.Checked && !rs.OK {
		for _, p := range rs.Problems {
			reasons = append(reasons, "restore verification failed: "+p)
		}
	}
	return len(reasons) == 0, reasons
}

// quiesceClose ends an active quiesce as Close begins (after it marked
// the DB closed, so no new quiesce starts; one in progress is waited for):
// the file system is thawed (Close writes checkpoints) and held writers
// are released (they then see ErrClosed).
func (db *DB) quiesceClose() {
	if err := db.resume("", "close"); err != nil {
		db.log.Error("close: ending the quiesce", "err", err)
	}
}

// newQuiesceID returns a fresh id: "q-" and 16 hex digits.
func newQuiesceID() string { return "q-" + randomHex(8) }

// unsafeSnapshotMetaBuild is set only in binaries built with the tag
// holdfast_unsafe_snapshot_meta (unsafe_snapshot_meta.go): the real-volume
// test uses one to show that it detects seed 000's bug.
var unsafeSnapshotMetaBuild = false

func (q *quiesceState) unsafeMeta() bool { return q.skipManifestSync || unsafeSnapshotMetaBuild }

// pruneSumCaches forgets the cached checksums and digests of dataspaces
// that were dropped or reopened since.
func (db *DB) pruneSumCaches(spaces []*Dataspace) {
	q := &db.quiesce
	q.sumMu.Lock()
	defer q.sumMu.Unlock()
	for ds := range q.valueSums {
		if !slices.Contains(spaces, ds) {
			delete(q.valueSums, ds)
		}
	}
	for k := range q.segSums {
		if !slices.Contains(spaces, k.ds) {
			delete(q.segSums, k)
		}
	}
}
