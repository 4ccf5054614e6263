package holdfast_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// TestPropertyAPI drives the whole public API with random sequences of
// operations on a faultfs file system, and checks every answer, and after
// every step the whole visible state, against a plain in-memory model:
//
//	dataspace name -> key -> (value, version)
//
// Besides reads and writes the sequences close and reopen the database,
// reopen single dataspaces, and crash the file system (losing everything
// that was not synced): under sync=always every acknowledged write, create
// and drop must survive all of them (I1). Extra actions (compaction) are
// registered by other files in propExtraActions.
//
// Each run draws whether compaction also runs by itself (off, the default
// bound, the tightest bound). Automatic compaction runs on the writer
// goroutine, so its timing is not reproducible: when a failure needs it,
// rapid may not shrink it ("invalid data: overrun") and reports the
// original sequence; with it off, runs replay exactly.
//
// Replay a failure with the -rapid.seed (or -rapid.failfile) rapid prints;
// -rapid.checks and -rapid.steps make the search wider and deeper.
func TestPropertyAPI(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newPropMachine(t)
		defer m.close()
		actions := map[string]func(*rapid.T){
			"":              m.check,
			"create":        m.create,
			"drop":          m.drop,
			"put":           m.put,
			"put_cond":      m.putCond,
			"delete":        m.delete,
			"batch":         m.batch,
			"incr":          m.incr,
			"get":           m.get,
			"scan":          m.scan,
			"retry":         m.retry,
			"reuse_id":      m.reuseID,
			"bad_input":     m.badInput,
			"reopen_db":     m.reopenDB,
			"reopen_space":  m.reopenSpace,
			"crash":         m.crash,
			"put_more":      m.put, // writes are the common case
			"put_cond_more": m.putCond,
		}
		for name, fn := range propExtraActions {
			actions[name] = func(t *rapid.T) { fn(m, t) }
		}
		t.Repeat(actions)
	})
}

// propExtraActions are actions other files add to TestPropertyAPI (see
// property_compact_test.go).
var propExtraActions = map[string]func(*propMachine, *rapid.T){}

var (
	propCtx = context.Background()

	// propSpaceNames are the valid names the test uses: few, so creates
	// collide with existing dataspaces and drops find them.
	propSpaceNames = []string{"a", "b", "c"}
	// propBadNames are names CreateDataspace must refuse.
	propBadNames = []string{"", "../x", "a/b", "..", ".x", "A", "x y", "-a", strings.Repeat("n", 65)}
	// propKeys is a small alphabet so writes collide, ordered bytewise
	// in interesting ways ("a" < "a\x00" < "aa", "\xff" last), with
	// shared prefixes for prefix scans.
	propKeys = []string{"a", "a\x00", "aa", "ab", "b", "b/1", "b/2", "ba", "c", "\xff"}
	// propBounds are scan bounds: the keys and points between them.
	propBounds = append([]string{"", "a/", "b/", "b0", "bz", "z"}, propKeys...)
	// propIntValues make Incr interesting: integers, the extremes, and
	// things strconv.ParseInt refuses.
	propIntValues = []string{"0", "41", "-5", "+3", "007", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", " 1", "1.5", "x", ""}
	propDeltas = []int64{1, -1, 7, -100, math.MaxInt64, math.MinInt64, 0}
)

const (
	// propSegmentSizeBytes is small so logs roll to new segments.
	propSegmentSizeBytes = 64 << 10
	// propInlineValueMaxBytes is small so most values are read back
	// from the log on the device.
	propInlineValueMaxBytes = 8
	propMaxValueBytes       = 6 << 10
	propDir                 = "/data"
)

// propVal is one key's value and version in the model.
type propVal struct {
	data []byte
	seq  uint64
}

// propSpace is one dataspace in the model.
type propSpace struct {
	kv map[string]propVal
	// lastSeq is the highest sequence number the dataspace is known to
	// have used: by acknowledged writes, and by compaction, whose
	// relocation records take sequence numbers too (seen through
	// LastSeq). The next write must get a higher one.
	lastSeq uint64
	// applied are the writes with a request id that were applied: a retry
	// must return the same answer and change nothing.
	applied []*propApplied
}

// propResult is what a write returned.
type propResult struct {
	seq     uint64
	n       int64 // Incr's new value
	existed bool  // Delete's answer
	err     error
}

// propOutcome is what the model expects of a write.
type propOutcome struct {
	err     error // the sentinel the write must fail with; nil: success
	noop    bool  // succeeds without writing (Delete of a missing key): seq 0
	n       int64 // Incr's new value
	existed bool  // Delete's answer
	// effect applies the write to the model with its sequence number.
	effect func(ms *propSpace, seq uint64)
}

// propWrite is one write: how to run it and what the model expects of it.
// A write with a request id can be run again as a retry.
type propWrite struct {
	desc   string
	id     string
	run    func(ds *holdfast.Dataspace) propResult
	expect func(ms *propSpace) propOutcome
}

// propApplied is an applied write with a request id. The dataspace
// remembers its id across restarts, crashes and compactions (compaction
// carries request ids forward).
type propApplied struct {
	w   *propWrite
	res propResult
}

// propMachine is the system under test and its model.
type propMachine struct {
	fsys   *faultfs.FS
	opts   holdfast.Options
	db     *holdfast.DB
	spaces map[string]*propSpace
	writes int // numbers the values, so every written value is distinct
	reqIDs int // numbers request ids
}

func newPropMachine(t *rapid.T) *propMachine {
	m := &propMachine{
		fsys: faultfs.New(faultfs.Options{Seed: rapid.Uint64().Draw(t, "fs_seed")}),
		opts: holdfast.Options{
			Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
			SegmentSizeBytes:    propSegmentSizeBytes,
			InlineValueMaxBytes: propInlineValueMaxBytes,
		},
		spaces: make(map[string]*propSpace),
	}
	m.opts.FS = m.fsys
	// Automatic compaction: off, the default bound, or the tightest.
	m.opts.CompactionSpaceAmp = rapid.SampledFrom([]float64{-1, 0, 1.2}).Draw(t, "compaction_space_amp")
	m.open(t)
	// Start with one dataspace so the first steps have somewhere to write.
	if _, err := m.db.CreateDataspace("a", holdfast.DataspaceOptions{}); err != nil {
		t.Fatalf("create a: %v", err)
	}
	m.spaces["a"] = &propSpace{kv: make(map[string]propVal)}
	return m
}

func (m *propMachine) open(t *rapid.T) {
	db, err := holdfast.Open(propDir, m.opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	m.db = db
}

func (m *propMachine) close() {
	if m.db != nil {
		m.db.Close()
	}
}

// pickSpace draws a dataspace name: usually an existing one, sometimes any
// valid name. It returns the handle and model, or nil if the dataspace
// does not exist, after checking the DB agrees.
func (m *propMachine) pickSpace(t *rapid.T) (string, *holdfast.Dataspace, *propSpace) {
	names := slices.Sorted(maps.Keys(m.spaces))
	var name string
	if len(names) > 0 && rapid.IntRange(0, 9).Draw(t, "any_space") > 0 {
		name = rapid.SampledFrom(names).Draw(t, "space")
	} else {
		name = rapid.SampledFrom(propSpaceNames).Draw(t, "space")
	}
	ds, err := m.db.Dataspace(name)
	ms := m.spaces[name]
	if ms == nil {
		if !errors.Is(err, holdfast.ErrNoDataspace) {
			t.Fatalf("Dataspace(%q) of a missing dataspace: %v, want ErrNoDataspace", name, err)
		}
		return name, nil, nil
	}
	if err != nil {
		t.Fatalf("Dataspace(%q): %v", name, err)
	}
	return name, ds, ms
}

func (m *propMachine) drawKey(t *rapid.T, label string) string {
	return rapid.SampledFrom(propKeys).Draw(t, label)
}

// drawValue draws a value from 0 bytes to a few KiB; most are larger than
// InlineValueMaxBytes. The content names the write, so a stale value never
// equals a newer one.
func (m *propMachine) drawValue(t *rapid.T, label string) []byte {
	m.writes++
	var size int
	switch rapid.IntRange(0, 9).Draw(t, label+"_kind") {
	case 0, 1:
		return []byte(rapid.SampledFrom(propIntValues).Draw(t, label))
	case 2:
		size = 0
	case 3, 4:
		size = rapid.IntRange(1, 2*propInlineValueMaxBytes).Draw(t, label+"_size")
	default:
		size = rapid.IntRange(2*propInlineValueMaxBytes, propMaxValueBytes).Draw(t, label+"_size")
	}
	stamp := fmt.Sprintf("w%d.", m.writes)
	v := bytes.Repeat([]byte(stamp), size/len(stamp)+1)[:size]
	return v
}

// drawRequestID returns "" (none) or a new request id.
func (m *propMachine) drawRequestID(t *rapid.T) string {
	if !rapid.Bool().Draw(t, "with_request_id") {
		return ""
	}
	m.reqIDs++
	return fmt.Sprintf("req-%d", m.reqIDs)
}

func withID(id string) []holdfast.WriteOption {
	if id == "" {
		return nil
	}
	return []holdfast.WriteOption{holdfast.WithRequestID(id)}
}

// write runs w and checks its answer against the model, then applies it
// to the model.
func (m *propMachine) write(t *rapid.T, name string, ds *holdfast.Dataspace, ms *propSpace, w *propWrite) {
	want := w.expect(ms)
	m.verify(t, name, ms, w, want, w.run(ds))
}

// verify checks a write's answer against what the model expected and
// applies it. Versions strictly increase within a dataspace.
func (m *propMachine) verify(t *rapid.T, name string, ms *propSpace, w *propWrite, want propOutcome, got propResult) {
	if want.err != nil {
		if !errors.Is(got.err, want.err) {
			t.Fatalf("%s: %s = seq %d, %v; want %v", name, w.desc, got.seq, got.err, want.err)
		}
		return
	}
	if got.err != nil {
		t.Fatalf("%s: %s: %v", name, w.desc, got.err)
	}
	if got.n != want.n || got.existed != want.existed {
		t.Fatalf("%s: %s = (%d, existed %v), model (%d, existed %v)", name, w.desc, got.n, got.existed, want.n, want.existed)
	}
	if want.noop {
		if got.seq != 0 {
			t.Fatalf("%s: %s wrote nothing but returned seq %d, want 0", name, w.desc, got.seq)
		}
		return
	}
	if got.seq <= ms.lastSeq {
		t.Fatalf("%s: %s: seq %d, not above the last sequence number %d", name, w.desc, got.seq, ms.lastSeq)
	}
	ms.lastSeq = got.seq
	want.effect(ms, got.seq)
	if w.id != "" {
		ms.applied = append(ms.applied, &propApplied{w: w, res: got})
	}
}

// check compares the whole visible state with the model: the dataspace
// list, and every dataspace's keys, values, versions, size and last
// sequence number.
func (m *propMachine) check(t *rapid.T) {
	want := slices.Sorted(maps.Keys(m.spaces))
	if got := m.db.Dataspaces(); !slices.Equal(got, want) {
		t.Fatalf("Dataspaces() = %q, model %q", got, want)
	}
	for _, name := range want {
		ds, err := m.db.Dataspace(name)
		if err != nil {
			t.Fatalf("Dataspace(%q): %v", name, err)
		}
		if err := ds.Err(); err != nil {
			t.Fatalf("dataspace %q stopped: %v", name, err)
		}
		ms := m.spaces[name]
		if got := ds.Len(); got != len(ms.kv) {
			t.Fatalf("%s: Len() = %d, model %d", name, got, len(ms.kv))
		}
		// Sequence numbers never go back, not even across restarts and
		// crashes: LastSeq is at least every one acknowledged or seen.
		got := ds.LastSeq()
		if got < ms.lastSeq {
			t.Fatalf("%s: LastSeq() = %d, model %d", name, got, ms.lastSeq)
		}
		ms.lastSeq = got
		page, err := ds.Scan(propCtx, holdfast.ScanOptions{Limit: holdfast.MaxScanLimit})
		if err != nil {
			t.Fatalf("%s: full scan: %v", name, err)
		}
		wantKVs, _ := modelScan(ms.kv, holdfast.ScanOptions{Limit: holdfast.MaxScanLimit})
		if msg := diffKVs(page.KVs, wantKVs); msg != "" {
			t.Fatalf("%s: full scan differs from the model: %s", name, msg)
		}
		if page.Next != nil {
			t.Fatalf("%s: full scan Next = %q, want nil", name, page.Next)
		}
	}
}

func (m *propMachine) create(t *rapid.T) {
	var name string
	if rapid.IntRange(0, 3).Draw(t, "bad_name") == 0 {
		name = rapid.SampledFrom(propBadNames).Draw(t, "name")
	} else {
		name = rapid.SampledFrom(propSpaceNames).Draw(t, "name")
	}
	ds, err := m.db.CreateDataspace(name, holdfast.DataspaceOptions{})
	switch {
	case slices.Contains(propBadNames, name):
		if !errors.Is(err, holdfast.ErrInvalidName) {
			t.Fatalf("CreateDataspace(%q) = %v, want ErrInvalidName", name, err)
		}
	case m.spaces[name] != nil:
		if !errors.Is(err, holdfast.ErrExists) {
			t.Fatalf("CreateDataspace(%q) of an existing dataspace = %v, want ErrExists", name, err)
		}
	default:
		if err != nil {
			t.Fatalf("CreateDataspace(%q): %v", name, err)
		}
		if ds.Name() != name || ds.Len() != 0 || ds.LastSeq() != 0 {
			t.Fatalf("new dataspace %q: name %q, %d keys, last seq %d", name, ds.Name(), ds.Len(), ds.LastSeq())
		}
		m.spaces[name] = &propSpace{kv: make(map[string]propVal)}
	}
}

func (m *propMachine) drop(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	err := m.db.DropDataspace(name)
	if ms == nil {
		if !errors.Is(err, holdfast.ErrNoDataspace) {
			t.Fatalf("DropDataspace(%q) of a missing dataspace = %v, want ErrNoDataspace", name, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("DropDataspace(%q): %v", name, err)
	}
	delete(m.spaces, name)
	// The old handle refuses everything.
	if _, err := ds.Get(propCtx, []byte("a")); !errors.Is(err, holdfast.ErrNoDataspace) {
		t.Fatalf("Get on a dropped dataspace's handle = %v, want ErrNoDataspace", err)
	}
	if _, err := ds.Put(propCtx, []byte("a"), []byte("x")); !errors.Is(err, holdfast.ErrNoDataspace) {
		t.Fatalf("Put on a dropped dataspace's handle = %v, want ErrNoDataspace", err)
	}
}

func (m *propMachine) put(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	m.write(t, name, ds, ms, m.newPut(t, ms, m.drawRequestID(t)))
}

func (m *propMachine) newPut(t *rapid.T, _ *propSpace, id string) *propWrite {
	key := m.drawKey(t, "key")
	value := m.drawValue(t, "value")
	return &propWrite{
		desc: fmt.Sprintf("Put(%q, %s) id %q", key, short(value), id),
		id:   id,
		run: func(ds *holdfast.Dataspace) propResult {
			seq, err := ds.Put(propCtx, []byte(key), value, withID(id)...)
			return propResult{seq: seq, err: err}
		},
		expect: func(*propSpace) propOutcome { return propOutcome{effect: putEffect(key, value)} },
	}
}

func putEffect(key string, value []byte) func(*propSpace, uint64) {
	return func(ms *propSpace, seq uint64) { ms.kv[key] = propVal{data: value, seq: seq} }
}

// putCond writes with a precondition: IfVersion (or CompareAndSwap),
// IfAbsent or IfExists. One that does not hold fails with its error and
// writes nothing.
func (m *propMachine) putCond(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	m.write(t, name, ds, ms, m.newPutCond(t, ms, m.drawRequestID(t)))
}

func (m *propMachine) newPutCond(t *rapid.T, ms *propSpace, id string) *propWrite {
	key := m.drawKey(t, "key")
	value := m.drawValue(t, "value")
	w := &propWrite{id: id}
	// ok reports whether the condition holds for a key's state.
	var ok func(cur propVal, exists bool) bool
	var condErr error
	switch kind := rapid.IntRange(0, 3).Draw(t, "cond"); kind {
	case 0, 1:
		// A version: the current one, 0 (absent), or a wrong one.
		cur := ms.kv[key]
		version := rapid.SampledFrom([]uint64{0, cur.seq, cur.seq + 1, ms.lastSeq, ms.lastSeq + 1}).Draw(t, "version")
		ok = func(cur propVal, exists bool) bool {
			return (exists && cur.seq == version) || (!exists && version == 0)
		}
		condErr = holdfast.ErrVersionMismatch
		if kind == 0 {
			w.desc = fmt.Sprintf("Put(%q, %s, IfVersion(%d)) id %q", key, short(value), version, id)
			w.run = func(ds *holdfast.Dataspace) propResult {
				seq, err := ds.Put(propCtx, []byte(key), value, append(withID(id), holdfast.IfVersion(version))...)
				return propResult{seq: seq, err: err}
			}
		} else {
			w.desc = fmt.Sprintf("CompareAndSwap(%q, %d, %s) id %q", key, version, short(value), id)
			w.run = func(ds *holdfast.Dataspace) propResult {
				seq, err := ds.CompareAndSwap(propCtx, []byte(key), version, value, withID(id)...)
				return propResult{seq: seq, err: err}
			}
		}
	case 2:
		ok = func(_ propVal, exists bool) bool { return !exists }
		condErr = holdfast.ErrExists
		w.desc = fmt.Sprintf("Put(%q, %s, IfAbsent) id %q", key, short(value), id)
		w.run = func(ds *holdfast.Dataspace) propResult {
			seq, err := ds.Put(propCtx, []byte(key), value, append(withID(id), holdfast.IfAbsent())...)
			return propResult{seq: seq, err: err}
		}
	case 3:
		ok = func(_ propVal, exists bool) bool { return exists }
		condErr = holdfast.ErrNotFound
		w.desc = fmt.Sprintf("Put(%q, %s, IfExists) id %q", key, short(value), id)
		w.run = func(ds *holdfast.Dataspace) propResult {
			seq, err := ds.Put(propCtx, []byte(key), value, append(withID(id), holdfast.IfExists())...)
			return propResult{seq: seq, err: err}
		}
	}
	w.expect = func(ms *propSpace) propOutcome {
		cur, exists := ms.kv[key]
		if !ok(cur, exists) {
			return propOutcome{err: condErr}
		}
		return propOutcome{effect: putEffect(key, value)}
	}
	return w
}

func (m *propMachine) delete(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	m.write(t, name, ds, ms, m.newDelete(t, ms, m.drawRequestID(t)))
}

func (m *propMachine) newDelete(t *rapid.T, _ *propSpace, id string) *propWrite {
	key := m.drawKey(t, "key")
	return &propWrite{
		desc: fmt.Sprintf("Delete(%q) id %q", key, id),
		id:   id,
		run: func(ds *holdfast.Dataspace) propResult {
			existed, seq, err := ds.Delete(propCtx, []byte(key), withID(id)...)
			return propResult{seq: seq, existed: existed, err: err}
		},
		expect: func(ms *propSpace) propOutcome {
			if _, ok := ms.kv[key]; !ok {
				return propOutcome{noop: true} // deleting a missing key writes nothing
			}
			return propOutcome{existed: true, effect: func(ms *propSpace, _ uint64) { delete(ms.kv, key) }}
		},
	}
}

// batch applies several puts and deletes at once, often to the same key:
// the last operation on a key wins, and every put carries the batch's one
// sequence number.
func (m *propMachine) batch(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	m.write(t, name, ds, ms, m.newBatch(t, ms, ""))
}

// newBatch draws a batch; with id "" it draws whether to use a request id.
func (m *propMachine) newBatch(t *rapid.T, _ *propSpace, id string) *propWrite {
	type batchOp struct {
		key   string
		value []byte
		del   bool
	}
	var ops []batchOp
	var b holdfast.Batch
	var desc []string
	n := rapid.IntRange(1, 6).Draw(t, "ops")
	for i := 0; i < n; i++ {
		o := batchOp{key: m.drawKey(t, "key")}
		if o.del = rapid.IntRange(0, 2).Draw(t, "op_delete") == 0; o.del {
			b.Delete([]byte(o.key))
			desc = append(desc, fmt.Sprintf("del %q", o.key))
		} else {
			o.value = m.drawValue(t, "value")
			b.Put([]byte(o.key), o.value)
			desc = append(desc, fmt.Sprintf("put %q %s", o.key, short(o.value)))
		}
		ops = append(ops, o)
	}
	if b.Len() != n {
		t.Fatalf("Batch.Len() = %d, want %d", b.Len(), n)
	}
	if id == "" {
		id = m.drawRequestID(t)
	}
	return &propWrite{
		desc: fmt.Sprintf("Apply[%s] id %q", strings.Join(desc, ", "), id),
		id:   id,
		run: func(ds *holdfast.Dataspace) propResult {
			seq, err := ds.Apply(propCtx, &b, withID(id)...)
			return propResult{seq: seq, err: err}
		},
		expect: func(ms *propSpace) propOutcome {
			if _, ok := ms.kv[ops[0].key]; len(ops) == 1 && ops[0].del && !ok {
				// A batch of one delete of a missing key is a Delete:
				// it writes nothing.
				return propOutcome{noop: true}
			}
			return propOutcome{effect: func(ms *propSpace, seq uint64) {
				for _, o := range ops {
					if o.del {
						delete(ms.kv, o.key)
					} else {
						ms.kv[o.key] = propVal{data: o.value, seq: seq}
					}
				}
			}}
		},
	}
}

// incr adds a delta to a decimal int64 (a missing key counts as 0);
// non-integers and overflows give ErrNotInteger and write nothing.
func (m *propMachine) incr(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	m.write(t, name, ds, ms, m.newIncr(t, ms, m.drawRequestID(t)))
}

func (m *propMachine) newIncr(t *rapid.T, _ *propSpace, id string) *propWrite {
	key := m.drawKey(t, "key")
	delta := rapid.SampledFrom(propDeltas).Draw(t, "delta")
	return &propWrite{
		desc: fmt.Sprintf("Incr(%q, %d) id %q", key, delta, id),
		id:   id,
		run: func(ds *holdfast.Dataspace) propResult {
			n, seq, err := ds.Incr(propCtx, []byte(key), delta, withID(id)...)
			return propResult{seq: seq, n: n, err: err}
		},
		expect: func(ms *propSpace) propOutcome {
			var cur int64
			if v, ok := ms.kv[key]; ok {
				n, err := strconv.ParseInt(string(v.data), 10, 64)
				if err != nil {
					return propOutcome{err: holdfast.ErrNotInteger}
				}
				cur = n
			}
			if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
				return propOutcome{err: holdfast.ErrNotInteger} // overflow
			}
			sum := cur + delta
			return propOutcome{n: sum, effect: putEffect(key, []byte(strconv.FormatInt(sum, 10)))}
		},
	}
}

func (m *propMachine) get(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	key := m.drawKey(t, "key")
	v, err := ds.Get(propCtx, []byte(key))
	want, ok := ms.kv[key]
	if !ok {
		if !errors.Is(err, holdfast.ErrNotFound) {
			t.Fatalf("%s: Get(%q) of a missing key = %d bytes seq %d, %v; want ErrNotFound", name, key, len(v.Data), v.Seq, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: Get(%q): %v", name, key, err)
	}
	if !bytes.Equal(v.Data, want.data) || v.Seq != want.seq {
		t.Fatalf("%s: Get(%q) = %s seq %d, model %s seq %d", name, key, short(v.Data), v.Seq, short(want.data), want.seq)
	}
}

// scan checks one page of a random range against the model, then pages
// through the whole range with Next and After.
func (m *propMachine) scan(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	bound := func(label string) []byte {
		if rapid.Bool().Draw(t, label+"_nil") {
			return nil
		}
		return []byte(rapid.SampledFrom(propBounds).Draw(t, label))
	}
	opts := holdfast.ScanOptions{
		Start:  bound("start"),
		End:    bound("end"),
		Prefix: bound("prefix"),
		After:  bound("after"),
		Limit:  rapid.SampledFrom([]int{0, -1, 1, 2, 3, 5, 1000}).Draw(t, "limit"),
	}
	page, err := ds.Scan(propCtx, opts)
	if err != nil {
		t.Fatalf("%s: Scan(%s): %v", name, fmtScan(opts), err)
	}
	wantKVs, wantNext := modelScan(ms.kv, opts)
	if msg := diffKVs(page.KVs, wantKVs); msg != "" {
		t.Fatalf("%s: Scan(%s): %s", name, fmtScan(opts), msg)
	}
	if !bytes.Equal(page.Next, wantNext) || (page.Next == nil) != (wantNext == nil) {
		t.Fatalf("%s: Scan(%s).Next = %q, model %q", name, fmtScan(opts), page.Next, wantNext)
	}

	// Page through the rest: the pages together are the whole range.
	whole := opts
	whole.Limit = holdfast.MaxScanLimit
	all := page.KVs
	for pages := 1; page.Next != nil; pages++ {
		if pages > len(propKeys)+1 {
			t.Fatalf("%s: Scan(%s): more than %d pages", name, fmtScan(opts), pages)
		}
		opts.After = page.Next
		if page, err = ds.Scan(propCtx, opts); err != nil {
			t.Fatalf("%s: Scan(%s): %v", name, fmtScan(opts), err)
		}
		all = append(all, page.KVs...)
	}
	wantAll, _ := modelScan(ms.kv, whole)
	if msg := diffKVs(all, wantAll); msg != "" {
		t.Fatalf("%s: Scan(%s) paged through Next: %s", name, fmtScan(whole), msg)
	}
}

// retry repeats a write that was applied with a request id: it must not
// apply again (the model does not change), and must return the original
// answer: sequence number, Incr's value, Delete's existed.
func (m *propMachine) retry(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil || len(ms.applied) == 0 {
		return
	}
	a := rapid.SampledFrom(ms.applied).Draw(t, "retry")
	got := a.w.run(ds)
	if got.err != nil || got.seq != a.res.seq || got.n != a.res.n || got.existed != a.res.existed {
		t.Fatalf("%s: retry of %s = (seq %d, %d, existed %v, %v); want the first answer (seq %d, %d, existed %v)",
			name, a.w.desc, got.seq, got.n, got.existed, got.err, a.res.seq, a.res.n, a.res.existed)
	}
}

// reuseID sends a different write with the request id of one already
// applied. WithRequestID: "a write whose request id the dataspace has
// already applied is not applied again, and returns the original sequence
// number". The engine may refuse a mismatch it can detect (an Incr cannot
// return the value of a write that was not an increment), but the client's
// mistake must never write, stop the dataspace, or be reported as
// corruption or an I/O failure. The check after the step verifies that
// nothing changed and the dataspace still serves.
func (m *propMachine) reuseID(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil || len(ms.applied) == 0 {
		return
	}
	a := rapid.SampledFrom(ms.applied).Draw(t, "reuse")
	build := rapid.SampledFrom([]func(*rapid.T, *propSpace, string) *propWrite{
		m.newPut, m.newPutCond, m.newDelete, m.newBatch, m.newIncr}).Draw(t, "reuse_as")
	w := build(t, ms, a.w.id)
	got := w.run(ds)
	switch {
	case got.err == nil && got.seq != a.res.seq:
		t.Fatalf("%s: %s reusing the id of %s (seq %d) = seq %d; want seq %d, nothing written",
			name, w.desc, a.w.desc, a.res.seq, got.seq, a.res.seq)
	case errors.Is(got.err, holdfast.ErrCorrupt) || errors.Is(got.err, holdfast.ErrFailStop) || errors.Is(got.err, holdfast.ErrOutcomeUnknown):
		t.Fatalf("%s: %s reusing the id of %s: %v; a reused id is not damage", name, w.desc, a.w.desc, got.err)
	}
}

// badInput sends requests the API must refuse without writing anything.
func (m *propMachine) badInput(t *rapid.T) {
	name, ds, _ := m.pickSpace(t)
	if ds == nil {
		return
	}
	var err error
	var want error
	what := rapid.SampledFrom([]string{"put_empty_key", "get_empty_key", "delete_empty_key", "put_big_key",
		"batch_empty_key", "scan_limit", "empty_batch", "cond_batch"}).Draw(t, "bad")
	switch what {
	case "put_empty_key":
		_, err = ds.Put(propCtx, nil, []byte("v"))
		want = holdfast.ErrEmptyKey
	case "get_empty_key":
		_, err = ds.Get(propCtx, []byte{})
		want = holdfast.ErrEmptyKey
	case "delete_empty_key":
		_, _, err = ds.Delete(propCtx, nil)
		want = holdfast.ErrEmptyKey
	case "put_big_key":
		_, err = ds.Put(propCtx, bytes.Repeat([]byte("k"), holdfast.DefaultMaxKeySizeBytes+1), nil)
		want = holdfast.ErrKeyTooLarge
	case "batch_empty_key":
		var b holdfast.Batch
		b.Put([]byte("a"), []byte("must not be written"))
		b.Put(nil, []byte("v"))
		_, err = ds.Apply(propCtx, &b)
		want = holdfast.ErrEmptyKey
	case "scan_limit":
		_, err = ds.Scan(propCtx, holdfast.ScanOptions{Limit: holdfast.MaxScanLimit + 1})
	case "empty_batch":
		_, err = ds.Apply(propCtx, &holdfast.Batch{})
	case "cond_batch":
		var b holdfast.Batch
		b.Put([]byte("a"), []byte("must not be written"))
		_, err = ds.Apply(propCtx, &b, holdfast.IfAbsent())
	}
	if err == nil || (want != nil && !errors.Is(err, want)) {
		t.Fatalf("%s: %s = %v, want an error (%v)", name, what, err, want)
	}
}

// reopenDB closes the database and opens it again: nothing changes, and
// handles from before refuse to work.
func (m *propMachine) reopenDB(t *rapid.T) {
	old := m.db
	oldDS := make(map[string]*holdfast.Dataspace)
	for _, name := range old.Dataspaces() {
		oldDS[name], _ = old.Dataspace(name)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := old.Dataspace("a"); !errors.Is(err, holdfast.ErrClosed) {
		t.Fatalf("Dataspace after Close = %v, want ErrClosed", err)
	}
	for name, ds := range oldDS {
		if _, err := ds.Put(propCtx, []byte("a"), []byte("x")); !errors.Is(err, holdfast.ErrClosed) {
			t.Fatalf("%s: Put after Close = %v, want ErrClosed", name, err)
		}
	}
	m.db = nil
	m.open(t)
}

// reopenSpace reopens one dataspace from the device.
func (m *propMachine) reopenSpace(t *rapid.T) {
	name, old, ms := m.pickSpace(t)
	ds, err := m.db.Reopen(name)
	if ms == nil {
		if !errors.Is(err, holdfast.ErrNoDataspace) {
			t.Fatalf("Reopen(%q) of a missing dataspace = %v, want ErrNoDataspace", name, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Reopen(%q): %v", name, err)
	}
	if ds == old {
		t.Fatalf("Reopen(%q) returned the old handle", name)
	}
	if _, err := old.Get(propCtx, []byte("a")); !errors.Is(err, holdfast.ErrClosed) {
		t.Fatalf("%s: Get on the handle from before Reopen = %v, want ErrClosed", name, err)
	}
}

// crash cuts the power: the file system keeps only what was synced (plus,
// by chance, some of what was not), and the database restarts on it. Every
// acknowledged write, create and drop must be there.
func (m *propMachine) crash(t *rapid.T) {
	opts := faultfs.CrashOptions{
		KeepUnsyncedPercent: rapid.SampledFrom([]int{0, 0, 50, 100}).Draw(t, "keep_unsynced_percent"),
		UnitBytes:           rapid.SampledFrom([]int{0, faultfs.SectorSizeBytes}).Draw(t, "unit_bytes"),
		TearOne:             rapid.Bool().Draw(t, "tear_one"),
		DirOps:              rapid.SampledFrom([]faultfs.DirOps{faultfs.DropDirOps, faultfs.KeepDirOps, faultfs.RandomDirOps}).Draw(t, "dir_ops"),
	}
	// The old process is dead: every operation of its goroutines fails
	// until it is closed.
	if err := m.fsys.PowerCut(opts, func() { m.db.Close() }); err != nil {
		t.Fatalf("PowerCut: %v", err)
	}
	m.db = nil
	m.open(t)
}

// modelScan is Scan over the model: keys in bytewise order from
// max(Start, Prefix), below End, with Prefix, above After; at most Limit
// of them, and Next the last one returned if more remain.
func modelScan(kv map[string]propVal, opts holdfast.ScanOptions) ([]holdfast.KV, []byte) {
	limit := opts.Limit
	if limit <= 0 {
		limit = holdfast.DefaultScanLimit
	}
	var out []holdfast.KV
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		switch {
		case k < string(opts.Start):
		case opts.End != nil && k >= string(opts.End):
		case opts.Prefix != nil && !strings.HasPrefix(k, string(opts.Prefix)):
		case opts.After != nil && k <= string(opts.After):
		default:
			if len(out) == limit {
				return out, out[len(out)-1].Key
			}
			out = append(out, holdfast.KV{Key: []byte(k), Value: holdfast.Value{Data: kv[k].data, Seq: kv[k].seq}})
		}
	}
	return out, nil
}

func diffKVs(got, want []holdfast.KV) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("missing %q (model has %d keys, got %d)", want[i].Key, len(want), len(got))
		case i >= len(want):
			return fmt.Sprintf("extra %q (model has %d keys, got %d)", got[i].Key, len(want), len(got))
		case !bytes.Equal(got[i].Key, want[i].Key):
			return fmt.Sprintf("key %d is %q, model %q", i, got[i].Key, want[i].Key)
		case !bytes.Equal(got[i].Value.Data, want[i].Value.Data) || got[i].Value.Seq != want[i].Value.Seq:
			return fmt.Sprintf("%q = %s seq %d, model %s seq %d", got[i].Key, short(got[i].Value.Data), got[i].Value.Seq,
				short(want[i].Value.Data), want[i].Value.Seq)
		}
	}
	return ""
}

func short(b []byte) string {
	if len(b) <= 24 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q…(%d bytes)", b[:24], len(b))
}

func fmtScan(o holdfast.ScanOptions) string {
	q := func(b []byte) string {
		if b == nil {
			return "nil"
		}
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("Start %s End %s Prefix %s After %s Limit %d", q(o.Start), q(o.End), q(o.Prefix), q(o.After), o.Limit)
}
