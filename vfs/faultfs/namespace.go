package faultfs

import (
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/holdfast-db/holdfast/vfs"
)

// clean makes name absolute and clean; relative names are relative to "/".
func clean(name string) string {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return path.Clean(name)
}

// lookup walks to the node at p (a cleaned path). fsys.mu is held.
func (fsys *FS) lookup(p string) (*inode, error) {
	node := fsys.root
	if p == "/" {
		return node, nil
	}
	for _, part := range strings.Split(p[1:], "/") {
		if !node.isDir {
			return nil, syscall.ENOTDIR
		}
		child, ok := node.children[part]
		if !ok {
			return nil, syscall.ENOENT
		}
		node = child
	}
	return node, nil
}

// parent returns the directory holding p and p's base name.
func (fsys *FS) parent(p string) (*inode, string, error) {
	if p == "/" {
		return nil, "", syscall.EINVAL
	}
	dir, err := fsys.lookup(path.Dir(p))
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir {
		return nil, "", syscall.ENOTDIR
	}
	return dir, path.Base(p), nil
}

// link sets dir's entry name to node (nil removes it); in DirLazy mode the
// change is durable at once.
func (fsys *FS) link(dir *inode, name string, node *inode) {
	if node == nil {
		delete(dir.children, name)
	} else {
		dir.children[name] = node
	}
	if fsys.opts.Dirs == DirLazy {
		fsys.markNamespace()
		if node == nil {
			delete(dir.durable, name)
		} else {
			dir.durable[name] = node
		}
	}
}

// OpenFile opens or creates a file. O_DIRECT is accepted (the model has no
// alignment-hostile file systems); its alignment rules are enforced on
// each read and write.
func (fsys *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	p := clean(name)
	var f *file
	var op Op
	st, err := fsys.beginWith(OpOpen, &op, func() error {
		op = Op{Kind: OpOpen, Path: p}
		if flag&os.O_CREATE != 0 {
			if _, err := fsys.lookup(p); err != nil {
				op.Kind = OpCreate
			}
		}
		return nil
	})
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	err = func() error {
		dir, base, err := fsys.parent(p)
		if err != nil {
			return err
		}
		node, exists := dir.children[base]
		switch {
		case exists && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
			return syscall.EEXIST
		case !exists && flag&os.O_CREATE == 0:
			return syscall.ENOENT
		case exists && node.isDir && flag&(os.O_WRONLY|os.O_RDWR) != 0:
			return syscall.EISDIR
		case !exists:
			node = fsys.newFile()
			fsys.link(dir, base, node)
		}
		if flag&os.O_TRUNC != 0 && !node.isDir && flag&(os.O_WRONLY|os.O_RDWR) != 0 && node.size > 0 {
			fsys.setSize(node, 0)
		}
		f = &file{fsys: fsys, ino: node, name: name, path: p, flag: flag, gen: fsys.gen, errSampled: sampleError(node)}
		return nil
	}()
	if err := fsys.end(op, st, err); err != nil {
		return nil, pathErr("open", name, err)
	}
	return f, nil
}

// dirHandle is an open directory.
type dirHandle struct {
	fsys   *FS
	ino    *inode
	name   string
	path   string
	gen    uint64
	closed bool
}

func (d *dirHandle) check() error {
	if d.closed {
		return os.ErrClosed
	}
	if d.gen != d.fsys.gen {
		return ErrCrashed
	}
	return nil
}

// OpenDir opens a directory to sync it.
func (fsys *FS) OpenDir(name string) (vfs.Dir, error) {
	p := clean(name)
	op := Op{Kind: OpOpenDir, Path: p}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return nil, pathErr("opendir", name, err)
	}
	node, err := fsys.lookup(p)
	if err == nil && !node.isDir {
		err = syscall.ENOTDIR
	}
	gen := fsys.gen // under fsys.mu, which end releases
	if err := fsys.end(op, st, err); err != nil {
		return nil, pathErr("opendir", name, err)
	}
	return &dirHandle{fsys: fsys, ino: node, name: name, path: p, gen: gen}, nil
}

// Sync makes the directory's current entries durable.
func (d *dirHandle) Sync() error {
	op := Op{Kind: OpSyncDir, Path: d.path}
	st, err := d.fsys.begin(op, d.check)
	if err != nil {
		return pathErr("syncdir", d.name, err)
	}
	d.ino.durable = maps.Clone(d.ino.children)
	d.fsys.markNamespace()
	d.fsys.stats.Syncs++
	return pathErr("syncdir", d.name, d.fsys.end(op, st, nil))
}

func (d *dirHandle) Close() error {
	d.fsys.mu.Lock()
	defer d.fsys.mu.Unlock()
	if d.closed {
		return pathErr("close", d.name, os.ErrClosed)
	}
	d.closed = true
	return nil
}

// Rename replaces newname with oldname in the visible namespace.
func (fsys *FS) Rename(oldname, newname string) error {
	op := Op{Kind: OpRename, Path: clean(oldname), NewPath: clean(newname)}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	err = func() error {
		odir, obase, err := fsys.parent(op.Path)
		if err != nil {
			return err
		}
		node, ok := odir.children[obase]
		if !ok {
			return syscall.ENOENT
		}
		ndir, nbase, err := fsys.parent(op.NewPath)
		if err != nil {
			return err
		}
		if op.Path == op.NewPath {
			return nil
		}
		if node.isDir && strings.HasPrefix(op.NewPath, op.Path+"/") {
			return syscall.EINVAL
		}
		if target, ok := ndir.children[nbase]; ok {
			switch {
			case node.isDir && !target.isDir:
				return syscall.ENOTDIR
			case !node.isDir && target.isDir:
				return syscall.EISDIR
			case target.isDir && len(target.children) > 0:
				return syscall.ENOTEMPTY
			}
		}
		fsys.link(odir, obase, nil)
		fsys.link(ndir, nbase, node)
		return nil
	}()
	if err := fsys.end(op, st, err); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// Remove removes a file or an empty directory.
func (fsys *FS) Remove(name string) error {
	op := Op{Kind: OpRemove, Path: clean(name)}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return pathErr("remove", name, err)
	}
	err = func() error {
		dir, base, err := fsys.parent(op.Path)
		if err != nil {
			return err
		}
		node, ok := dir.children[base]
		if !ok {
			return syscall.ENOENT
		}
		if node.isDir && len(node.children) > 0 {
			return syscall.ENOTEMPTY
		}
		fsys.link(dir, base, nil)
		return nil
	}()
	return pathErr("remove", name, fsys.end(op, st, err))
}

// RemoveAll removes name and everything below it.
func (fsys *FS) RemoveAll(name string) error {
	op := Op{Kind: OpRemove, Path: clean(name)}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return pathErr("removeall", name, err)
	}
	err = func() error {
		dir, base, err := fsys.parent(op.Path)
		if err == syscall.ENOENT {
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := dir.children[base]; ok {
			// Entries inside a removed directory go with it: once the
			// parent's removal is durable, nothing below is reachable.
			fsys.link(dir, base, nil)
		}
		return nil
	}()
	return pathErr("removeall", name, fsys.end(op, st, err))
}

// MkdirAll creates a directory and its missing parents.
func (fsys *FS) MkdirAll(name string, perm fs.FileMode) error {
	p := clean(name)
	op := Op{Kind: OpMkdir, Path: p}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	err = func() error {
		node := fsys.root
		if p == "/" {
			return nil
		}
		for _, part := range strings.Split(p[1:], "/") {
			child, ok := node.children[part]
			if !ok {
				child = fsys.newDir()
				fsys.link(node, part, child)
			} else if !child.isDir {
				return syscall.ENOTDIR
			}
			node = child
		}
		return nil
	}()
	return pathErr("mkdir", name, fsys.end(op, st, err))
}

// List returns the sorted names in a directory.
func (fsys *FS) List(dir string) ([]string, error) {
	op := Op{Kind: OpList, Path: clean(dir)}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return nil, pathErr("list", dir, err)
	}
	var names []string
	err = func() error {
		node, err := fsys.lookup(op.Path)
		if err != nil {
			return err
		}
		if !node.isDir {
			return syscall.ENOTDIR
		}
		for n := range node.children {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil
	}()
	if err := fsys.end(op, st, err); err != nil {
		return nil, pathErr("list", dir, err)
	}
	return names, nil
}

// Stat describes a file or directory.
func (fsys *FS) Stat(name string) (fs.FileInfo, error) {
	op := Op{Kind: OpStat, Path: clean(name)}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	var fi fs.FileInfo
	node, err := fsys.lookup(op.Path)
	if err == nil {
		fi = newFileInfo(path.Base(op.Path), node)
	}
	if err := fsys.end(op, st, err); err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fi, nil
}

// lockHandle releases a lock taken with Lock.
type lockHandle struct {
	fsys *FS
	ino  *inode
	name string
	gen  uint64
	once bool
}

func (l *lockHandle) Close() error {
	l.fsys.mu.Lock()
	defer l.fsys.mu.Unlock()
	if l.once {
		return pathErr("unlock", l.name, os.ErrClosed)
	}
	l.once = true
	if l.gen == l.fsys.gen {
		delete(l.fsys.locks, l.ino)
	}
	return nil
}

// Lock takes an exclusive lock on name, creating the file if needed. Locks
// die with a crash, as a process's flock does.
func (fsys *FS) Lock(name string) (io.Closer, error) {
	p := clean(name)
	op := Op{Kind: OpLock, Path: p}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return nil, pathErr("lock", name, err)
	}
	var node *inode
	err = func() error {
		dir, base, err := fsys.parent(p)
		if err != nil {
			return err
		}
		var ok bool
		node, ok = dir.children[base]
		if !ok {
			node = fsys.newFile()
			fsys.link(dir, base, node)
		}
		if node.isDir {
			return syscall.EISDIR
		}
		if fsys.locks[node] {
			return vfs.ErrLocked
		}
		fsys.locks[node] = true
		return nil
	}()
	gen := fsys.gen // under fsys.mu, which end releases
	if err := fsys.end(op, st, err); err != nil {
		return nil, pathErr("lock", name, err)
	}
	return &lockHandle{fsys: fsys, ino: node, name: name, gen: gen}, nil
}

// SyncFS makes everything durable: every file's data and size and every
// directory's entries (syncfs(2)). Files are synced in path order; a file
// whose sync fails gets its profile's reaction, and SyncFS reports EIO.
func (fsys *FS) SyncFS(name string) error {
	op := Op{Kind: OpSyncFS, Path: clean(name)}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return pathErr("syncfs", name, err)
	}
	var firstErr error
	seen := make(map[*inode]bool)
	fsys.walk(fsys.root, "/", seen, func(p string, ino *inode) {
		if ino.isDir {
			ino.durable = maps.Clone(ino.children)
			fsys.markNamespace()
			return
		}
		if err := fsys.syncFile(ino, p, nil, nil); err != nil && firstErr == nil {
			firstErr = err
		}
	})
	return pathErr("syncfs", name, fsys.end(op, st, firstErr))
}

// walk visits every node reachable from dir in path order, once.
func (fsys *FS) walk(dir *inode, dirPath string, seen map[*inode]bool, visit func(string, *inode)) {
	seen[dir] = true
	visit(dirPath, dir)
	names := make([]string, 0, len(dir.children))
	for n := range dir.children {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c := dir.children[n]
		if seen[c] {
			continue
		}
		p := path.Join(dirPath, n)
		if c.isDir {
			fsys.walk(c, p, seen, visit)
		} else {
			seen[c] = true
			visit(p, c)
		}
	}
}
