package faultfs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// A Store keeps the model's device somewhere real. The FS stays the one
// model of page cache, device and failures; a Store only receives the
// durable state, so that a program built on the model (the FUSE mount in
// cmd/faultfs) leaves behind, in a real directory, exactly what a crash of
// the model would leave: durable names holding durable bytes.
//
// Apply is called under the FS lock, at the end of every operation that
// changed durable state (a sync that wrote the medium, a directory sync, a
// namespace change under DirLazy, a crash), with the whole durable tree in
// path order, parents first. An error from Apply is returned to the
// operation (wrapped, matching ErrStore): the model's durable state and the
// store may then differ, so the caller must treat the operation's outcome as
// unknown, as after any failed sync.
type Store interface {
	Apply(entries []StoreEntry) error
}

// ErrStore wraps an error from a Store.
var ErrStore = errors.New("faultfs: backing store")

// StoreEntry is one durable file or directory.
type StoreEntry struct {
	// Path is absolute and clean ("/" is the root, always first).
	Path string
	Dir  bool
	// ID names the inode: the same ID at the same Path as in the last
	// Apply is the same file, and only its changes need writing.
	ID uint64
	// Size is the durable size. Medium holds the durable bytes; bytes
	// past len(Medium) up to Size are zero. Medium is valid only during
	// Apply and must not be changed.
	Size   int64
	Medium []byte
	// CutAt is -1, or the length the medium was cut to since the last
	// Apply: bytes at or past it that are not in the changed range are
	// zero now.
	CutAt int64
	// ChangedFrom and ChangedTo bound the medium bytes written since the
	// last Apply (ChangedFrom >= ChangedTo: none).
	ChangedFrom, ChangedTo int64
}

// storeTrack is what an inode remembers for the Store between Applies.
type storeTrack struct {
	lo, hi int64 // changed medium bytes; lo >= hi means none
	cut    int64 // -1, or the shortest length the medium was cut to
}

func (t *storeTrack) reset() { *t = storeTrack{lo: math.MaxInt64, hi: 0, cut: -1} }

// markWrite notes that medium bytes [off, off+n) changed.
func (fsys *FS) markWrite(ino *inode, off, n int64) {
	if fsys.opts.Store == nil {
		return
	}
	ino.store.lo = min(ino.store.lo, off)
	ino.store.hi = max(ino.store.hi, off+n)
	fsys.storeDirty = true
}

// markCut notes that the medium was cut to n bytes.
func (fsys *FS) markCut(ino *inode, n int64) {
	if fsys.opts.Store == nil {
		return
	}
	if ino.store.cut < 0 || n < ino.store.cut {
		ino.store.cut = n
	}
	fsys.storeDirty = true
}

// markNamespace notes that a directory's durable entries changed.
func (fsys *FS) markNamespace() {
	if fsys.opts.Store != nil {
		fsys.storeDirty = true
	}
}

// applyStore hands the durable tree to the Store if it changed; fsys.mu
// is held.
func (fsys *FS) applyStore() error {
	if fsys.opts.Store == nil || !fsys.storeDirty {
		return nil
	}
	var entries []StoreEntry
	var reached []*inode
	var walk func(dir *inode, p string)
	walk = func(dir *inode, p string) {
		entries = append(entries, StoreEntry{Path: p, Dir: true, ID: dir.id, CutAt: -1})
		names := make([]string, 0, len(dir.durable))
		for n := range dir.durable {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			c := dir.durable[n]
			cp := path.Join(p, n)
			if c.isDir {
				walk(c, cp)
				continue
			}
			t := c.store
			entries = append(entries, StoreEntry{
				Path: cp, ID: c.id, Size: c.diskSize, Medium: c.disk,
				CutAt: t.cut, ChangedFrom: t.lo, ChangedTo: t.hi,
			})
			reached = append(reached, c)
		}
	}
	walk(fsys.root, "/")
	if err := fsys.opts.Store.Apply(entries); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	for _, ino := range reached {
		ino.store.reset()
	}
	fsys.storeDirty = false
	return nil
}

// DirStore is a Store in a directory of the real file system: each durable
// file is a file there with its durable bytes, each durable directory a
// directory, and every change is fsynced (files, then their directories)
// before Apply returns.
type DirStore struct {
	root  string
	known map[string]knownEntry
}

type knownEntry struct {
	id   uint64
	dir  bool
	size int64
}

// NewDirStore returns a store kept in dir, which must exist. It assumes dir
// is empty; LoadDir builds a model from a directory that is not.
func NewDirStore(dir string) (*DirStore, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "store", Path: dir, Err: syscall.ENOTDIR}
	}
	return &DirStore{root: dir, known: map[string]knownEntry{"/": {dir: true}}}, nil
}

func (s *DirStore) real(p string) string { return filepath.Join(s.root, filepath.FromSlash(p)) }

// Apply brings the directory to the durable state in entries.
func (s *DirStore) Apply(entries []StoreEntry) error {
	present := make(map[string]bool, len(entries))
	syncDirs := make(map[string]bool)
	for _, e := range entries {
		present[e.Path] = true
		k, ok := s.known[e.Path]
		real := s.real(e.Path)
		if e.Dir {
			if e.Path == "/" {
				s.known["/"] = knownEntry{id: e.ID, dir: true}
				continue
			}
			if ok && k.dir {
				s.known[e.Path] = knownEntry{id: e.ID, dir: true}
				continue
			}
			if ok {
				if err := os.Remove(real); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
			if err := os.Mkdir(real, 0o755); err != nil && !os.IsExist(err) {
				return err
			}
			s.known[e.Path] = knownEntry{id: e.ID, dir: true}
			syncDirs[path.Dir(e.Path)] = true
			continue
		}
		whole := !ok || k.dir || k.id != e.ID
		if !whole && e.CutAt < 0 && e.ChangedFrom >= e.ChangedTo && k.size == e.Size {
			continue
		}
		if ok && k.dir {
			if err := os.RemoveAll(real); err != nil {
				return err
			}
		}
		if err := s.writeFile(real, e, whole); err != nil {
			return err
		}
		if !ok || k.dir {
			syncDirs[path.Dir(e.Path)] = true
		}
		s.known[e.Path] = knownEntry{id: e.ID, size: e.Size}
	}
	// Remove what is no longer durable, deepest first.
	var gone []string
	for p := range s.known {
		if !present[p] {
			gone = append(gone, p)
		}
	}
	slices.SortFunc(gone, func(a, b string) int {
		return cmp.Or(-cmp.Compare(strings.Count(a, "/"), strings.Count(b, "/")), cmp.Compare(a, b))
	})
	for _, p := range gone {
		if err := os.RemoveAll(s.real(p)); err != nil {
			return err
		}
		delete(s.known, p)
		syncDirs[path.Dir(p)] = true
	}
	dirs := make([]string, 0, len(syncDirs))
	for d := range syncDirs {
		if present[d] {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		if err := syncPath(s.real(d)); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes one durable file: whole, or only its changes.
func (s *DirStore) writeFile(real string, e StoreEntry, whole bool) error {
	flag := os.O_RDWR | os.O_CREATE
	if whole {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(real, flag, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	medium := e.Medium[:min(int64(len(e.Medium)), e.Size)]
	if whole {
		if _, err := f.WriteAt(medium, 0); err != nil {
			return err
		}
	} else {
		if e.CutAt >= 0 {
			if err := f.Truncate(e.CutAt); err != nil {
				return err
			}
		}
		lo, hi := max(e.ChangedFrom, 0), min(e.ChangedTo, int64(len(medium)))
		if lo < hi {
			if _, err := f.WriteAt(medium[lo:hi], lo); err != nil {
				return err
			}
		}
	}
	if err := f.Truncate(e.Size); err != nil {
		return err
	}
	return f.Sync()
}

func syncPath(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadDir returns an FS whose durable state is the content of dir (every
// regular file and directory below it, all durable), with a DirStore in dir
// attached, so that from now on dir holds what the model holds durably.
// Anything in dir that is neither a regular file nor a directory is an
// error naming it. opts.Store is replaced.
func LoadDir(opts Options, dir string) (*FS, error) {
	store, err := NewDirStore(dir)
	if err != nil {
		return nil, err
	}
	opts.Store = nil
	fsys := New(opts)
	var load func(node *inode, realDir, p string) error
	load = func(node *inode, realDir, p string) error {
		des, err := os.ReadDir(realDir)
		if err != nil {
			return err
		}
		for _, de := range des {
			rp := filepath.Join(realDir, de.Name())
			cp := path.Join(p, de.Name())
			switch {
			case de.IsDir():
				c := fsys.newDir()
				node.children[de.Name()] = c
				node.durable[de.Name()] = c
				store.known[cp] = knownEntry{id: c.id, dir: true}
				if err := load(c, rp, cp); err != nil {
					return err
				}
			case de.Type().IsRegular():
				data, err := os.ReadFile(rp)
				if err != nil {
					return err
				}
				c := fsys.newFile()
				c.disk = data
				c.diskSize = int64(len(data))
				c.size = c.diskSize
				c.lowSize = c.diskSize
				node.children[de.Name()] = c
				node.durable[de.Name()] = c
				store.known[cp] = knownEntry{id: c.id, size: c.diskSize}
			default:
				return fmt.Errorf("faultfs: %s is neither a regular file nor a directory (%v); the model holds only those", rp, de.Type())
			}
		}
		return nil
	}
	if err := load(fsys.root, dir, "/"); err != nil {
		return nil, err
	}
	store.known["/"] = knownEntry{id: fsys.root.id, dir: true}
	fsys.opts.Store = store
	return fsys, nil
}

// WriteDurable writes p at off straight to the medium of the file at path,
// past the page cache and the device's volatile cache, extending the
// durable size if needed. It is how a torn write is made: some parts of a
// write reach the medium, then the file system crashes (LazyFS torn-op and
// torn-seq). Cached pages are not changed.
func (fsys *FS) WriteDurable(path string, off int64, p []byte) error {
	if off < 0 {
		return &fs.PathError{Op: "writedurable", Path: path, Err: syscall.EINVAL}
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	ino, err := fsys.lookup(clean(path))
	if err != nil {
		return &fs.PathError{Op: "writedurable", Path: path, Err: err}
	}
	if ino.isDir {
		return &fs.PathError{Op: "writedurable", Path: path, Err: syscall.EISDIR}
	}
	writeBytes(&ino.disk, off, p)
	fsys.markWrite(ino, off, int64(len(p)))
	if end := off + int64(len(p)); end > ino.diskSize {
		ino.diskSize = end
	}
	return fsys.applyStore()
}

// CacheUsage reports the page cache: bytes of cached pages, and bytes of
// dirty sectors in them.
func (fsys *FS) CacheUsage() (cachedBytes, dirtyBytes int64) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.walk(fsys.root, "/", make(map[*inode]bool), func(_ string, ino *inode) {
		for _, pg := range ino.pages {
			cachedBytes += PageSizeBytes
			for s := 0; s < sectorsPerPage; s++ {
				if pg.dirty&(1<<s) != 0 {
					dirtyBytes += SectorSizeBytes
				}
			}
		}
	})
	return cachedBytes, dirtyBytes
}

// UnsyncedFile is one line of UnsyncedReport.
type UnsyncedFile struct {
	Path  string
	Bytes int64
}

// UnsyncedReport lists, in path order, the files that hold data a crash
// would lose now (LazyFS's unsynced-data report).
func (fsys *FS) UnsyncedReport() []UnsyncedFile {
	var paths []string
	fsys.mu.Lock()
	fsys.walk(fsys.root, "/", make(map[*inode]bool), func(p string, ino *inode) {
		if !ino.isDir {
			paths = append(paths, p)
		}
	})
	fsys.mu.Unlock()
	var out []UnsyncedFile
	for _, p := range paths {
		if n, err := fsys.UnsyncedBytes(p); err == nil && n > 0 {
			out = append(out, UnsyncedFile{Path: p, Bytes: n})
		}
	}
	return out
}
