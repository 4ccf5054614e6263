package crashtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// dbDir is where every run keeps its data directory on the faultfs.
const dbDir = "/db"

// Workload shape.
const (
	keysPerSpace     = 12
	countersPerSpace = 3
	maxOpsPerRound   = 4
	scanPageLimit    = 1000
)

// faultKind is the fault a run injects.
type faultKind uint8

const (
	faultNone            faultKind = iota // dry run: count the sync points
	faultSyncCrashBefore                  // crash before the n-th sync
	faultSyncCrashAfter                   // crash after the n-th sync
	faultSyncEIO                          // fail the n-th sync with EIO; continue, then reopen or crash
	faultOpCrash                          // crash after (or before) the n-th operation of any kind
)

func (f faultKind) String() string {
	return [...]string{"none", "sync-crash-before", "sync-crash-after", "sync-eio", "op-crash"}[f]
}

// runPlan is everything a run depends on; with the same plan a run issues
// the same operations (group commit timing aside) and injects the same
// fault.
type runPlan struct {
	index        int
	workloadSeed uint64
	fsSeed       uint64
	profile      faultfs.Profile
	crash        faultfs.CrashOptions
	fault        faultKind
	n            int  // the n-th matching operation
	before       bool // op-crash: crash before rather than after
	rounds       int
	segmentBytes int64
	interval     time.Duration
	// cloneRounds: round boundaries where a CrashClone is checked.
	cloneRounds []int
	// reopenAfterEIO: after the EIO and a few rounds, reopen the
	// stopped dataspaces and check, then go on before the final crash.
	reopenAfterEIO bool
	// damage: flip a bit in a log segment before the final restart.
	damage  bool
	defects Defects
	serial  bool
	budget  int // at most this many checked states
}

func (p runPlan) String() string {
	return fmt.Sprintf("run=%d workload-seed=%d fs-seed=%d profile=%s fault=%s n=%d crash={keep=%d%% unit=%d tear=%v dirops=%d} seg=%d",
		p.index, p.workloadSeed, p.fsSeed, p.profile, p.fault, p.n,
		p.crash.KeepUnsyncedPercent, p.crash.UnitBytes, p.crash.TearOne, p.crash.DirOps, p.segmentBytes)
}

// runResult is what one run found.
type runResult struct {
	states     int
	violations []string
	ops        []*opRec
	// dry-run counts
	syncs, journalSyncs int
	opCount             uint64
}

// firedFault is an injected fault that took effect.
type firedFault struct {
	op    faultfs.Op
	round int
	err   error
}

// injector fails the n-th operation its matcher selects and records it.
// It is consulted under the FS lock in operation order.
type injector struct {
	match func(faultfs.Op) bool
	n     int
	err   error
	round *atomic.Int64

	mu    sync.Mutex
	seen  int
	fired []firedFault
	// counting (dry run): syncs seen, and those a journal-profile EIO
	// may target.
	syncs, journalSyncs int
}

func (in *injector) Inject(op faultfs.Op) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if isSync(op) {
		in.syncs++
		if journalEligible(op) {
			in.journalSyncs++
		}
	}
	if in.match == nil || !in.match(op) || in.seen >= in.n {
		return nil
	}
	in.seen++
	if in.seen < in.n {
		return nil
	}
	in.fired = append(in.fired, firedFault{op: op, round: int(in.round.Load()), err: in.err})
	return in.err
}

func (in *injector) firedFaults() []firedFault {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.fired)
}

func isSync(op faultfs.Op) bool {
	switch op.Kind {
	case faultfs.OpSync, faultfs.OpSyncData, faultfs.OpSyncDir, faultfs.OpSyncFS:
		return true
	}
	return false
}

// journalEligible: under ext4 data=journal a failed file sync reports
// success and the next sync of the file fails. For a log segment that
// next sync comes with the next group and the dataspace stops; for a file
// synced once (a manifest) it never comes, and no program could notice.
// So under that profile only log segments and directories are failed.
func journalEligible(op faultfs.Op) bool {
	return op.Kind == faultfs.OpSyncDir || strings.HasSuffix(op.Path, ".seg")
}

// runner executes one run: the workload against the engine on a faultfs,
// the model of what the client saw, and the checks.
type runner struct {
	plan  runPlan
	rng   *rand.Rand
	fsys  *faultfs.FS
	efs   vfs.FS
	inj   *injector
	round atomic.Int64
	db    *holdfast.DB

	spaces  map[string]*spaceModel
	handles map[string]*holdfast.Dataspace
	order   []string // dataspace names in creation order
	ops     []*opRec
	nextOp  int
	nextDS  int

	states     int
	violations []string
	crashed    bool // the file system went down (the process "died")
	eioFired   bool
	eioRound   int
	damage     *damageSpec
	quiesce    quiesceModel // quiesce.go
}

var discardLogger = slog.New(slog.DiscardHandler)

func newRunner(plan runPlan) *runner {
	r := &runner{
		plan:    plan,
		rng:     rand.New(rand.NewPCG(plan.workloadSeed, 0x6a09e667f3bcc908)),
		spaces:  make(map[string]*spaceModel),
		handles: make(map[string]*holdfast.Dataspace),
	}
	r.inj = &injector{round: &r.round, n: plan.n}
	syncKinds := faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData, faultfs.OpSyncDir, faultfs.OpSyncFS)
	switch plan.fault {
	case faultSyncCrashBefore:
		r.inj.match, r.inj.err = syncKinds, faultfs.ErrCrashBefore
	case faultSyncCrashAfter:
		r.inj.match, r.inj.err = syncKinds, faultfs.ErrCrashAfter
	case faultSyncEIO:
		r.inj.match, r.inj.err = syncKinds, syscall.EIO
		if plan.profile == faultfs.ProfileExt4Journal {
			r.inj.match = func(op faultfs.Op) bool { return isSync(op) && journalEligible(op) }
		}
	case faultOpCrash:
		// Device reads and writes are not operations a crash can be
		// attached to (faultfs turns any injected error there into EIO).
		r.inj.match = func(op faultfs.Op) bool {
			return op.Kind != faultfs.OpDeviceRead && op.Kind != faultfs.OpDeviceWrite
		}
		r.inj.err = faultfs.ErrCrashAfter
		if plan.before {
			r.inj.err = faultfs.ErrCrashBefore
		}
	}
	r.fsys = faultfs.New(faultfs.Options{
		Profile:      plan.profile,
		Seed:         plan.fsSeed,
		Injector:     r.inj,
		CrashOptions: plan.crash,
	})
	r.efs = r.fsys
	if plan.defects.needsWrapper() {
		r.efs = newDefectFS(r.fsys, plan.defects, &r.damage)
	}
	return r
}

func (r *runner) violate(format string, args ...any) {
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

func (r *runner) dbOptions(fsys vfs.FS) holdfast.Options {
	// Automatic compaction runs between client writes at moments the
	// scheduler picks, which would make runs irreproducible; the workload
	// compacts explicitly instead (kCompact), through the same code. For
	// the same reason checkpoints and log verification run in line.
	return holdfast.Options{FS: fsys, Logger: discardLogger, SegmentSizeBytes: r.plan.segmentBytes, CompactionSpaceAmp: -1,
		SerialMaintenance: true}
}

// run executes the plan and returns what it found.
func (r *runner) run() runResult {
	r.workload()
	if r.plan.fault != faultNone && r.budgetLeft() {
		r.crashAndCheck()
	}
	res := runResult{states: r.states, violations: r.violations, ops: r.ops, opCount: r.fsys.OpCount()}
	r.inj.mu.Lock()
	res.syncs, res.journalSyncs = r.inj.syncs, r.inj.journalSyncs
	r.inj.mu.Unlock()
	return res
}

func (r *runner) budgetLeft() bool { return r.plan.fault == faultNone || r.states < r.plan.budget }

// workload opens the database, creates the first dataspaces and runs the
// rounds until the plan ends or the file system crashes.
func (r *runner) workload() {
	db, err := holdfast.Open(dbDir, r.dbOptions(r.efs))
	if err != nil {
		// Only an injected fault can fail the first open; nothing was
		// created, so nothing is expected after the restart.
		r.crashed = r.fsys.Down()
		return
	}
	r.db = db
	r.round.Store(0)
	r.execRound([]*opRec{r.newCreate(false)})
	r.round.Store(1)
	r.execRound([]*opRec{r.newCreate(true)})
	afterEIO := -1
	for rd := 2; rd < r.plan.rounds && !r.crashed; rd++ {
		r.round.Store(int64(rd))
		if slices.Contains(r.plan.cloneRounds, rd) && r.states+1 < r.plan.budget {
			r.checkClone(rd)
		}
		if r.eioFired && afterEIO < 0 {
			afterEIO = rd + 2 + r.rng.IntN(2)
		}
		if rd == afterEIO {
			if !r.plan.reopenAfterEIO || r.states+1 >= r.plan.budget {
				return // crash now
			}
			r.reopenStopped()
			continue
		}
		var ops []*opRec
		if r.rng.IntN(100) < 8 {
			if o := r.genAdmin(); o != nil {
				ops = []*opRec{o}
			}
		}
		if ops == nil {
			ops = r.genDataRound()
		}
		if len(ops) > 0 {
			r.execRound(ops)
		}
	}
}

// reopenStopped reopens every dataspace the failure stopped and checks
// what each recovered: one state.
func (r *runner) reopenStopped() {
	r.resumeBeforeAdmin()
	var ops []*opRec
	for _, name := range r.order {
		sp := r.spaces[name]
		if sp.exist == exYes && r.handles[name] != nil && (sp.stopped || r.handles[name].Err() != nil) {
			ops = append(ops, r.newOp(kReopen, name))
		}
	}
	if len(ops) == 0 {
		// The failure hit something else (a create, a reopen): check
		// a reopen of the first dataspace instead.
		for _, name := range r.order {
			if r.spaces[name].exist == exYes && r.handles[name] != nil {
				ops = append(ops, r.newOp(kReopen, name))
				break
			}
		}
	}
	before := len(r.violations)
	for _, o := range ops {
		if r.crashed {
			break
		}
		r.execRound([]*opRec{o})
	}
	if len(ops) > 0 && !r.crashed {
		r.states++
		r.tagNew(before, "reopen after sync failure")
	}
}

func (r *runner) tagNew(from int, when string) {
	for i := from; i < len(r.violations); i++ {
		r.violations[i] = "[" + when + "] " + r.violations[i]
	}
}

func (r *runner) newOp(kind opKind, space string) *opRec {
	o := &opRec{id: r.nextOp, round: int(r.round.Load()), kind: kind, space: space}
	r.nextOp++
	return o
}

func (r *runner) newCreate(interval bool) *opRec {
	name := fmt.Sprintf("d%d", r.nextDS)
	r.nextDS++
	o := r.newOp(kCreate, name)
	o.interval = interval || r.plan.defects.AckBeforeSync
	return o
}

// genAdmin picks a create, drop or reopen.
func (r *runner) genAdmin() *opRec {
	var live []string
	for _, name := range r.order {
		if r.spaces[name].exist == exYes && r.handles[name] != nil {
			live = append(live, name)
		}
	}
	if o := r.genQuiesce(); o != nil { // quiesce.go
		return o
	}
	x := r.rng.IntN(100)
	switch {
	case x < 35 || len(live) == 0:
		if r.nextDS >= 8 {
			return nil
		}
		return r.newCreate(r.rng.IntN(100) < 40)
	case x < 55 && len(live) >= 2:
		return r.newOp(kDrop, live[r.rng.IntN(len(live))])
	case x < 75:
		return r.newOp(kCompact, live[r.rng.IntN(len(live))])
	default:
		for _, name := range live {
			if r.spaces[name].stopped {
				return r.newOp(kReopen, name)
			}
		}
		return r.newOp(kReopen, live[r.rng.IntN(len(live))])
	}
}

// genDataRound picks up to maxOpsPerRound operations on disjoint keys.
func (r *runner) genDataRound() []*opRec {
	var live []string
	for _, name := range r.order {
		if r.spaces[name].exist == exYes && r.handles[name] != nil {
			live = append(live, name)
		}
	}
	if len(live) == 0 {
		return nil
	}
	want := 1 + r.rng.IntN(maxOpsPerRound)
	used := make(map[string]bool)
	var ops []*opRec
	for tries := 0; len(ops) < want && tries < 3*want; tries++ {
		name := live[r.rng.IntN(len(live))]
		if o := r.genOp(name, used); o != nil {
			ops = append(ops, o)
		}
	}
	return ops
}

func keyName(i int) string     { return fmt.Sprintf("k%02d", i) }
func counterName(i int) string { return fmt.Sprintf("c%d", i) }

// reserve claims keys of a dataspace for this round (rounds touch
// disjoint keys, so each key's writes are totally ordered). "*" is the
// whole dataspace (a scan).
func reserve(used map[string]bool, space string, keys ...string) bool {
	if used[space+"/*"] {
		return false
	}
	for _, k := range keys {
		if k == "*" {
			for u := range used {
				if strings.HasPrefix(u, space+"/") {
					return false
				}
			}
		} else if used[space+"/"+k] {
			return false
		}
	}
	for _, k := range keys {
		used[space+"/"+k] = true
	}
	return true
}

// value makes a value unique to the op and key, of a size that is inline
// (<= 64 bytes), read from the log, or spans pages.
func (r *runner) value(id int, key string) []byte {
	prefix := fmt.Sprintf("v%d.%s~", id, key)
	n := len(prefix) + r.rng.IntN(24)
	switch x := r.rng.IntN(100); {
	case x >= 90:
		n = 1000 + r.rng.IntN(5000)
	case x >= 70:
		n = 65 + r.rng.IntN(400)
	}
	b := make([]byte, n)
	copy(b, prefix)
	for i := len(prefix); i < n; i++ {
		b[i] = 'a' + byte((i*7+id)%26)
	}
	return b
}

func (r *runner) genOp(name string, used map[string]bool) *opRec {
	sp := r.spaces[name]
	x := r.rng.IntN(100)
	switch {
	case x < 28: // put
		k := keyName(r.rng.IntN(keysPerSpace))
		if !reserve(used, name, k) {
			return nil
		}
		o := r.newOp(kPut, name)
		o.effects = []*effect{{key: k, value: r.value(o.id, k)}}
		if r.rng.IntN(3) == 0 {
			o.reqID = "r" + strconv.Itoa(o.id)
		}
		return o
	case x < 36: // delete
		k := keyName(r.rng.IntN(keysPerSpace))
		if !reserve(used, name, k) {
			return nil
		}
		o := r.newOp(kDelete, name)
		o.effects = []*effect{{key: k, del: true}}
		return o
	case x < 48: // batch
		n := 2 + r.rng.IntN(3)
		perm := r.rng.Perm(keysPerSpace)[:n]
		keys := make([]string, n)
		for i, p := range perm {
			keys[i] = keyName(p)
		}
		if !reserve(used, name, keys...) {
			return nil
		}
		o := r.newOp(kBatch, name)
		for _, k := range keys {
			if r.rng.IntN(4) == 0 {
				o.effects = append(o.effects, &effect{key: k, del: true})
			} else {
				o.effects = append(o.effects, &effect{key: k, value: r.value(o.id, k)})
			}
		}
		if r.rng.IntN(3) == 0 {
			o.reqID = "r" + strconv.Itoa(o.id)
		}
		return o
	case x < 60: // compare-and-swap
		k := keyName(r.rng.IntN(keysPerSpace))
		if !reserve(used, name, k) {
			return nil
		}
		o := r.newOp(kCAS, name)
		cur, certain := sp.key(k).current()
		o.expect = cur.seq
		if r.rng.IntN(4) == 0 {
			o.expect += 1 + uint64(r.rng.IntN(3))
		}
		o.casRight = certain && o.expect == cur.seq
		o.casWrong = certain && o.expect != cur.seq
		o.effects = []*effect{{key: k, value: r.value(o.id, k)}}
		return o
	case x < 72: // increment
		k := counterName(r.rng.IntN(countersPerSpace))
		if !reserve(used, name, k) {
			return nil
		}
		cur, _ := sp.key(k).current()
		var n int64
		if cur.found {
			v, err := strconv.ParseInt(string(cur.value), 10, 64)
			if err != nil {
				return nil
			}
			n = v
		}
		o := r.newOp(kIncr, name)
		o.delta = int64(r.rng.IntN(16)) - 5
		o.predicted = n + o.delta
		o.effects = []*effect{{key: k, value: []byte(strconv.FormatInt(o.predicted, 10))}}
		if r.rng.IntN(3) == 0 {
			o.reqID = "r" + strconv.Itoa(o.id)
		}
		return o
	case x < 86: // get
		var k string
		if r.rng.IntN(4) == 0 {
			k = counterName(r.rng.IntN(countersPerSpace))
		} else {
			k = keyName(r.rng.IntN(keysPerSpace))
		}
		if !reserve(used, name, k) {
			return nil
		}
		o := r.newOp(kGet, name)
		o.keys = []string{k}
		return o
	case x < 91: // scan
		if !reserve(used, name, "*") {
			return nil
		}
		o := r.newOp(kScan, name)
		return o
	default: // retry a write that carried a request id
		return r.genRetry(name, used)
	}
}

// genRetry re-issues an earlier write with its request id: if it is known
// to be applied, the retry must return its seq and change nothing; if it
// is known not to be, the retry applies it.
func (r *runner) genRetry(name string, used map[string]bool) *opRec {
	sp := r.spaces[name]
	var cands []*opRec
	for _, o := range sp.reqs {
		switch {
		case o.resolved == resNone && o.status == stAcked && !o.dup:
		case o.resolved == resApplied, o.resolved == resNotApplied:
		default:
			continue
		}
		cands = append(cands, o)
	}
	if len(cands) == 0 {
		return nil
	}
	orig := cands[r.rng.IntN(len(cands))]
	keys := make([]string, len(orig.effects))
	for i, e := range orig.effects {
		keys[i] = e.key
	}
	if !reserve(used, name, keys...) {
		return nil
	}
	o := r.newOp(orig.kind, name)
	o.reqID, o.retryOf, o.delta = orig.reqID, orig, orig.delta
	for _, e := range orig.effects {
		o.effects = append(o.effects, &effect{key: e.key, del: e.del, value: e.value})
	}
	switch orig.resolved {
	case resNone:
		o.expectDup, o.expectSeq = true, orig.seq
	case resApplied:
		o.expectDup, o.expectSeq = true, orig.dupSeq
	}
	if !o.expectDup && o.kind == kIncr {
		cur, _ := sp.key(keys[0]).current()
		var n int64
		if cur.found {
			v, err := strconv.ParseInt(string(cur.value), 10, 64)
			if err != nil {
				return nil
			}
			n = v
		}
		o.predicted = n + o.delta
		o.effects[0].value = []byte(strconv.FormatInt(o.predicted, 10))
	}
	if !o.expectDup {
		// The retry takes the original's place as the op holding the id.
		sp.reqs = slices.DeleteFunc(sp.reqs, func(x *opRec) bool { return x == orig })
	}
	return o
}

// execRound runs the ops concurrently (group commit gathers them), waits
// for all, then judges the results in op order.
func (r *runner) execRound(ops []*opRec) {
	for _, o := range ops {
		if sp := r.spaces[o.space]; sp != nil {
			o.stoppedBefore = sp.stopped
			if o.kind.isWrite() && !o.expectDup {
				sp.addWrite(o)
			}
		}
	}
	firedBefore := len(r.inj.firedFaults())
	var wg sync.WaitGroup
	for _, o := range ops {
		if r.plan.serial {
			r.exec(o)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.exec(o)
		}()
	}
	wg.Wait()
	r.ops = append(r.ops, ops...)
	fired := r.inj.firedFaults()[firedBefore:]
	for _, f := range fired {
		r.onFault(f, ops)
	}
	for _, o := range ops {
		r.judge(o)
	}
	if r.fsys.Down() {
		r.crashed = true
	}
}

// exec issues one operation and records what came back.
func (r *runner) exec(o *opRec) {
	ctx := context.Background()
	defer func() { o.down = r.fsys.Down() }()
	if o.kind.isQuiesce() {
		r.execQuiesce(o)
		return
	}
	switch o.kind {
	case kCreate:
		opts := holdfast.DataspaceOptions{}
		if o.interval {
			opts.Sync = holdfast.SyncPolicy{Interval: r.plan.interval}
		}
		ds, err := r.db.CreateDataspace(o.space, opts)
		o.err = err
		if err == nil {
			r.handles[o.space] = ds
		}
		return
	case kDrop:
		o.err = r.db.DropDataspace(o.space)
		return
	case kReopen:
		ds, err := r.db.Reopen(o.space)
		o.err = err
		r.handles[o.space] = ds
		if err == nil {
			o.reads, o.seq, o.err = scanAll(ds)
		}
		return
	}
	ds := r.handles[o.space]
	if o.kind == kCompact {
		_, o.err = ds.Compact(ctx)
		return
	}
	var wopts []holdfast.WriteOption
	if o.reqID != "" {
		wopts = append(wopts, holdfast.WithRequestID(o.reqID))
	}
	switch o.kind {
	case kPut:
		e := o.effects[0]
		o.seq, o.err = ds.Put(ctx, []byte(e.key), e.value, wopts...)
	case kCAS:
		e := o.effects[0]
		o.seq, o.err = ds.CompareAndSwap(ctx, []byte(e.key), o.expect, e.value, wopts...)
	case kDelete:
		_, o.seq, o.err = ds.Delete(ctx, []byte(o.effects[0].key), wopts...)
	case kBatch:
		var b holdfast.Batch
		for _, e := range o.effects {
			if e.del {
				b.Delete([]byte(e.key))
			} else {
				b.Put([]byte(e.key), e.value)
			}
		}
		o.seq, o.err = ds.Apply(ctx, &b, wopts...)
	case kIncr:
		o.intValue, o.seq, o.err = ds.Incr(ctx, []byte(o.effects[0].key), o.delta, wopts...)
	case kGet:
		v, err := ds.Get(ctx, []byte(o.keys[0]))
		switch {
		case err == nil:
			o.reads = map[string]version{o.keys[0]: {found: true, value: v.Data, seq: v.Seq}}
		case errors.Is(err, holdfast.ErrNotFound):
			o.reads = map[string]version{o.keys[0]: {}}
		default:
			o.err = err
		}
	case kScan:
		o.reads, _, o.err = scanAll(ds)
	}
}

// scanAll reads a whole dataspace, page by page, and its last seq.
func scanAll(ds *holdfast.Dataspace) (map[string]version, uint64, error) {
	out := make(map[string]version)
	var after []byte
	for {
		page, err := ds.Scan(context.Background(), holdfast.ScanOptions{After: after, Limit: scanPageLimit})
		if err != nil {
			return nil, 0, err
		}
		for _, kv := range page.KVs {
			out[string(kv.Key)] = version{found: true, value: kv.Value.Data, seq: kv.Value.Seq}
		}
		if page.Next == nil {
			return out, ds.LastSeq(), nil
		}
		after = page.Next
	}
}

// spaceOf returns the dataspace a path belongs to, and whether the path
// is in its log.
func spaceOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, dbDir+"/dataspaces/")
	if !ok {
		return "", false
	}
	name, tail, _ := strings.Cut(rest, "/")
	return name, strings.HasPrefix(tail, "wal")
}

// onFault reacts to an injected fault taking effect in this round.
func (r *runner) onFault(f firedFault, ops []*opRec) {
	if !errors.Is(f.err, syscall.EIO) {
		return
	}
	r.eioFired = true
	r.eioRound = f.round
	name, inLog := spaceOf(f.op.Path)
	sp := r.spaces[name]
	if sp == nil || !inLog {
		return
	}
	dataRound := true
	for _, o := range ops {
		if o.space == name && !o.kind.isWrite() && o.kind != kGet && o.kind != kScan {
			dataRound = false // a create, drop or reopen of that dataspace
		}
	}
	if r.plan.profile == faultfs.ProfileExt4Journal {
		// The failed sync said yes; the data is not durable, and the
		// failure shows at the next sync.
		sp.weak, sp.lied = true, true
		return
	}
	if !dataRound {
		return
	}
	ds := r.handles[name]
	if ds == nil {
		return
	}
	// The failed sync may belong to work the writer does in the
	// background (a compaction step between client writes); its stop
	// lands a moment later. Give it a bounded moment.
	deadline := time.Now().Add(2 * time.Second)
	for !errors.Is(ds.Err(), holdfast.ErrFailStop) && !r.fsys.Down() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := ds.Err(); !errors.Is(err, holdfast.ErrFailStop) && !r.fsys.Down() {
		r.violate("I5: sync of %s failed with EIO but dataspace %q did not fail-stop (Err() = %v)", f.op.Path, name, err)
	}
	sp.stopped = true
}

// checkStopErr checks the error of an operation on a dataspace that had
// stopped, or stopped with it: a stop on an I/O error must say
// ErrFailStop (I5), one on damage ErrCorrupt (I4). Reported once per stop.
func (r *runner) checkStopErr(sp *spaceModel, o *opRec) {
	if o.down || sp.reportedStop {
		return
	}
	if errors.Is(o.err, holdfast.ErrFailStop) || errors.Is(o.err, holdfast.ErrOutcomeUnknown) || errors.Is(o.err, holdfast.ErrCorrupt) {
		return
	}
	sp.reportedStop = true
	if o.stoppedBefore {
		r.violate("I5: %s: dataspace %q is stopped but reports an error that is not ErrFailStop", o, o.space)
		return
	}
	r.violate("I5: %s: dataspace %q failed an operation with an error that is neither ErrFailStop nor ErrOutcomeUnknown", o, o.space)
}

// judge checks one op's answer against the model and records it.
func (r *runner) judge(o *opRec) {
	if o.kind.isQuiesce() {
		r.judgeQuiesce(o)
		return
	}
	sp := r.spaces[o.space]
	switch o.kind {
	case kCreate:
		r.judgeCreate(o)
		return
	case kDrop:
		r.judgeDrop(o)
		return
	case kReopen:
		r.judgeReopen(o)
		return
	case kCompact:
		// Compaction changes no key: the model stays as it is. An error
		// is an I/O error or damage, and stops the dataspace.
		if o.down {
			return
		}
		if o.err != nil {
			r.checkStopErr(sp, o)
			sp.stopped = true
		}
		return
	}
	if o.kind.isWrite() {
		r.judgeWrite(sp, o)
		return
	}
	// Reads.
	if o.down {
		return // answered after the crash: nobody saw it
	}
	if o.err != nil {
		r.checkStopErr(sp, o)
		sp.stopped = true
		return
	}
	if o.stoppedBefore {
		r.violate("I5: %s: dataspace %q served a read after it reported a fail-stop", o, o.space)
	}
	keys := o.keys
	if o.kind == kScan {
		keys = sp.sortedKeys()
		for k, v := range o.reads {
			if _, ok := sp.keys[k]; !ok && v.found {
				r.violate("I4: %s: dataspace %q returned key %q never written", o, o.space, k)
			}
		}
	}
	for _, k := range keys {
		if msg := sp.observe(k, o.reads[k]); msg != "" {
			r.violate("%s: dataspace %q: %s", o, o.space, msg)
		}
	}
}

func (r *runner) judgeWrite(sp *spaceModel, o *opRec) {
	switch {
	case o.err == nil:
		o.status = stAcked
	case errors.Is(o.err, holdfast.ErrOutcomeUnknown) || o.down:
		o.status = stUnknown
	default:
		o.status = stFailed
	}
	if o.stoppedBefore && !o.down {
		if o.err == nil {
			r.violate("I5: %s: dataspace %q accepted a write after it reported a fail-stop", o, o.space)
		}
	}
	quiesced := r.judgeQuiescedWrite(o)
	if o.err != nil && !o.down && !errors.Is(o.err, holdfast.ErrVersionMismatch) && !quiesced {
		r.checkStopErr(sp, o)
	}
	if o.err != nil && (errors.Is(o.err, holdfast.ErrFailStop) || errors.Is(o.err, holdfast.ErrOutcomeUnknown) || errors.Is(o.err, holdfast.ErrCorrupt)) {
		sp.stopped = true
	}
	if o.expectDup {
		if o.err == nil && o.seq != o.expectSeq {
			r.violate("I3: %s: retry of request id %q returned seq %d, but the original was applied at seq %d", o, o.reqID, o.seq, o.expectSeq)
		}
		if o.err == nil {
			o.dup = true
		}
		return
	}
	if o.err == nil {
		switch o.kind {
		case kIncr:
			if o.intValue != o.predicted {
				r.violate("I3: %s: increment returned %d, the model says %d", o, o.intValue, o.predicted)
			}
		case kCAS:
			if o.casWrong {
				r.violate("I3: %s: compare-and-swap succeeded with a wrong version", o)
			}
		}
	}
	if errors.Is(o.err, holdfast.ErrVersionMismatch) && o.casRight && !o.stoppedBefore {
		r.violate("I3: %s: compare-and-swap with the current version failed", o)
	}
	sp.settle(o)
}

func (r *runner) judgeCreate(o *opRec) {
	strict := !o.interval || r.plan.defects.AckBeforeSync
	sp := newSpaceModel(o.space, strict, o.interval)
	r.spaces[o.space] = sp
	r.order = append(r.order, o.space)
	switch {
	case o.err == nil:
		sp.exist = exYes
	case errors.Is(o.err, holdfast.ErrOutcomeUnknown) || o.down:
		sp.exist = exMaybe
		delete(r.handles, o.space)
	case errors.Is(o.err, holdfast.ErrFailStop) || errors.Is(o.err, holdfast.ErrCorrupt):
		// Created durably, stopped while opening.
		sp.exist = exYes
		sp.stopped = true
		delete(r.handles, o.space)
	default:
		sp.exist = exNo
		delete(r.handles, o.space)
	}
}

func (r *runner) judgeDrop(o *opRec) {
	sp := r.spaces[o.space]
	delete(r.handles, o.space) // gone from this process whatever the outcome
	switch {
	case o.err == nil:
		sp.exist = exNo
	case errors.Is(o.err, holdfast.ErrOutcomeUnknown) || o.down:
		sp.exist = exMaybe
	}
}

func (r *runner) judgeReopen(o *opRec) {
	sp := r.spaces[o.space]
	if o.down {
		delete(r.handles, o.space)
		return
	}
	if o.err != nil {
		sp.stopped = true
		if r.handles[o.space] == nil {
			delete(r.handles, o.space)
		}
		return
	}
	if !sp.stopped && !sp.weak {
		// A reopen of a serving dataspace syncs and closes the log
		// first: every acknowledged write, under either policy, must
		// be there (I7's window closes at a clean stop).
		for _, k := range sp.sortedKeys() {
			km := sp.keys[k]
			if i := km.lastAcked(); i >= 0 {
				km.raiseFloor(i, "I7")
			}
		}
	}
	rec := recovered{values: o.reads, lastSeq: o.seq}
	v, res := sp.check(rec, fmt.Sprintf("after reopen (%s)", o))
	r.violations = append(r.violations, v...)
	sp.rebaseline(rec, res)
}
