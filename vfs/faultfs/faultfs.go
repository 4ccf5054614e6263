// Package faultfs is an in-memory file system that keeps what a program has
// written apart from what a crash would leave behind, and fails syncs the way
// real Linux file systems do. It implements vfs.FS, so any code written
// against that interface can be tested on it; it is public so Go programmers
// can test their own storage code with it.
//
// # The model
//
// Each file has two states:
//
//   - the page cache: 4 KiB pages, each with its content and a dirty bit per
//     512-byte sector, plus the file's in-memory size. Reads and buffered
//     writes see only this state (pages missing from the cache are read from
//     the device).
//   - the device: the durable medium (bytes and a durable size), plus the
//     device's volatile write cache, which holds O_DIRECT writes and pages
//     written back in the background until the next flush.
//
// Sync and SyncData write the file's dirty pages to the medium, flush its
// volatile device writes and persist its size. Directory entries have the
// same split: a create, rename or remove changes the visible namespace at
// once, but becomes durable only when its directory is synced (DirStrict,
// the default, as Pebble's strict MemFS) or at once (DirLazy, as LazyFS).
//
// Crash (or CrashClone) turns the durable state into the visible state: all
// unsynced data and directory operations are lost, or a seeded random
// subset of them survives, in 512-byte or 4 KiB units, with torn writes.
//
// # fsync failures
//
// When a sync fails (an Injector fails OpSync/OpSyncData for the whole
// file, or OpDeviceWrite for single pages), the file reacts as the chosen
// Profile says, following Rebello et al., "Can Applications Recover from
// fsync Failures?" (USENIX ATC 2020) and the authors' CuttleFS:
//
//   - ProfileExt4Ordered, ProfileXFS: failed pages are marked clean but keep
//     the new content, so reads return data that is not on the device; size
//     and block map are persisted anyway. After eviction or a crash an
//     overwritten block shows the old data, and a failed append leaves the
//     new size with zeros instead of the data.
//   - ProfileExt4Journal (data=journal): the failing sync reports success;
//     the data is not durable; the next sync fails and writes nothing.
//   - ProfileBtrfs: failed pages are dropped and the size reverts to the
//     durable one, but descriptor offsets do not, so the next write at a
//     descriptor's offset leaves a zero-filled hole.
//   - ProfileStrict: dirty data is never lost; failed pages stay dirty and
//     a later successful sync writes them (FreeBSD-like).
//
// Errors are delivered per descriptor like Linux's errseq_t: the failing
// sync reports EIO; every other descriptor open at the failure reports EIO
// once on its next sync; if no descriptor saw the error, the next
// descriptor opened sees it once. Closing a descriptor drops its error.
//
// # Other faults
//
// Clean-page eviction, latent read errors on a range, bit flips on the
// medium, misdirected writes, ENOSPC after a byte budget and per-operation
// latency. Everything random is drawn from one seeded generator, in a fixed
// order, so a run is reproducible from its seed; the operation log shows
// what happened.
package faultfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// Profile selects how a file reacts to a failed sync.
type Profile string

// The profiles. See the package documentation and docs/faultfs.md.
const (
	ProfileExt4Ordered Profile = "ext4-ordered"
	ProfileExt4Journal Profile = "ext4-journal"
	ProfileXFS         Profile = "xfs"
	ProfileBtrfs       Profile = "btrfs"
	ProfileStrict      Profile = "strict"
)

// Profiles lists every profile, for tests that run under each.
var Profiles = []Profile{ProfileExt4Ordered, ProfileExt4Journal, ProfileXFS, ProfileBtrfs, ProfileStrict}

// ParseProfile checks a profile name.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("faultfs: unknown profile %q (want one of ext4-ordered, ext4-journal, xfs, btrfs, strict)", s)
}

// DirMode says when directory operations become durable.
type DirMode uint8

const (
	// DirStrict: a created, renamed or removed entry is durable only once
	// its directory is synced (or SyncFS runs).
	DirStrict DirMode = iota
	// DirLazy: directory operations are durable at once (LazyFS applies
	// namespace operations to the backing file system immediately).
	DirLazy
)

// Sizes of the units the model works in.
const (
	PageSizeBytes   = vfs.PageSizeBytes
	SectorSizeBytes = vfs.SectorSizeBytes
	sectorsPerPage  = PageSizeBytes / SectorSizeBytes
)

var (
	// ErrCrashed is returned by every operation after an injected crash
	// until Restart, and by handles opened before any crash.
	ErrCrashed = errors.New("faultfs: file system crashed")
	// ErrCrashBefore, returned by an Injector, crashes the file system
	// before the operation runs (LazyFS crash timing=before).
	ErrCrashBefore = errors.New("faultfs: injected crash before operation")
	// ErrCrashAfter, returned by an Injector, runs the operation, then
	// crashes the file system before the caller sees the result.
	ErrCrashAfter = errors.New("faultfs: injected crash after operation")
)

// Options configure an FS. The zero value is a strict-directory ext4-ordered
// file system with seed 0 and no faults.
type Options struct {
	// Profile is the reaction to failed syncs; empty means ext4-ordered.
	Profile Profile
	// Dirs says when directory operations become durable.
	Dirs DirMode
	// Seed drives every random choice the FS makes (crash subsets, torn
	// writes). Injectors carry their own seeds.
	Seed uint64
	// Injector, if set, is consulted before every operation.
	Injector Injector
	// CrashOptions are used for crashes that an Injector triggers.
	CrashOptions CrashOptions
	// SpaceBudgetBytes, if positive, is the total file size the FS holds
	// before writes that grow a file fail with ENOSPC.
	SpaceBudgetBytes int64
	// Latency, if set, is slept before each operation of the given kind.
	Latency map[OpKind]time.Duration
	// OpLogLimit, if positive, keeps the last OpLogLimit operations for
	// OpLog; zero keeps none.
	OpLogLimit int
	// Store, if set, receives the durable state whenever it changes
	// (see Store and LoadDir).
	Store Store
}

// FS is the in-memory fault-injecting file system. All methods are safe for
// concurrent use; operations are serialised, which keeps runs deterministic.
type FS struct {
	mu   sync.Mutex
	opts Options
	rng  *rand.Rand
	root *inode
	// gen counts crashes; handles from an older generation are stale.
	gen uint64
	// down is set by an injected crash and cleared by Restart.
	down   bool
	nextID uint64
	locks  map[*inode]bool
	faults deviceFaults
	oplog  opLog
	stats  Stats
	// storeDirty: durable state changed since the Store last saw it.
	storeDirty bool
}

// Stats counts what the FS has done, for tests and reports.
type Stats struct {
	Syncs, FailedSyncs, Crashes, DeviceWrites, DeviceReads int64
}

// New returns an empty file system whose root directory "/" exists and is
// durable.
func New(opts Options) *FS {
	if opts.Profile == "" {
		opts.Profile = ProfileExt4Ordered
	}
	if _, err := ParseProfile(string(opts.Profile)); err != nil {
		panic(err) // a programming error in the test that built the options
	}
	fsys := &FS{
		opts:  opts,
		rng:   newRand(opts.Seed),
		locks: make(map[*inode]bool),
	}
	fsys.oplog.limit = opts.OpLogLimit
	fsys.root = fsys.newDir()
	return fsys
}

var _ vfs.FS = (*FS)(nil)

// Profile returns the profile in force.
func (fsys *FS) Profile() Profile {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.opts.Profile
}

// SetProfile changes the reaction to failed syncs from now on.
func (fsys *FS) SetProfile(p Profile) error {
	if _, err := ParseProfile(string(p)); err != nil {
		return err
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.opts.Profile = p
	return nil
}

// SetInjector replaces the injector (nil removes it).
func (fsys *FS) SetInjector(inj Injector) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.opts.Injector = inj
}

// SetSpaceBudget sets the ENOSPC budget in bytes (0 or less: unlimited).
func (fsys *FS) SetSpaceBudget(budgetBytes int64) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.opts.SpaceBudgetBytes = budgetBytes
}

// Stats returns a copy of the counters.
func (fsys *FS) Stats() Stats {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.stats
}

// Down reports whether an injected crash has stopped the file system.
func (fsys *FS) Down() bool {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.down
}

// Restart brings the file system back after an injected crash, as a reboot
// does: the crash state computed at the crash is what it now holds.
func (fsys *FS) Restart() {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.down = false
}

// opState carries what begin learned to the operation that called it.
type opState struct {
	// crashAfter: the injector asked for a crash once the operation ran.
	crashAfter bool
	// injected is an injected error that the operation itself must act
	// on (a failed sync runs the profile's reaction) rather than be
	// refused with.
	injected error
}

// begin starts an operation: it sleeps the configured latency, takes the
// lock, refuses work while down, runs check (for closed or stale handles),
// and consults the injector. When it returns a nil error the caller holds
// fsys.mu and must call end. Injected errors refuse the operation, except
// for syncs and write-back, which receive them in opState.injected.
func (fsys *FS) begin(op Op, check func() error) (opState, error) {
	return fsys.beginWith(op.Kind, &op, check)
}

// beginWith is begin for operations whose Op can only be built under the
// lock (it depends on a descriptor's offset or a file's size): check fills
// in *opp before the injector sees it.
func (fsys *FS) beginWith(kind OpKind, opp *Op, check func() error) (opState, error) {
	if d := fsys.latency(kind); d > 0 {
		time.Sleep(d)
	}
	fsys.mu.Lock()
	if fsys.down {
		fsys.mu.Unlock()
		return opState{}, ErrCrashed
	}
	if check != nil {
		if err := check(); err != nil {
			fsys.mu.Unlock()
			return opState{}, err
		}
	}
	op := *opp
	err := fsys.inject(op)
	switch {
	case err == nil:
		return opState{}, nil
	case errors.Is(err, ErrCrashAfter):
		return opState{crashAfter: true}, nil
	case errors.Is(err, ErrCrashBefore):
		fsys.crashLocked(fsys.opts.CrashOptions)
		fsys.down = true
		fsys.oplog.add(op, ErrCrashed)
		_ = fsys.applyStore() // the caller sees ErrCrashed either way
		fsys.mu.Unlock()
		return opState{}, ErrCrashed
	}
	switch op.Kind {
	case OpSync, OpSyncData, OpWriteback:
		return opState{injected: err}, nil
	}
	fsys.oplog.add(op, err)
	fsys.mu.Unlock()
	return opState{}, err
}

// end finishes an operation begun with begin: it logs the result, crashes
// if asked to, and releases the lock.
func (fsys *FS) end(op Op, st opState, err error) error {
	if st.crashAfter {
		fsys.crashLocked(fsys.opts.CrashOptions)
		fsys.down = true
		err = ErrCrashed
	}
	if serr := fsys.applyStore(); serr != nil && err == nil {
		err = serr
	}
	fsys.oplog.add(op, err)
	fsys.mu.Unlock()
	return err
}

func (fsys *FS) latency(k OpKind) time.Duration {
	if fsys.opts.Latency == nil {
		return 0
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.opts.Latency[k]
}

// inject consults the injector; fsys.mu is held.
func (fsys *FS) inject(op Op) error {
	if fsys.opts.Injector == nil || op.Kind == OpClose {
		return nil
	}
	return fsys.opts.Injector.Inject(op)
}
