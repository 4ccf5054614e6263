// Package crashtest is holdfast's crash-state explorer. It runs seeded
// workloads against the engine on a faultfs, crashes the file system or
// fails a sync at every sync point (and at random operation counts) under
// every failure profile, restarts, and checks the recovered state against
// a record of what each operation returned: acknowledged, failed,
// unknown, or read. The checks are the invariants of shared/DESIGN.md:
//
//   - I1: a write acknowledged under sync=always survives;
//   - I2: a value read under sync=always survives (reads never observe
//     non-durable data);
//   - I3: a write that failed with a definite error never becomes
//     visible; one of unknown outcome is all-or-nothing (batches); a
//     request id is applied once;
//   - I4: nothing is recovered that was not written, the recovered log is
//     a prefix (no acknowledged write is missing below the last recovered
//     seq), and deliberate damage is reported as ErrCorrupt naming the
//     file, never served or silently cut;
//   - I5: after a failed sync the dataspace fail-stops (every later
//     operation reports ErrFailStop) and a reopen recovers a valid state;
//   - I7: under sync=interval, what was acknowledged before a clean stop
//     (a reopen) survives, and the recovered log has no holes.
//
// # The workload
//
// A run opens a database on a fresh faultfs, creates an always and an
// interval dataspace, then plays rounds. A round is either one admin
// operation (create, drop or reopen a dataspace) or up to four data
// operations (put, delete, batch, compare-and-swap, increment, get, scan,
// a retry with a request id) on disjoint keys, issued concurrently so
// that group commit gathers them, and joined before the next round. Every
// choice comes from a seeded generator; the only nondeterminism left is
// how the engine groups one round's concurrent writes, which can move a
// sync point by a few positions. Config.Serial removes it, for replay.
//
// # The fault points
//
// Runs come in families that share a workload seed. A dry run counts the
// family's sync operations (fsync, fdatasync, directory sync); then one
// run per sync point crashes before it, crashes after it, or fails it
// with EIO (after which the workload goes on for a few rounds, observing
// the fail-stop, and then reopens the stopped dataspaces and checks, or
// crashes), and a quarter as many runs crash after a random operation of
// any kind. Runs cycle through the five profiles and vary the crash
// options (unsynced data kept 0/50/100%, page or sector units, a torn
// write, directory operations dropped/kept/random); some take crash
// clones at round boundaries; some flip a bit of a log segment before
// the final restart.
//
// Each checked state (the restart after the final crash, a crash clone,
// a reopen after a sync failure) counts as one crash state.
package crashtest

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Config configures an exploration.
type Config struct {
	// States is the number of crash states to check (default 1000).
	States int
	// Seed drives every random choice; the same seed explores the same
	// states.
	Seed uint64
	// Profiles are the failure profiles, used in turn (default all).
	Profiles []faultfs.Profile
	// Defects switch on deliberate bugs (tests of the checker).
	Defects Defects
	// Workers run families in parallel (default GOMAXPROCS). With one
	// worker the states explored are exactly reproducible.
	Workers int
	// Rounds per run (default 30).
	Rounds int
	// SyncInterval is the interval of sync=interval dataspaces (default
	// one minute: no timer sync fires during a run, so the loss window
	// is bounded by the explicit stops the workload makes and the result
	// does not depend on timing).
	SyncInterval time.Duration
	// Serial issues each round's operations one after another instead
	// of concurrently: no group commit of several writers, but a run is
	// then exactly reproducible (for replaying an example).
	Serial bool
	// Run, if positive, replays only the run with that (1-based) index,
	// as printed in an example.
	Run int
	// MaxExamples caps Result.Examples (default 5).
	MaxExamples int
	// ExampleOps is how many of the last operations an example lists
	// (default 15).
	ExampleOps int
	// Progress, if set, is called after each run with the totals so far.
	Progress func(states, violations int)
}

// Result is what an exploration found.
type Result struct {
	// States is the number of crash states checked.
	States int
	// Violations is the number of invariant violations found.
	Violations int
	// Examples describe the first violations, each with its run (for
	// Config.Run), plan and the operations before it.
	Examples []string
}

// Line is the summary line the CLI ends with.
func (r Result) Line() string {
	return fmt.Sprintf("%d crash states, %d violations", r.States, r.Violations)
}

func (c Config) withDefaults() Config {
	if c.States <= 0 {
		c.States = 1000
	}
	if len(c.Profiles) == 0 {
		c.Profiles = faultfs.Profiles
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Rounds <= 0 {
		c.Rounds = 30
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = time.Minute
	}
	if c.ExampleOps <= 0 {
		c.ExampleOps = 15
	}
	if c.MaxExamples <= 0 {
		c.MaxExamples = 5
	}
	return c
}

// family is the runs that share one workload.
type family struct {
	index int
	plans []runPlan
}

// planFamily dry-runs the family's workload to count its sync points and
// operations, then plans one run per sync point and some at random
// operation counts.
func planFamily(cfg Config, f int, firstRun int) family {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(f)*0x9e3779b97f4a7c15+1))
	segs := []int64{16 << 10, 32 << 10, 1 << 20}
	base := runPlan{
		workloadSeed: rng.Uint64(),
		rounds:       cfg.Rounds,
		segmentBytes: segs[rng.IntN(len(segs))],
		interval:     cfg.SyncInterval,
		profile:      cfg.Profiles[f%len(cfg.Profiles)],
		defects:      cfg.Defects,
		serial:       cfg.Serial,
	}
	dry := newRunner(base).run()
	syncs := max(dry.syncs, 1)
	jsyncs := max(dry.journalSyncs, 1)
	ops := max(int(dry.opCount), 1)
	fam := family{index: f}
	add := func(p runPlan) {
		p.index = firstRun + len(fam.plans)
		p.profile = cfg.Profiles[(f+len(fam.plans))%len(cfg.Profiles)]
		p.fsSeed = rng.Uint64()
		p.crash = faultfs.CrashOptions{
			KeepUnsyncedPercent: []int{0, 50, 100}[rng.IntN(3)],
			UnitBytes:           []int{faultfs.PageSizeBytes, faultfs.SectorSizeBytes}[rng.IntN(2)],
			TearOne:             rng.IntN(3) == 0,
			DirOps:              []faultfs.DirOps{faultfs.DropDirOps, faultfs.RandomDirOps, faultfs.KeepDirOps}[rng.IntN(3)],
		}
		switch x := rng.IntN(10); {
		case x < 3:
			p.cloneRounds = []int{3 + rng.IntN(max(p.rounds/2-3, 1))}
		case x < 4:
			p.cloneRounds = []int{3 + rng.IntN(max(p.rounds/2-3, 1)), p.rounds/2 + rng.IntN(max(p.rounds/2, 1))}
		}
		p.reopenAfterEIO = p.fault == faultSyncEIO && rng.IntN(10) < 6
		p.damage = rng.IntN(10) == 0 || cfg.Defects.TruncateMidLogDamage
		p.budget = 1 + len(p.cloneRounds)
		if p.reopenAfterEIO {
			p.budget++
		}
		fam.plans = append(fam.plans, p)
	}
	kinds := []faultKind{faultSyncCrashAfter, faultSyncEIO, faultSyncCrashBefore}
	for n := 1; n <= syncs; n++ {
		p := base
		p.fault = kinds[n%len(kinds)]
		p.n = n
		if p.fault == faultSyncEIO && cfg.Profiles[(f+len(fam.plans))%len(cfg.Profiles)] == faultfs.ProfileExt4Journal {
			p.n = (n-1)%jsyncs + 1
		}
		add(p)
	}
	for i := 0; i < (syncs+3)/4; i++ {
		p := base
		p.fault = faultOpCrash
		p.n = 1 + rng.IntN(ops)
		p.before = rng.IntN(2) == 0
		add(p)
	}
	return fam
}

// Run explores cfg.States crash states and reports the violations.
func Run(cfg Config) Result {
	cfg = cfg.withDefaults()
	e := &explorer{cfg: cfg, remaining: cfg.States, results: make(map[int]runOutcome)}
	e.cond = sync.NewCond(&e.mu)
	if cfg.Run > 0 {
		e.replay(cfg.Run - 1)
	} else {
		var wg sync.WaitGroup
		for w := 0; w < cfg.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.work()
			}()
		}
		wg.Wait()
	}
	return e.result()
}

type runOutcome struct {
	plan runPlan
	res  runResult
}

type explorer struct {
	cfg Config

	mu         sync.Mutex
	cond       *sync.Cond
	nextFamily int
	remaining  int // states not yet given to a run
	inflight   int // states given to runs still going
	states     int
	violations int
	results    map[int]runOutcome
	done       bool
}

// take reserves up to k states for a run; 0 means the exploration is
// complete.
func (e *explorer) take(k int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.remaining == 0 && e.inflight > 0 {
		e.cond.Wait()
	}
	n := min(k, e.remaining)
	e.remaining -= n
	e.inflight += n
	return n
}

func (e *explorer) finish(reserved int, o runOutcome) {
	e.mu.Lock()
	used := min(o.res.states, reserved)
	e.inflight -= reserved
	e.remaining += reserved - used
	e.states += used
	v := uniq(o.res.violations)
	o.res.violations = v
	e.violations += len(v)
	if len(v) > 0 {
		e.results[o.plan.index] = o
	}
	states, violations := e.states, e.violations
	e.cond.Broadcast()
	e.mu.Unlock()
	if e.cfg.Progress != nil {
		e.cfg.Progress(states, violations)
	}
}

func uniq(v []string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// familySize is a generous bound on the runs of one family, used to
// number runs without waiting for the dry runs of earlier families.
const familySize = 100_000

func (e *explorer) work() {
	for {
		e.mu.Lock()
		if e.remaining == 0 && e.inflight == 0 {
			e.mu.Unlock()
			return
		}
		f := e.nextFamily
		e.nextFamily++
		e.mu.Unlock()
		fam := planFamily(e.cfg, f, f*familySize)
		for _, p := range fam.plans {
			n := e.take(p.budget)
			if n == 0 {
				return
			}
			p.budget = n
			res := newRunner(p).run()
			e.finish(n, runOutcome{plan: p, res: res})
		}
	}
}

// replay runs one run alone, by its index.
func (e *explorer) replay(index int) {
	fam := planFamily(e.cfg, index/familySize, (index/familySize)*familySize)
	i := index % familySize
	if i >= len(fam.plans) {
		return
	}
	p := fam.plans[i]
	e.remaining = p.budget
	n := e.take(p.budget)
	e.finish(n, runOutcome{plan: p, res: newRunner(p).run()})
}

func (e *explorer) result() Result {
	res := Result{States: e.states, Violations: e.violations}
	idx := make([]int, 0, len(e.results))
	for i := range e.results {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		o := e.results[i]
		for _, v := range o.res.violations {
			if len(res.Examples) >= e.cfg.MaxExamples {
				return res
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s\n  replay: holdfast crashtest --seed %d --run %d (defects: %s)\n  %s\n  last operations:",
				v, e.cfg.Seed, i+1, e.cfg.Defects, o.plan)
			ops := o.res.ops
			for _, op := range ops[max(len(ops)-e.cfg.ExampleOps, 0):] {
				fmt.Fprintf(&b, "\n    %s", op)
			}
			res.Examples = append(res.Examples, b.String())
		}
	}
	return res
}
