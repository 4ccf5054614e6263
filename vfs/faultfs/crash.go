package faultfs

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// DirOps says what a crash does with directory operations that were not
// yet durable.
type DirOps uint8

const (
	// DropDirOps loses every unsynced create, rename and remove.
	DropDirOps DirOps = iota
	// KeepDirOps keeps them all (the namespace survives as it was seen).
	KeepDirOps
	// RandomDirOps keeps each differing entry with probability 1/2,
	// drawn from the FS seed: a rename may survive in one directory and
	// not the other, as the strict model allows.
	RandomDirOps
)

// CrashOptions shape a crash. The zero value loses everything that was not
// synced, which is what a power cut is allowed to do.
type CrashOptions struct {
	// KeepUnsyncedPercent (0–100) is the chance that each unit of
	// unsynced data (and each unsynced size change) reached the medium
	// anyway, as the kernel's write-back might have written it.
	KeepUnsyncedPercent int
	// UnitBytes is the unit of that choice: SectorSizeBytes (512; tears
	// pages) or PageSizeBytes (4096, the default).
	UnitBytes int
	// TearOne picks one pending write (a dirty page or an O_DIRECT write)
	// and persists a random part of its sectors: some new, some old.
	TearOne bool
	// DirOps decides the fate of unsynced directory operations.
	DirOps DirOps
}

func (o CrashOptions) validate() error {
	if o.KeepUnsyncedPercent < 0 || o.KeepUnsyncedPercent > 100 {
		return fmt.Errorf("faultfs: KeepUnsyncedPercent %d outside 0..100", o.KeepUnsyncedPercent)
	}
	switch o.UnitBytes {
	case 0, SectorSizeBytes, PageSizeBytes:
	default:
		return fmt.Errorf("faultfs: UnitBytes %d is neither %d nor %d", o.UnitBytes, SectorSizeBytes, PageSizeBytes)
	}
	return nil
}

// Crash simulates a power cut and a reboot: the visible state becomes the
// durable state (plus whatever opts let survive). Every descriptor, open
// directory and lock from before the crash is dead: their operations fail
// with ErrCrashed. The file system is usable at once — also by whatever
// still runs from before the crash: operations by name (create, rename,
// remove) from its goroutines succeed on the new state. A test whose user
// of the file system is still open wants PowerCut.
func (fsys *FS) Crash(opts CrashOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.crashLocked(opts)
	fsys.down = false
	return fsys.applyStore()
}

// PowerCut is Crash for a test that still holds the file system's user
// open (a database, say): the file system crashes and stays down while
// stop runs, so every operation of the old user fails as a dead process's
// would (stop closes it and waits for its goroutines), then it comes back
// holding the crash state.
func (fsys *FS) PowerCut(opts CrashOptions, stop func()) error {
	if err := fsys.CrashStop(opts); err != nil {
		return err
	}
	stop()
	fsys.Restart()
	return nil
}

// CrashStop is Crash that leaves the file system stopped, as an injected
// crash does: every operation fails with ErrCrashed until Restart. A FUSE
// mount uses it when a LazyFS-style fault "kills" the file system.
func (fsys *FS) CrashStop(opts CrashOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.crashLocked(opts)
	fsys.down = true
	return fsys.applyStore()
}

// CrashClone returns a new FS holding the state a crash with opts would
// leave, and leaves fsys as it is: a crash explorer can take a crash state
// at every point of one run. The clone has fsys's options with no injector
// and a seed drawn from fsys's generator.
func (fsys *FS) CrashClone(opts CrashOptions) (*FS, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	cloneOpts := fsys.opts
	cloneOpts.Injector = nil
	cloneOpts.Store = nil
	cloneOpts.Seed = fsys.rng.Uint64()
	clone := New(cloneOpts)
	clone.root = fsys.crashTree(opts, clone)
	return clone, nil
}

// crashLocked replaces the state in place; fsys.mu is held.
func (fsys *FS) crashLocked(opts CrashOptions) {
	fsys.root = fsys.crashTree(opts, fsys)
	fsys.gen++
	fsys.locks = make(map[*inode]bool)
	fsys.stats.Crashes++
	fsys.markNamespace()
}

// crashTree builds the post-crash namespace and files from the durable
// state, drawing every random choice from fsys.rng in path order. New
// inodes are allocated from into (fsys itself, or a clone).
func (fsys *FS) crashTree(opts CrashOptions, into *FS) *inode {
	if opts.UnitBytes == 0 {
		opts.UnitBytes = PageSizeBytes
	}
	made := make(map[*inode]*inode)
	var build func(*inode) *inode
	build = func(old *inode) *inode {
		if n, ok := made[old]; ok {
			return n
		}
		if !old.isDir {
			n := fsys.crashFile(old, opts)
			into.nextID++
			n.id = into.nextID
			made[old] = n
			return n
		}
		n := into.newDir()
		made[old] = n
		for _, name := range fsys.survivingNames(old, opts.DirOps) {
			child := old.durable[name]
			if opts.DirOps != DropDirOps {
				child = fsys.chooseEntry(old, name, opts.DirOps)
			}
			if child == nil {
				continue
			}
			c := build(child)
			n.children[name] = c
			n.durable[name] = c
		}
		return n
	}
	return build(fsys.root)
}

// survivingNames lists, sorted, the names that may exist after the crash.
func (fsys *FS) survivingNames(dir *inode, mode DirOps) []string {
	set := make(map[string]bool)
	for n := range dir.durable {
		set[n] = true
	}
	if mode != DropDirOps {
		for n := range dir.children {
			set[n] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// chooseEntry decides which version of one directory entry survives.
func (fsys *FS) chooseEntry(dir *inode, name string, mode DirOps) *inode {
	visible, durable := dir.children[name], dir.durable[name]
	if visible == durable || mode == KeepDirOps {
		return visible
	}
	if fsys.rng.IntN(2) == 0 {
		return visible
	}
	return durable
}

// crashFile returns the file as the medium holds it after the crash.
func (fsys *FS) crashFile(old *inode, opts CrashOptions) *inode {
	n := &inode{pages: make(map[int64]*page)}
	n.store.reset()
	disk := slices.Clone(old.disk)
	diskSize := old.diskSize

	keep := func() bool {
		return opts.KeepUnsyncedPercent > 0 && fsys.rng.IntN(100) < opts.KeepUnsyncedPercent
	}
	// The size change first: if it survives, freed blocks are cut before
	// any surviving data lands.
	if old.metaDirty && keep() {
		disk = disk[:min(int64(len(disk)), old.lowSize)]
		diskSize = old.size
	}

	// Unsynced data, oldest first: device-cache writes, then dirty pages
	// (a dirty page is always newer than the device writes it overlaps).
	type pending struct {
		off  int64
		data []byte
		mask uint64 // sectors of data that are unsynced, one bit each
	}
	var writes []pending
	for _, w := range old.volatile {
		writes = append(writes, pending{off: w.off, data: w.data, mask: ^uint64(0)})
	}
	for _, i := range old.dirtyPages() {
		pg := old.pages[i]
		writes = append(writes, pending{off: i * PageSizeBytes, data: pg.data[:], mask: uint64(pg.dirty)})
	}
	sectorsPerUnit := opts.UnitBytes / SectorSizeBytes
	if opts.KeepUnsyncedPercent > 0 {
		for _, w := range writes {
			sectors := (len(w.data) + SectorSizeBytes - 1) / SectorSizeBytes
			for u := 0; u < sectors; u += sectorsPerUnit {
				if !keep() {
					continue
				}
				for s := u; s < min(u+sectorsPerUnit, sectors); s++ {
					if s >= 64 || w.mask&(1<<s) != 0 {
						writeBytes(&disk, w.off+int64(s*SectorSizeBytes), sectorOf(w.data, s))
					}
				}
			}
		}
	}
	if opts.TearOne && len(writes) > 0 {
		w := writes[fsys.rng.IntN(len(writes))]
		sectors := (len(w.data) + SectorSizeBytes - 1) / SectorSizeBytes
		for s := 0; s < sectors; s++ {
			if (s >= 64 || w.mask&(1<<s) != 0) && fsys.rng.IntN(2) == 0 {
				writeBytes(&disk, w.off+int64(s*SectorSizeBytes), sectorOf(w.data, s))
			}
		}
	}

	if int64(len(disk)) > diskSize {
		disk = disk[:diskSize]
	}
	n.disk = disk
	n.diskSize = diskSize
	n.size = diskSize
	n.lowSize = diskSize
	return n
}

func sectorOf(data []byte, s int) []byte {
	return data[s*SectorSizeBytes : min((s+1)*SectorSizeBytes, len(data))]
}

// newRand is the generator type the FS uses, for helpers that need one.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
