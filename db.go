package holdfast

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

// On-disk layout of a data directory (docs/format.md, "Data directory"):
//
//	<dir>/LOCK                          flock held while open
//	<dir>/dataspaces/<name>/MANIFEST    checksummed metadata (vfs.WriteMetaFile)
//	<dir>/dataspaces/<name>/wal/        log segments
//
// A dataspace directory appears by a rename of a fully written and synced
// temporary directory (.tmp-<name>-<rand>), and disappears by a rename to
// .drop-<name>-<rand> before its files are removed, each rename followed by
// a sync of dataspaces/, so create and drop are atomic across crashes.
const (
	lockFileName     = "LOCK"
	spacesDirName    = "dataspaces"
	manifestFileName = "MANIFEST"
	walDirName       = "wal"
	tmpDirPrefix     = ".tmp-"
	dropDirPrefix    = ".drop-"
)

// DB is an open data directory holding named dataspaces.
type DB struct {
	fsys   vfs.FS
	dir    string
	opts   Options
	log    *slog.Logger
	lock   io.Closer
	mu     sync.Mutex
	spaces map[string]*Dataspace
	closed bool
	cache  *valueCache
	// spaceIDs numbers dataspace instances for the value cache.
	spaceIDs atomic.Uint64
	// quiesce: the write gate, quiesce/resume, restore verification (quiesce.go)
	quiesce quiesceState
}

// Open opens (creating if needed) the data directory dir. It takes the
// directory's lock, so two processes never open one directory, removes
// what interrupted creates and drops left behind, and recovers every
// dataspace from what the device holds. A dataspace whose files are
// damaged is opened in a stopped state that reports ErrCorrupt with the
// file and offset; the others serve.
func Open(dir string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if err := opts.Limits.validate(); err != nil {
		return nil, err
	}
	if opts.exit == nil {
		opts.exit = os.Exit
	}
	if !opts.ConfirmSyncs && vfs.LateSyncErrors(dir) {
		opts.ConfirmSyncs = true
		opts.Logger.Info("the data directory is on a file system that reports a failed sync on the next one (ext4 data=journal): every log sync is confirmed by a second fdatasync", "dir", dir)
	}
	db := &DB{fsys: opts.FS, dir: dir, opts: opts, log: opts.Logger, spaces: make(map[string]*Dataspace),
		cache: newValueCache(opts.ValueCacheBytes)}
	if err := db.prepareDir(); err != nil {
		return nil, err
	}
	lock, err := db.fsys.Lock(path.Join(dir, lockFileName))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("holdfast: lock %s: %w", dir, err)
	}
	db.lock = lock
	if err := db.openSpaces(); err != nil {
		db.closeSpaces()
		lock.Close()
		return nil, err
	}
	db.verifyRestore()
	return db, nil
}

// prepareDir creates the data directory and dataspaces/ durably.
func (db *DB) prepareDir() error {
	for _, d := range []string{db.dir, path.Join(db.dir, spacesDirName)} {
		existed, err := vfs.Exists(db.fsys, d)
		if err != nil {
			return fmt.Errorf("holdfast: %w", err)
		}
		if existed {
			continue
		}
		if err := db.fsys.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("holdfast: create %s: %w", d, err)
		}
		if err := vfs.SyncDir(db.fsys, path.Dir(d)); err != nil {
			return fmt.Errorf("holdfast: sync parent of %s: %w", d, err)
		}
	}
	return nil
}

func (db *DB) spacesDir() string { return path.Join(db.dir, spacesDirName) }

func (db *DB) openSpaces() error {
	names, err := db.fsys.List(db.spacesDir())
	if err != nil {
		return fmt.Errorf("holdfast: list dataspaces: %w", err)
	}
	cleaned := false
	for _, name := range names {
		if strings.HasPrefix(name, tmpDirPrefix) || strings.HasPrefix(name, dropDirPrefix) {
			// An interrupted create or drop: the rename that would have
			// made it count never became durable, or it was a drop.
			db.log.Info("removing leftover of an interrupted dataspace create or drop", "dir", name)
			if err := db.fsys.RemoveAll(path.Join(db.spacesDir(), name)); err != nil {
				return fmt.Errorf("holdfast: remove %s: %w", name, err)
			}
			cleaned = true
			continue
		}
		if ValidName(name) != nil {
			db.log.Warn("ignoring a directory that is not a dataspace", "dir", path.Join(db.spacesDir(), name))
			continue
		}
		db.spaces[name] = openDataspace(db, name)
	}
	if cleaned {
		if err := vfs.SyncDir(db.fsys, db.spacesDir()); err != nil {
			return fmt.Errorf("holdfast: sync %s: %w", db.spacesDir(), err)
		}
	}
	return nil
}

// CreateDataspace creates a dataspace, durably, before returning it.
func (db *DB) CreateDataspace(name string, opts DataspaceOptions) (*Dataspace, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := opts.Sync.validate(); err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	if db.quiesce.isHeld() {
		return nil, ErrQuiesced
	}
	if _, ok := db.spaces[name]; ok {
		return nil, fmt.Errorf("%w: dataspace %q", ErrExists, name)
	}
	tmp := path.Join(db.spacesDir(), tmpDirPrefix+name+"-"+randomHex(8))
	if err := db.buildDataspace(tmp, name, opts); err != nil {
		db.fsys.RemoveAll(tmp)
		return nil, dsError(name, fmt.Errorf("create: %w", err))
	}
	final := path.Join(db.spacesDir(), name)
	if err := db.fsys.Rename(tmp, final); err != nil {
		db.fsys.RemoveAll(tmp)
		return nil, dsError(name, fmt.Errorf("create: %w", err))
	}
	if err := vfs.SyncDir(db.fsys, db.spacesDir()); err != nil {
		// The rename happened but may not be durable: the outcome is
		// unknown, and the directory is suspect.
		return nil, dsError(name, fmt.Errorf("%w: create: sync %s: %v", ErrOutcomeUnknown, db.spacesDir(), err))
	}
	ds := openDataspace(db, name)
	db.spaces[name] = ds
	if err := ds.err(); err != nil {
		// The create is durable; only opening failed. The dataspace
		// exists, stopped: say so, and return it.
		return ds, fmt.Errorf("created, but stopped while opening: %w", err)
	}
	return ds, nil
}

// buildDataspace writes a complete, synced dataspace directory at dir.
func (db *DB) buildDataspace(dir, name string, opts DataspaceOptions) error {
	if err := db.fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := manifest{FormatVersion: formatVersion, Name: name, ID: randomHex(16), Sync: opts.Sync.String()}
	if err := vfs.WriteMetaFile(db.fsys, path.Join(dir, manifestFileName), manifestKind, m); err != nil {
		return err
	}
	w, _, err := recoverLog(db, path.Join(dir, walDirName), wal.Position{}, nil)
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return vfs.SyncDir(db.fsys, dir)
}

// Dataspace returns the dataspace called name. A stopped dataspace is
// returned too: its operations report why it stopped.
func (db *DB) Dataspace(name string) (*Dataspace, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	ds, ok := db.spaces[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoDataspace, name)
	}
	return ds, nil
}

// Dataspaces returns the names of all dataspaces, sorted.
func (db *DB) Dataspaces() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	names := make([]string, 0, len(db.spaces))
	for n := range db.spaces {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// DropDataspace stops a dataspace and removes it, durably: after it
// returns, a crash cannot bring it back.
func (db *DB) DropDataspace(name string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	if db.quiesce.isHeld() {
		return ErrQuiesced
	}
	ds, ok := db.spaces[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoDataspace, name)
	}
	ds.shutdown(ErrNoDataspace)
	delete(db.spaces, name)
	doomed := path.Join(db.spacesDir(), dropDirPrefix+name+"-"+randomHex(8))
	if err := db.fsys.Rename(path.Join(db.spacesDir(), name), doomed); err != nil {
		return dsError(name, fmt.Errorf("drop: %w", err))
	}
	if err := vfs.SyncDir(db.fsys, db.spacesDir()); err != nil {
		return dsError(name, fmt.Errorf("%w: drop: sync %s: %v", ErrOutcomeUnknown, db.spacesDir(), err))
	}
	if err := db.fsys.RemoveAll(doomed); err != nil {
		// Harmless: the next Open removes it.
		db.log.Warn("could not remove a dropped dataspace's files; the next open will", "dir", doomed, "err", err)
	}
	return nil
}

// Reopen stops a dataspace (if it is running) and opens it again from
// what the device holds: the way out of a fail-stop.
func (db *DB) Reopen(name string) (*Dataspace, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, ErrClosed
	}
	if db.quiesce.isHeld() {
		return nil, ErrQuiesced
	}
	old, ok := db.spaces[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoDataspace, name)
	}
	if err := old.shutdown(ErrClosed); err != nil {
		// The final sync of an interval-policy log failed: writes
		// acknowledged since the last sync may be gone. Stop here, as on
		// any I/O error; the next Reopen recovers from the device.
		return old, old.failStop(fmt.Errorf("reopen: %w", err))
	}
	ds := openDataspace(db, name)
	db.spaces[name] = ds
	return ds, ds.err()
}

// Close stops every dataspace (finishing writes already in the log and
// syncing interval-policy logs) and releases the lock.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	db.closed = true
	db.mu.Unlock()
	db.quiesceClose()
	err := db.closeSpaces()
	if db.lock != nil {
		err = errors.Join(err, db.lock.Close())
	}
	return err
}

func (db *DB) closeSpaces() error {
	var errs []error
	for _, ds := range db.spaces {
		if err := ds.shutdown(ErrClosed); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
