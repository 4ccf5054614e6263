package holdfast

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-db/holdfast/internal/wal"
)

// request is one client write on its way to the writer goroutine.
type request struct {
	ops       []op
	one       [1]op // backs ops for single-key writes (one allocation less)
	requestID string
	cond      condition
	// incr, when set, makes the request an increment of ops[0].key by
	// delta; the writer computes the value.
	incr  bool
	delta int64
	// reloc, when set, makes the request a compaction's relocation of
	// live values (compact.go); ops is then empty.
	reloc *relocation
	size  int
	reply chan reply
}

type condKind uint8

const (
	condNone      condKind = iota
	condIfVersion          // the key's version must equal version (0: absent)
	condIfAbsent
	condIfExists
)

type condition struct {
	kind    condKind
	version uint64
}

// reply is the writer's answer.
type reply struct {
	seq      uint64
	err      error
	existed  bool  // for deletes: the key existed
	intValue int64 // for increments: the new value
	dup      bool  // a retried request id: applied earlier, not again
	// relocated counts the values a relocation request wrote.
	relocated int
}

// WriteOption modifies one write.
type WriteOption func(*request)

// WithRequestID makes a retried write apply once: a write whose request id
// the dataspace has already applied is not applied again, and returns the
// original sequence number. The dataspace remembers the last
// RequestIDWindow ids, across restarts.
func WithRequestID(id string) WriteOption { return func(r *request) { r.requestID = id } }

// IfVersion makes a single-key write conditional on the key's current
// version (the Seq of its value; 0 means the key must not exist). If it
// does not match, nothing is written and ErrVersionMismatch is returned.
func IfVersion(version uint64) WriteOption {
	return func(r *request) { r.cond = condition{kind: condIfVersion, version: version} }
}

// IfAbsent writes only if the key does not exist (Redis SET NX).
func IfAbsent() WriteOption { return func(r *request) { r.cond = condition{kind: condIfAbsent} } }

// IfExists writes only if the key exists (Redis SET XX).
func IfExists() WriteOption { return func(r *request) { r.cond = condition{kind: condIfExists} } }

// Put stores value under key and returns the write's sequence number. Under
// the default sync policy it returns only once the write is on stable
// storage. With a condition that does not hold it returns
// ErrVersionMismatch (IfVersion) or ErrNotFound/ErrExists (IfExists,
// IfAbsent) and writes nothing.
func (ds *Dataspace) Put(ctx context.Context, key, value []byte, opts ...WriteOption) (uint64, error) {
	r, err := ds.putRequest(key, value, opts)
	if err != nil {
		return 0, err
	}
	rep, err := ds.submit(ctx, r)
	return rep.seq, err
}

// CompareAndSwap stores value only if key's version is expected (0: the
// key must not exist).
func (ds *Dataspace) CompareAndSwap(ctx context.Context, key []byte, expected uint64, value []byte, opts ...WriteOption) (uint64, error) {
	return ds.Put(ctx, key, value, append(opts, IfVersion(expected))...)
}

// Delete removes key. It reports whether the key existed; deleting a
// missing key writes nothing.
func (ds *Dataspace) Delete(ctx context.Context, key []byte, opts ...WriteOption) (existed bool, seq uint64, err error) {
	r, err := ds.deleteRequest(key, opts)
	if err != nil {
		return false, 0, err
	}
	rep, err := ds.submit(ctx, r)
	return rep.existed, rep.seq, err
}

// Incr adds delta to the decimal int64 stored at key (a missing key counts
// as 0), atomically, and returns the new value. A value that is not an
// integer, or an overflow, gives ErrNotInteger and writes nothing.
func (ds *Dataspace) Incr(ctx context.Context, key []byte, delta int64, opts ...WriteOption) (int64, uint64, error) {
	r, err := ds.incrRequest(key, delta, opts)
	if err != nil {
		return 0, 0, err
	}
	rep, err := ds.submit(ctx, r)
	return rep.intValue, rep.seq, err
}

// Batch collects puts and deletes applied atomically: all or none, with
// one sequence number.
type Batch struct {
	ops  []op
	size int
	err  error
}

// Put adds a put to the batch.
func (b *Batch) Put(key, value []byte) {
	b.ops = append(b.ops, op{kind: opPut, key: clone(key), value: clone(value)})
	b.size += opFixedSize + len(key) + len(value)
}

// Delete adds a delete to the batch.
func (b *Batch) Delete(key []byte) {
	b.ops = append(b.ops, op{kind: opDelete, key: clone(key)})
	b.size += opFixedSize + len(key)
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Apply writes the batch atomically and returns its sequence number.
func (ds *Dataspace) Apply(ctx context.Context, b *Batch, opts ...WriteOption) (uint64, error) {
	r, err := ds.batchRequest(b, opts)
	if err != nil {
		return 0, err
	}
	rep, err := ds.submit(ctx, r)
	return rep.seq, err
}

// batchRequest checks a batch and builds its request.
func (ds *Dataspace) batchRequest(b *Batch, opts []WriteOption) (*request, error) {
	if len(b.ops) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalidArgument)
	}
	if b.size > ds.limits.MaxBatchSizeBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d (MaxBatchSizeBytes)", ErrBatchTooLarge, b.size, ds.limits.MaxBatchSizeBytes)
	}
	for _, o := range b.ops {
		if err := ds.limits.checkKey(o.key); err != nil {
			return nil, err
		}
		if err := ds.limits.checkValue(o.value); err != nil {
			return nil, err
		}
	}
	// The writer annotates the ops it plans; the Batch stays the caller's.
	r := &request{ops: slices.Clone(b.ops)}
	for _, o := range opts {
		o(r)
	}
	if r.cond.kind != condNone {
		return nil, fmt.Errorf("%w: conditions apply to single-key writes, not batches", ErrInvalidArgument)
	}
	return r, nil
}

// putRequest, deleteRequest and incrRequest check a single-key write and
// build its request.
func (ds *Dataspace) putRequest(key, value []byte, opts []WriteOption) (*request, error) {
	if err := ds.limits.checkKey(key); err != nil {
		return nil, err
	}
	if err := ds.limits.checkValue(value); err != nil {
		return nil, err
	}
	// One allocation holds both: the index and the value cache keep the
	// value, and the key's string is made apart.
	buf := make([]byte, len(key)+len(value))
	k := copy(buf, key)
	copy(buf[k:], value)
	return singleKey(op{kind: opPut, key: buf[:k:k], value: buf[k:]}, opts), nil
}

func (ds *Dataspace) deleteRequest(key []byte, opts []WriteOption) (*request, error) {
	if err := ds.limits.checkKey(key); err != nil {
		return nil, err
	}
	return singleKey(op{kind: opDelete, key: clone(key)}, opts), nil
}

func (ds *Dataspace) incrRequest(key []byte, delta int64, opts []WriteOption) (*request, error) {
	if err := ds.limits.checkKey(key); err != nil {
		return nil, err
	}
	r := singleKey(op{kind: opPut, key: clone(key)}, opts)
	r.incr, r.delta = true, delta
	return r, nil
}

func singleKey(o op, opts []WriteOption) *request {
	r := &request{}
	r.one[0] = o
	r.ops = r.one[:]
	for _, opt := range opts {
		opt(r)
	}
	return r
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// submit hands a request to the writer and waits for its reply. Once the
// writer has it, the caller waits for the outcome whatever ctx does: an
// abandoned write would leave its outcome unknown to nobody.
func (ds *Dataspace) submit(ctx context.Context, r *request) (reply, error) {
	if err := ds.send(ctx, r); err != nil {
		return reply{}, err
	}
	return ds.await(r)
}

// send checks r and queues it for the writer. When it returns nil the
// caller must await r: the request holds the quiesce gate until then.
// Requests sent one after another from one goroutine are applied in that
// order (the queue is first in, first out).
func (ds *Dataspace) send(ctx context.Context, r *request) error {
	if len(r.requestID) > ds.limits.MaxRequestIDBytes {
		return fmt.Errorf("%w: request id of %d bytes exceeds %d (MaxRequestIDBytes)", ErrInvalidArgument, len(r.requestID), ds.limits.MaxRequestIDBytes)
	}
	if r.cond.kind != condNone && len(r.ops) != 1 {
		return fmt.Errorf("%w: conditions apply to single-key writes", ErrInvalidArgument)
	}
	r.size = recordHeadSize + len(r.requestID)
	for _, o := range r.ops {
		r.size += opFixedSize + len(o.key) + len(o.value)
	}
	if err := ds.db.quiesce.enter(ctx); err != nil { // quiesce.go: held while quiesced
		return dsError(ds.name, err)
	}
	r.reply = replyChans.Get().(chan reply)
	err := ds.err()
	if err == nil {
		select {
		case ds.reqs <- r:
			return nil
		case <-ds.done:
			err = ds.stoppedErr()
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	ds.db.quiesce.leave()
	return err
}

// await waits for the outcome of a request send queued. A request still
// in the queue when the writer stops was never written: it gets the
// reason the dataspace stopped.
func (ds *Dataspace) await(r *request) (reply, error) {
	defer ds.db.quiesce.leave()
	var rep reply
	select {
	case rep = <-r.reply:
	case <-ds.done:
		select {
		case rep = <-r.reply: // answered as the writer stopped
		default:
			// Never answered: the writer is gone, so nothing will
			// send on the channel; it is simply dropped.
			return reply{}, ds.stoppedErr()
		}
	}
	// The writer sends one reply per request, and it has been received:
	// the channel is empty and nobody else holds it.
	replyChans.Put(r.reply)
	r.reply = nil
	return rep, rep.err
}

// replyChans recycles the reply channels of requests (two allocations
// each).
var replyChans = sync.Pool{New: func() any { return make(chan reply, 1) }}

// run is the dataspace's writer goroutine.
//
// Under the sync policy "always" it is a pipeline: while one group is
// written and synced (on the log's I/O goroutine), the writer plans and
// encodes the groups that arrive meanwhile, against the index plus an
// overlay of the groups not yet published, and queues them; the log
// writes the groups waiting for it together, with one write and one
// fdatasync, as soon as the one before is durable. A group is published
// and its waiters released only once its own sync has succeeded, in log
// order, so nothing is visible before it is durable (I1, I2); a reply
// that depends on an unpublished group (a failed condition, say) waits
// for that group too. At most maxInflight groups are unpublished; then
// new requests wait in the queue and form a larger group. Maintenance
// (compaction, checkpoints, interval syncs, shutdown) runs only when the
// pipeline is empty.
func (ds *Dataspace) run() {
	defer close(ds.done)
	defer func() {
		if ds.compacting != nil {
			err := ds.err()
			if err == nil {
				err = dsError(ds.name, ErrClosed)
			}
			ds.stopCompaction(err)
		}
	}()
	var tick <-chan time.Time
	if ds.opts.Sync.Interval > 0 {
		t := time.NewTicker(ds.opts.Sync.Interval)
		defer t.Stop()
		tick = t.C
	}
	onCompact := func(j *compactJob) {
		if ds.compacting != nil {
			ds.compacting.waiters = append(ds.compacting.waiters, j.done)
		} else {
			ds.beginCompaction(j)
		}
	}
	onTick := func() bool {
		if err := ds.syncNow(); err != nil {
			ds.failStop(fmt.Errorf("interval sync: %w", err))
			return false
		}
		return true
	}
	// SerialMaintenance runs each group's write and sync when the writer
	// waits for it, so a replayed run issues the same operations in the
	// same order.
	deferred := ds.db.opts.SerialMaintenance
	for {
		ok := true
		if len(ds.inflight) > 0 {
			// A sync is running. Plan and queue the next groups
			// meanwhile, unless enough wait, maintenance wants the
			// pipeline empty, or Close is draining it.
			g := ds.inflight[0]
			var reqs, relocs chan *request
			if len(ds.inflight) < maxInflight && !ds.checkpointDue() && ds.finishing == nil && !ds.quitting() {
				reqs, relocs = ds.reqs, ds.relocs
				if ds.compactionStalls() {
					reqs = nil
				}
			}
			if deferred {
				select {
				case r := <-relocs:
					ok = ds.enqueue(r)
				case r := <-reqs:
					ok = ds.enqueue(r)
				case f := <-ds.finishReqs:
					ds.finishing = f
				default:
					ok = ds.advance()
				}
			} else {
				select {
				case <-g.flush.Done():
					ok = ds.advance()
				case r := <-relocs:
					ok = ds.enqueue(r)
				case r := <-reqs:
					ok = ds.enqueue(r)
				case f := <-ds.finishReqs:
					ds.finishing = f
				}
			}
			if !ok {
				ds.abandon()
				return
			}
			continue
		}
		// The pipeline is empty.
		if f := ds.finishing; f != nil {
			ds.finishing = nil
			f()
			continue
		}
		reqs := ds.reqs
		var paused <-chan struct{}
		if ds.compacting != nil {
			// Taken before the check: a pause after it closes it.
			paused = ds.db.quiesce.pausedSignal()
		}
		if ds.compactionStalls() {
			reqs = nil
		} else {
			paused = nil
		}
		select {
		case <-paused:
			// Compaction is paused: client writes no longer wait for it.
		case r := <-ds.relocs:
			ok = ds.enqueue(r)
		case r := <-reqs:
			ok = ds.enqueue(r)
		case f := <-ds.finishReqs:
			ds.finishing = f
		case j := <-ds.compactReqs:
			onCompact(j)
		case task := <-ds.tasks:
			task()
		case <-tick:
			ok = onTick()
		case <-ds.quit:
			return
		}
		if !ok {
			ds.abandon()
			return
		}
	}
}

// gather forms a group: the first request and every request already
// waiting, up to GroupCommitMaxBytes. Requests that arrive while a group
// is being synced wait in the channel and form the next group.
func (ds *Dataspace) gather(first *request) []*request {
	group := []*request{first}
	size := first.size
	// A compaction's chunk waiting rides in this group (one at a time is
	// in flight), so compaction keeps pace with the client writes.
	if first.reloc == nil {
		select {
		case r := <-ds.relocs:
			group = append(group, r)
			size += r.size
		default:
		}
	}
	for size < ds.db.opts.GroupCommitMaxBytes {
		select {
		case r := <-ds.reqs:
			group = append(group, r)
			size += r.size
		default:
			return group
		}
	}
	return group
}

// pendingKey is a key's state as of the requests planned but not yet
// published.
type pendingKey struct {
	exists bool
	seq    uint64
	value  []byte
	known  bool // value is set (false: read it from the index when needed)
}

// maxInflight bounds the groups queued to the log and not yet published.
const maxInflight = 8

// group is one commit group on its way through the pipeline: planned,
// written to the log, then synced, published and answered.
type group struct {
	plans     []planned
	recs      int // records written
	positions []wal.RecordPos
	lastSeq   uint64 // of the last record; 0 with no records
	bytes     int64  // payload bytes of its records
	start     time.Time
	written   time.Duration // planning and encoding it (and writing it, under an interval policy)
	syncStart time.Time
	enc       encoding   // its encoded records, until its write and sync
	flush     *wal.Flush // its write and sync, once queued to the log
}

// encoding is a group's encoded records and the buffer that holds them.
type encoding struct {
	recs []wal.Record
	buf  []byte
}

// planned is one request of a group and its answer.
type planned struct {
	r       *request
	rep     reply
	payload recordPayload // what it writes, when write is set
	write   bool
	dupOf   *planned // an earlier, unpublished write with the same request id
}

// enqueue plans and writes the group that r starts, then hands it to the
// pipeline. It returns false when the dataspace has stopped.
func (ds *Dataspace) enqueue(r *request) bool {
	g, ok := ds.prepare(ds.gather(r))
	if !ok {
		return false
	}
	if ds.opts.Sync.Interval > 0 || (len(ds.inflight) == 0 && g.recs == 0) {
		// Under an interval policy a write is acknowledged once written
		// (the interval sync makes it durable); a group with nothing to
		// write has nothing unpublished to wait for.
		if !ds.finish(g) {
			return false
		}
		if len(ds.inflight) == 0 {
			ds.resetOverlay()
		}
		ds.maintain()
		return true
	}
	if len(ds.inflight) > 0 {
		// Queued behind the groups in flight: the log writes it as soon
		// as they are durable. One with nothing to write waits only for
		// them to be published.
		ds.stats.overlapped.Add(1)
	}
	if g.recs > 0 {
		ds.startIO(g)
	}
	ds.inflight = append(ds.inflight, g)
	ds.deepest = max(ds.deepest, len(ds.inflight))
	return true
}

// encBufKeepBytes bounds the encoding buffer the writer keeps between
// groups; a larger group's buffer is left to the garbage collector.
const encBufKeepBytes = 1 << 20

// encBufMinBytes is the least an encoding buffer is made with.
const encBufMinBytes = 16 << 10

// advance finishes the oldest group, whose write and sync ran; the next
// ones were queued behind it, so the device works on them while the
// writer updates the index and answers, and publication stays in log
// order because each group is published only after the ones before. The
// groups behind it with nothing to write are finished too: they waited
// only for it. The oldest group left is always one with a write.
func (ds *Dataspace) advance() bool {
	for first := true; len(ds.inflight) > 0 && (first || ds.inflight[0].flush == nil); first = false {
		g := ds.inflight[0]
		n := copy(ds.inflight, ds.inflight[1:])
		ds.inflight[n] = nil
		ds.inflight = ds.inflight[:n]
		if !ds.finish(g) {
			return false
		}
	}
	if len(ds.inflight) == 0 {
		ds.resetOverlay()
		ds.maintain()
	}
	return true
}

// maintain starts a compaction or a checkpoint when one is due; only with
// the pipeline empty.
func (ds *Dataspace) maintain() {
	ds.maybeStartCompaction()
	ds.maybeCheckpoint(false)
}

// quitting says whether Close has asked the writer to stop: it then takes
// no new requests, so the pipeline drains.
func (ds *Dataspace) quitting() bool {
	select {
	case <-ds.quit:
		return true
	default:
		return false
	}
}

// startIO queues g's records to the log, to be written and synced after
// the groups queued before.
func (ds *Dataspace) startIO(g *group) {
	g.syncStart = time.Now()
	g.flush = ds.log.AppendGroupAsync(g.enc.recs, ds.db.opts.SerialMaintenance)
}

// prepare plans a group against the index and the unpublished groups,
// and encodes its records; under an interval policy it also writes them
// to the log (without syncing them), and otherwise startIO queues them.
// It returns false when the dataspace has stopped; every request of the
// group has then been answered.
func (ds *Dataspace) prepare(reqs []*request) (*group, bool) {
	g := &group{plans: make([]planned, len(reqs)), start: time.Now()}
	for i, r := range reqs {
		g.plans[i].r = r
	}
	if err := ds.err(); err != nil {
		// Stopped by a reader that found damage: write nothing more.
		ds.answer(g, err)
		return nil, false
	}
	next := ds.nextSeq()
	first, size := next, 0
	for i := range g.plans {
		pl := &g.plans[i]
		r := pl.r
		if r.requestID != "" {
			if d, ok := ds.dedup.get(r.requestID); ok {
				pl.rep = ds.dupReply(r, d)
				continue
			}
			if orig, ok := ds.inflightIDs[r.requestID]; ok {
				pl.dupOf = orig
				continue
			}
		}
		var payload recordPayload
		var write bool
		var rep reply
		if r.reloc != nil {
			payload, write, rep = ds.planRelocation(r.reloc)
		} else {
			payload, write, rep = ds.plan(r)
		}
		if rep.err != nil || !write {
			pl.rep = rep
			continue
		}
		rep.seq = next
		next++
		pl.rep = rep
		pl.payload, pl.write = payload, true
		size += payload.encodedSize()
		if r.requestID != "" {
			ds.inflightIDs[r.requestID] = pl
		}
		// A relocation changes no key's state: it stays out of the overlay.
		if r.reloc != nil {
			continue
		}
		// Later requests see this one's effect. The key's string is
		// made once, for the overlay and the index.
		for j := range pl.payload.ops {
			o := &pl.payload.ops[j]
			o.str = string(o.key)
			ds.overlay[o.str] = pendingKey{exists: o.kind == opPut, seq: rep.seq, value: o.value, known: true}
		}
	}
	g.recs = int(next - first)
	if g.recs == 0 {
		return g, true
	}
	g.lastSeq = next - 1
	// One buffer holds the group's encoded records, until the log has
	// written them; finish gives it back for a later group.
	var recs []wal.Record
	var buf []byte
	if n := len(ds.encFree); n > 0 {
		recs, buf = ds.encFree[n-1].recs, ds.encFree[n-1].buf
		ds.encFree = ds.encFree[:n-1]
	}
	if cap(buf) < size {
		// Room to spare, so that the buffer serves the next groups too.
		buf = make([]byte, 0, max(size, encBufMinBytes, min(2*cap(buf), encBufKeepBytes)))
	}
	for i := range g.plans {
		if pl := &g.plans[i]; pl.write {
			start := len(buf)
			buf = pl.payload.appendTo(buf, pl.rep.seq)
			recs = append(recs, wal.Record{Seq: pl.rep.seq, Payload: buf[start:len(buf):len(buf)]})
		}
	}
	g.enc = encoding{recs: recs, buf: buf}
	g.bytes = int64(size)
	if ds.opts.Sync.Interval == 0 {
		g.written = time.Since(g.start)
		return g, true
	}
	positions, err := ds.log.AppendGroup(recs, false)
	ds.recycle(g)
	if err != nil {
		// The group may or may not be on the device: its writers learn
		// that the outcome is unknown; the dataspace stops (I3, I5).
		ds.answer(g, ds.failStop(fmt.Errorf("log write: %w", err)))
		return nil, false
	}
	g.positions = positions
	g.written = time.Since(g.start)
	return g, true
}

// nextSeq is the sequence number the next record gets: past the log's last
// and past the groups queued to it and not yet written.
func (ds *Dataspace) nextSeq() uint64 {
	next := ds.log.Position().NextSeq
	for _, g := range ds.inflight {
		if g.lastSeq >= next {
			next = g.lastSeq + 1
		}
	}
	return next
}

// finish waits for g's sync, publishes g to the index and answers its
// requests. It returns false when the dataspace has stopped; every request
// of g has then been answered.
func (ds *Dataspace) finish(g *group) bool {
	if g.flush != nil {
		if err := g.flush.Wait(); err != nil {
			ds.answer(g, ds.failStop(fmt.Errorf("log write and sync: %w", err)))
			return false
		}
		g.positions = g.flush.Positions()
		ds.recycle(g)
	}
	if g.recs > 0 {
		ds.stats.observeGroup(g.recs, time.Since(g.start))
		if obs := ds.db.opts.Observer; obs != nil {
			var sync time.Duration
			if g.flush != nil {
				sync = time.Since(g.syncStart)
			}
			obs.GroupCommitted(ds.name, g.recs, g.bytes, g.written, sync)
		}
		ds.mu.Lock()
		k := 0
		for i := range g.plans {
			if g.plans[i].write {
				ds.apply(g.plans[i].rep.seq, g.positions[k], &g.plans[i].payload)
				k++
			}
		}
		ds.mu.Unlock()
		for i := range g.plans {
			if g.plans[i].write {
				ds.cachePublished(g.plans[i].rep.seq, &g.plans[i].payload)
			}
		}
	}
	for i := range g.plans {
		pl := &g.plans[i]
		if pl.write {
			ds.forget(pl)
			ds.unlay(pl)
		}
		if pl.dupOf != nil {
			pl.rep = pl.dupOf.rep
			pl.rep.dup = true
		}
		pl.r.reply <- pl.rep
	}
	if len(g.plans) > 1 {
		// Let the writers just answered run. Each answer made its writer
		// the next to run on this processor, pushing the one before to
		// the back of its queue; the last, the writer goroutine and the
		// log's I/O goroutine would then hand each other this processor
		// for up to 10 ms (Go's time slice) while the others waited in
		// its queue, unless the other processor was free to steal them
		// (an execution trace showed it busy in a checkpoint's fsync).
		// Yielding puts this goroutine behind them all.
		runtime.Gosched()
	}
	return true
}

// recycle keeps a written group's encoding buffer for a later group; a
// large one is left to the garbage collector.
func (ds *Dataspace) recycle(g *group) {
	e := g.enc
	g.enc = encoding{}
	clear(e.recs) // drop the references to buf
	if e.buf != nil && cap(e.buf) <= encBufKeepBytes && len(ds.encFree) <= maxInflight {
		ds.encFree = append(ds.encFree, encoding{recs: e.recs[:0], buf: e.buf[:0]})
	}
}

// forget drops a published write from the unpublished request ids; the
// dedup table now answers for it.
func (ds *Dataspace) forget(pl *planned) {
	if id := pl.r.requestID; id != "" && ds.inflightIDs[id] == pl {
		delete(ds.inflightIDs, id)
	}
}

// unpublished returns key's state as of the unpublished groups (the one
// being planned included): the overlay holds, for every key they write,
// the last write planned.
func (ds *Dataspace) unpublished(key string) (pendingKey, bool) {
	p, ok := ds.overlay[key]
	return p, ok
}

// unlay removes a published write from the overlay, unless a later
// unpublished write to the same key replaced it there. A relocation's
// ops were never laid.
func (ds *Dataspace) unlay(pl *planned) {
	if pl.payload.relocated {
		return
	}
	ds.overlayHigh = max(ds.overlayHigh, len(ds.overlay))
	for j := range pl.payload.ops {
		o := &pl.payload.ops[j]
		if p, ok := ds.overlay[o.str]; ok && p.seq == pl.rep.seq {
			delete(ds.overlay, o.str)
		}
	}
}

// resetOverlay empties the overlay once nothing is unpublished; one that
// grew large is replaced, since a map keeps its capacity.
func (ds *Dataspace) resetOverlay() {
	// Publication has removed every write (unlay); what is left is
	// counted, for tests, and dropped.
	ds.overlayLeft += len(ds.overlay)
	switch {
	case ds.overlayHigh > 4096:
		ds.overlay = make(map[string]pendingKey)
	case len(ds.overlay) > 0:
		clear(ds.overlay)
	}
	ds.overlayHigh = 0
}

// answer fails every request of g: one that was written (or waits on one
// that was) may or may not be durable, so its outcome is unknown; the
// others were not applied and get cause.
func (ds *Dataspace) answer(g *group, cause error) {
	for i := range g.plans {
		pl := &g.plans[i]
		if pl.write || pl.dupOf != nil {
			pl.rep = reply{err: fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)}
		} else {
			pl.rep = reply{err: cause}
		}
		pl.r.reply <- pl.rep
	}
}

// abandon answers the groups still in the pipeline once the dataspace has
// stopped.
func (ds *Dataspace) abandon() {
	cause := ds.err()
	if cause == nil {
		cause = dsError(ds.name, ErrClosed)
	}
	for _, g := range ds.inflight {
		if g.flush != nil {
			g.flush.Wait()
		}
		ds.answer(g, cause)
	}
	ds.inflight = nil
	clear(ds.overlay) // the abandoned groups' writes were never published
	ds.overlayHigh = 0
	clear(ds.inflightIDs)
}

// checkpointDue says whether enough log has been written since the last
// checkpoint that the pipeline should drain for one.
func (ds *Dataspace) checkpointDue() bool {
	return ds.log.Stats().BytesWritten-ds.ckptAtBytes >= ds.checkpointDueBytes() && !ds.ckptBusy.Load()
}

// plan checks a request's condition against the current state and builds
// its record payload; write is false for a no-op (deleting a missing key)
// and for a failed condition.
func (ds *Dataspace) plan(r *request) (_ recordPayload, write bool, _ reply) {
	if r.cond.kind != condNone || r.incr || (len(r.ops) == 1 && r.ops[0].kind == opDelete) {
		cur, err := ds.current(r.ops[0].key, r.incr)
		if err != nil {
			return recordPayload{}, false, reply{err: err}
		}
		switch r.cond.kind {
		case condIfVersion:
			have := uint64(0)
			if cur.exists {
				have = cur.seq
			}
			if have != r.cond.version {
				return recordPayload{}, false, reply{err: fmt.Errorf("%w: key %q is at version %d, not %d", ErrVersionMismatch, r.ops[0].key, have, r.cond.version)}
			}
		case condIfAbsent:
			if cur.exists {
				return recordPayload{}, false, reply{err: fmt.Errorf("%w: key %q", ErrExists, r.ops[0].key)}
			}
		case condIfExists:
			if !cur.exists {
				return recordPayload{}, false, reply{err: fmt.Errorf("%w: key %q", ErrNotFound, r.ops[0].key)}
			}
		}
		if len(r.ops) == 1 && r.ops[0].kind == opDelete && !r.incr {
			if !cur.exists {
				return recordPayload{}, false, reply{existed: false}
			}
			return recordPayload{requestID: r.requestID, ops: r.ops}, true, reply{existed: true}
		}
		if r.incr {
			var n int64
			if cur.exists {
				v, err := strconv.ParseInt(string(cur.value), 10, 64)
				if err != nil {
					return recordPayload{}, false, reply{err: fmt.Errorf("%w: key %q", ErrNotInteger, r.ops[0].key)}
				}
				n = v
			}
			sum := n + r.delta
			if (r.delta > 0 && sum < n) || (r.delta < 0 && sum > n) {
				return recordPayload{}, false, reply{err: fmt.Errorf("%w: %w: key %q: %d%+d", ErrNotInteger, ErrOverflow, r.ops[0].key, n, r.delta)}
			}
			ops := []op{{kind: opPut, key: r.ops[0].key, value: []byte(strconv.FormatInt(sum, 10))}}
			return recordPayload{requestID: r.requestID, ops: ops}, true, reply{intValue: sum}
		}
	}
	return recordPayload{requestID: r.requestID, ops: r.ops}, true, reply{}
}

// current returns key's state including the group's planned writes. With
// needValue it also reads the value (for increments).
func (ds *Dataspace) current(key []byte, needValue bool) (pendingKey, error) {
	if p, ok := ds.unpublished(string(key)); ok {
		return p, nil
	}
	// Only the writer goroutine changes the index, so reading it without
	// the lock here is safe; take it anyway for the race detector's sake.
	ds.mu.RLock()
	e, ok := ds.index.Get(string(key))
	ds.mu.RUnlock()
	if !ok {
		return pendingKey{}, nil
	}
	cur := pendingKey{exists: true, seq: e.seq}
	if needValue {
		v, err := ds.readValue(e)
		if err != nil {
			return pendingKey{}, err
		}
		cur.value, cur.known = v, true
	}
	return cur, nil
}

// syncNow makes written groups durable (interval policy).
func (ds *Dataspace) syncNow() error {
	start := time.Now()
	err := ds.log.Sync()
	ds.stats.observeSync(time.Since(start))
	return err
}

// failStop stops the dataspace after an I/O error: no sync is retried and
// nothing more is read from a log whose cache may lie (I5). It returns the
// error operations now report.
func (ds *Dataspace) failStop(cause error) error {
	err := dsError(ds.name, fmt.Errorf("%w: %w", ErrFailStop, cause))
	ds.stats.failStops.Add(1)
	if obs := ds.db.opts.Observer; obs != nil {
		obs.FailStopped(ds.name, cause)
	}
	ds.db.log.Error("dataspace fail-stopped; it recovers from the device on reopen", "dataspace", ds.name, "err", cause)
	if ds.db.opts.ExitOnIOError {
		ds.db.log.Error("exiting on I/O error (ExitOnIOError)")
		ds.db.opts.exit(70)
	}
	ds.mu.Lock()
	if ds.stopErr == nil || errors.Is(ds.stopErr, ErrClosed) {
		ds.stopErr = err
	}
	ds.mu.Unlock()
	if ds.db.opts.AutoReopen {
		go ds.db.autoReopen(ds.name, ds)
	}
	return err
}

// shutdown stops the writer and closes the log; reason becomes the error
// of later operations unless the dataspace had already failed.
func (ds *Dataspace) shutdown(reason error) error {
	var err error
	ds.stopOnce.Do(func() {
		close(ds.quit)
		<-ds.done
		ds.mu.Lock()
		failed := ds.stopErr != nil
		if !failed {
			ds.stopErr = dsError(ds.name, reason)
		}
		ds.mu.Unlock()
		if ds.log == nil {
			return
		}
		if !failed && ds.opts.Sync.Interval > 0 {
			if serr := ds.syncNow(); serr != nil {
				err = dsError(ds.name, fmt.Errorf("final sync: %w", serr))
			}
		}
		ds.ckptWG.Wait()
		if ds.verified != nil {
			<-ds.verified // Verify must not race the log's Close
		}
		if !failed && err == nil && !errors.Is(ds.err(), ErrFailStop) {
			// A clean stop leaves a checkpoint, so the next open is fast;
			// only of what the log holds durably (see maybeCheckpoint).
			cerr := ds.log.Confirm(0)
			if cerr == nil {
				cerr = ds.writeCheckpoint(ds.snapshot())
			}
			if cerr != nil {
				err = dsError(ds.name, fmt.Errorf("final checkpoint: %w", cerr))
			}
		}
		err = errors.Join(err, ds.log.Close())
	})
	return err
}

// autoReopen retries opening a fail-stopped dataspace with backoff until it
// serves again, the DB closes, or someone else replaced it.
func (db *DB) autoReopen(name string, failed *Dataspace) {
	failed.shutdown(ErrClosed)
	backoff := db.opts.ReopenBackoffMin
	for {
		time.Sleep(backoff)
		db.mu.Lock()
		if db.closed || db.spaces[name] != failed {
			db.mu.Unlock()
			return
		}
		ds := openDataspace(db, name)
		if ds.err() == nil {
			db.spaces[name] = ds
			db.mu.Unlock()
			db.log.Info("dataspace reopened after fail-stop", "dataspace", name)
			return
		}
		db.mu.Unlock()
		db.log.Warn("dataspace reopen failed; retrying", "dataspace", name, "err", ds.err(), "backoff", backoff)
		backoff = min(2*backoff, db.opts.ReopenBackoffMax)
	}
}

// dupReply answers a retried request with the original write's result.
// An increment's result is remembered with its request id.
func (ds *Dataspace) dupReply(r *request, d applied) reply {
	rep := reply{seq: d.seq, dup: true}
	if r.incr {
		if !d.hasInt {
			rep.err = fmt.Errorf("%w: request id %q was used by a write that was not an increment", ErrInvalidArgument, r.requestID)
		}
		rep.intValue = d.intValue
	}
	if len(r.ops) == 1 && r.ops[0].kind == opDelete {
		rep.existed = true
	}
	return rep
}

// applied is what the dataspace remembers of a request id: the write that
// applied it, the segment that holds the proof (so compaction can carry it
// forward), and, for a single-key put of an integer (an increment), the
// value it stored, which is the increment's result.
type applied struct {
	seq      uint64
	segment  uint64
	hasInt   bool
	intValue int64
}

// appliedFor describes a record carrying a request id.
func appliedFor(seq, segment uint64, p *recordPayload) applied {
	a := applied{seq: seq, segment: segment}
	if len(p.ops) == 1 && p.ops[0].kind == opPut && len(p.ops[0].value) <= 20 {
		if n, err := strconv.ParseInt(string(p.ops[0].value), 10, 64); err == nil {
			a.hasInt, a.intValue = true, n
		}
	}
	return a
}

// dedupTable remembers the last window request ids and the writes that
// applied them.
type dedupTable struct {
	window int
	ids    map[string]applied
	ring   []string
	next   int
}

func newDedupTable(window int) *dedupTable {
	return &dedupTable{window: window, ids: make(map[string]applied)}
}

// entries returns the remembered ids and what applied them, oldest first.
func (t *dedupTable) entries() []dedupEntry {
	var out []dedupEntry
	for _, part := range [][]string{t.ring[t.next:], t.ring[:t.next]} {
		for _, id := range part {
			if a, ok := t.ids[id]; ok {
				out = append(out, dedupEntry{id: id, a: a})
			}
		}
	}
	return out
}

// below lists the ids whose proof lives in a segment below cut, oldest
// first.
func (t *dedupTable) below(cut uint64) []string {
	var ids []string
	for _, e := range t.entries() {
		if e.a.segment < cut {
			ids = append(ids, e.id)
		}
	}
	return ids
}

func (t *dedupTable) get(id string) (applied, bool) {
	a, ok := t.ids[id]
	return a, ok
}

func (t *dedupTable) add(id string, a applied) {
	if _, ok := t.ids[id]; ok {
		t.ids[id] = a
		return
	}
	if len(t.ring) < t.window {
		t.ring = append(t.ring, id)
	} else {
		delete(t.ids, t.ring[t.next])
		t.ring[t.next] = id
		t.next = (t.next + 1) % t.window
	}
	t.ids[id] = a
}

// dsStats are counters the writer keeps; Stats reads them.
type dsStats struct {
	groups, records, syncs, failStops, compactions atomic.Int64
	compactionStalls                               atomic.Int64
	overlapped                                     atomic.Int64
	groupNanos, syncNanos                          atomic.Int64
}

func (s *dsStats) observeGroup(records int, d time.Duration) {
	s.groups.Add(1)
	s.records.Add(int64(records))
	s.groupNanos.Add(int64(d))
}

func (s *dsStats) observeSync(d time.Duration) {
	s.syncs.Add(1)
	s.syncNanos.Add(int64(d))
}

// Stats describe a dataspace at one moment.
type Stats struct {
	Keys    int
	Bytes   int64 // keys and values of live keys
	LastSeq uint64
	Groups  int64 // commit groups written
	Records int64 // writes in them
	Syncs   int64 // interval-policy syncs
	// Overlapped counts groups planned and queued while the previous
	// group was still being written and synced (the commit pipeline at
	// work).
	Overlapped int64
	Log        wal.Stats
	Sync       string
	Stopped    string // why the dataspace is stopped, "" while it serves
	FailStop   int64  // fail-stop events
	// Compactions completed, and the log's approximate size.
	Compactions int64
	LogBytes    int64
	// CompactionStalls counts compactions that client writes had to wait
	// for: the log grew past the bound while one ran (compact.go).
	CompactionStalls int64
}

// Stats returns counters and sizes. UnsyncedBytes and OldestUnsynced in
// Log bound what an interval policy has at risk (I7).
func (ds *Dataspace) Stats() Stats {
	ds.mu.RLock()
	s := Stats{Keys: ds.index.Len(), Bytes: ds.keyBytes, LastSeq: ds.lastSeq, Sync: ds.opts.Sync.String()}
	if ds.stopErr != nil {
		s.Stopped = ds.stopErr.Error()
	}
	ds.mu.RUnlock()
	s.Groups, s.Records, s.Syncs, s.FailStop = ds.stats.groups.Load(), ds.stats.records.Load(), ds.stats.syncs.Load(), ds.stats.failStops.Load()
	s.Compactions = ds.stats.compactions.Load()
	s.CompactionStalls = ds.stats.compactionStalls.Load()
	s.Overlapped = ds.stats.overlapped.Load()
	if s.Stopped == "" && ds.log != nil {
		s.Log = ds.log.Stats()
		s.LogBytes = ds.logBytes()
	}
	return s
}
