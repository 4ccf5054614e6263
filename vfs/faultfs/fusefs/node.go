package fusefs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"unsafe"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// node is one file or directory of the mount. It holds no state of its
// own: every operation goes to the model by path, so the model is the only
// truth (a crash or a Btrfs revert in the model is what the next stat sees).
type node struct {
	gofs.Inode
	srv *Server
}

// handle is an open file: a descriptor of the model.
type handle struct {
	f      vfs.File
	append bool
	direct bool
}

var (
	_ gofs.NodeLookuper   = (*node)(nil)
	_ gofs.NodeGetattrer  = (*node)(nil)
	_ gofs.NodeSetattrer  = (*node)(nil)
	_ gofs.NodeOpener     = (*node)(nil)
	_ gofs.NodeCreater    = (*node)(nil)
	_ gofs.NodeReader     = (*node)(nil)
	_ gofs.NodeWriter     = (*node)(nil)
	_ gofs.NodeFsyncer    = (*node)(nil)
	_ gofs.NodeFlusher    = (*node)(nil)
	_ gofs.NodeReleaser   = (*node)(nil)
	_ gofs.NodeUnlinker   = (*node)(nil)
	_ gofs.NodeRmdirer    = (*node)(nil)
	_ gofs.NodeMkdirer    = (*node)(nil)
	_ gofs.NodeRenamer    = (*node)(nil)
	_ gofs.NodeReaddirer  = (*node)(nil)
	_ gofs.NodeStatfser   = (*node)(nil)
	_ gofs.NodeAllocater  = (*node)(nil)
	_ gofs.NodeOpendirer  = (*node)(nil)
	_ gofs.NodeAccesser   = (*node)(nil)
	_ gofs.NodeGetxattrer = (*node)(nil)
)

// modelPath is the node's path in the model: absolute, clean.
func (n *node) modelPath() string {
	return path.Clean("/" + n.Path(nil))
}

func (n *node) child(name string) string { return path.Join(n.modelPath(), name) }

// errno turns a model error into the errno the kernel passes on. An
// operation refused because the model crashed is EIO: to the program it is
// a dead disk.
func errno(err error) syscall.Errno {
	if err == nil || err == io.EOF {
		return 0
	}
	var e syscall.Errno
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, os.ErrClosed):
		return syscall.EBADF
	case errors.Is(err, vfs.ErrUnaligned):
		return syscall.EINVAL
	case errors.Is(err, vfs.ErrLocked):
		return syscall.EAGAIN
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	}
	return syscall.EIO
}

// openFlags keeps the flags the model understands.
func openFlags(flags uint32) int {
	const keep = syscall.O_ACCMODE | syscall.O_APPEND | syscall.O_TRUNC | syscall.O_CREAT | syscall.O_EXCL |
		syscall.O_SYNC | syscall.O_DSYNC | syscall.O_DIRECT
	return int(flags) & keep
}

func (n *node) fillAttr(p string, fi fs.FileInfo, out *fuse.Attr) {
	m := n.srv.meta(p, fi.IsDir())
	if fi.IsDir() {
		out.Mode = fuse.S_IFDIR | m.perm
		out.Nlink = 2
	} else {
		out.Mode = fuse.S_IFREG | m.perm
		out.Nlink = 1
	}
	out.Size = uint64(fi.Size())
	if id, ok := fi.Sys().(faultfs.InodeID); ok {
		out.Ino = uint64(id) + 1
	}
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = faultfs.PageSizeBytes
	out.Uid, out.Gid = m.uid, m.gid
	t := uint64(n.srv.started.Unix())
	out.Atime, out.Mtime, out.Ctime = t, t, t
}

// stableAttr gives the kernel the model's inode identity, so that
// stat(path) and fstat(fd) agree (SQLite checks that its database was not
// moved by comparing them) and a crash, which makes new inodes, shows.
func stableAttr(fi fs.FileInfo) gofs.StableAttr {
	var ino uint64
	if id, ok := fi.Sys().(faultfs.InodeID); ok {
		ino = uint64(id) + 1 // 1 is the mount root's
	}
	if fi.IsDir() {
		return gofs.StableAttr{Mode: fuse.S_IFDIR, Ino: ino}
	}
	return gofs.StableAttr{Mode: fuse.S_IFREG, Ino: ino}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := n.child(name)
	fi, err := n.srv.fsys.Stat(p)
	if err != nil {
		return nil, errno(err)
	}
	n.fillAttr(p, fi, &out.Attr)
	return n.NewInode(ctx, &node{srv: n.srv}, stableAttr(fi)), 0
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	p := n.modelPath()
	if h, ok := f.(*handle); ok {
		if fi, err := h.f.Stat(); err == nil {
			n.fillAttr(p, fi, &out.Attr)
			return 0
		}
	}
	fi, err := n.srv.fsys.Stat(p)
	if err != nil {
		return errno(err)
	}
	n.fillAttr(p, fi, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p := n.modelPath()
	if size, ok := in.GetSize(); ok {
		h, _ := f.(*handle)
		var err error
		if h != nil && h.f != nil && !h.append {
			err = h.f.Truncate(int64(size))
		} else {
			var tf vfs.File
			tf, err = n.srv.fsys.OpenFile(p, os.O_WRONLY, 0)
			if err == nil {
				err = tf.Truncate(int64(size))
				tf.Close()
			}
		}
		if err != nil {
			return errno(err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		n.srv.setMeta(p, func(m *meta) { m.perm = mode & 0o7777 })
	}
	if uid, ok := in.GetUID(); ok {
		n.srv.setMeta(p, func(m *meta) { m.uid = uid })
	}
	if gid, ok := in.GetGID(); ok {
		n.srv.setMeta(p, func(m *meta) { m.gid = gid })
	}
	return n.Getattr(ctx, f, out)
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	h, err := n.srv.open(n.modelPath(), openFlags(flags), 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	p := n.child(name)
	h, err := n.srv.open(p, openFlags(flags)|os.O_CREATE, fs.FileMode(mode&0o777))
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	n.srv.setMeta(p, func(m *meta) {
		m.perm = mode & 0o7777
		if c, ok := fuse.FromContext(ctx); ok {
			m.uid, m.gid = c.Uid, c.Gid
		}
	})
	fi, err := h.f.Stat()
	if err != nil {
		h.f.Close()
		return nil, nil, 0, errno(err)
	}
	n.fillAttr(p, fi, &out.Attr)
	return n.NewInode(ctx, &node{srv: n.srv}, stableAttr(fi)), h, fuse.FOPEN_DIRECT_IO, 0
}

// aligned returns a buffer of n bytes aligned for direct I/O.
func aligned(n int) []byte {
	buf := make([]byte, n+vfs.DirectIOAlignmentBytes)
	shift := int(uintptr(unsafe.Pointer(&buf[0])) % vfs.DirectIOAlignmentBytes)
	if shift != 0 {
		shift = vfs.DirectIOAlignmentBytes - shift
	}
	return buf[shift : shift+n]
}

func (n *node) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := f.(*handle)
	if !ok {
		return nil, syscall.EBADF
	}
	buf := dest
	if h.direct {
		buf = aligned(len(dest))
	}
	got, err := h.f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return nil, errno(err)
	}
	if h.direct {
		copy(dest, buf[:got])
	}
	return fuse.ReadResultData(dest[:got]), 0
}

func (n *node) Write(ctx context.Context, f gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	h, ok := f.(*handle)
	if !ok {
		return 0, syscall.EBADF
	}
	p := n.modelPath()
	if n.srv.tornBeforeWrite(p, data, off) {
		return 0, syscall.EIO
	}
	buf := data
	if h.direct {
		buf = aligned(len(data))
		copy(buf, data)
	}
	var got int
	var err error
	if h.append {
		got, err = h.f.Write(buf)
	} else {
		got, err = h.f.WriteAt(buf, off)
	}
	if err != nil {
		return uint32(got), errno(err)
	}
	n.srv.afterWrite()
	return uint32(got), 0
}

func (n *node) Fsync(ctx context.Context, f gofs.FileHandle, flags uint32) syscall.Errno {
	p := n.modelPath()
	if n.IsDir() {
		return errno(vfs.SyncDir(n.srv.fsys, p))
	}
	n.srv.tornSync(p)
	h, ok := f.(*handle)
	if !ok {
		// fsync without an open descriptor of ours: open one, as the
		// kernel's own write-back would act on the inode.
		tf, err := n.srv.fsys.OpenFile(p, os.O_RDONLY, 0)
		if err != nil {
			return errno(err)
		}
		defer tf.Close()
		return errno(tf.Sync())
	}
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		return errno(h.f.SyncData())
	}
	return errno(h.f.Sync())
}

func (n *node) Flush(ctx context.Context, f gofs.FileHandle) syscall.Errno { return 0 }

func (n *node) Release(ctx context.Context, f gofs.FileHandle) syscall.Errno {
	if h, ok := f.(*handle); ok && h.f != nil {
		h.f.Close() // a descriptor from before a crash is dead already
	}
	return 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	p := n.child(name)
	fi, err := n.srv.fsys.Stat(p)
	if err != nil {
		return errno(err)
	}
	if fi.IsDir() {
		return syscall.EISDIR
	}
	if err := n.srv.fsys.Remove(p); err != nil {
		return errno(err)
	}
	n.srv.dropMeta(p)
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	p := n.child(name)
	fi, err := n.srv.fsys.Stat(p)
	if err != nil {
		return errno(err)
	}
	if !fi.IsDir() {
		return syscall.ENOTDIR
	}
	if err := n.srv.fsys.Remove(p); err != nil {
		return errno(err)
	}
	n.srv.dropMeta(p)
	return 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := n.child(name)
	if _, err := n.srv.fsys.Stat(p); err == nil {
		return nil, syscall.EEXIST
	}
	if err := n.srv.fsys.MkdirAll(p, fs.FileMode(mode&0o777)); err != nil {
		return nil, errno(err)
	}
	n.srv.setMeta(p, func(m *meta) {
		m.perm = mode & 0o7777
		if c, ok := fuse.FromContext(ctx); ok {
			m.uid, m.gid = c.Uid, c.Gid
		}
	})
	fi, err := n.srv.fsys.Stat(p)
	if err != nil {
		return nil, errno(err)
	}
	n.fillAttr(p, fi, &out.Attr)
	return n.NewInode(ctx, &node{srv: n.srv}, stableAttr(fi)), 0
}

const (
	renameNoReplace = 1 // RENAME_NOREPLACE
	renameExchange  = 2 // RENAME_EXCHANGE
)

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	from, to := n.child(name), np.child(newName)
	if flags&renameExchange != 0 {
		return syscall.EINVAL // the model has no atomic exchange
	}
	if flags&renameNoReplace != 0 {
		if _, err := n.srv.fsys.Stat(to); err == nil {
			return syscall.EEXIST
		}
	}
	if err := n.srv.fsys.Rename(from, to); err != nil {
		return errno(err)
	}
	n.srv.moveMeta(from, to)
	return 0
}

func (n *node) Opendir(ctx context.Context) syscall.Errno { return 0 }

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	p := n.modelPath()
	names, err := n.srv.fsys.List(p)
	if err != nil {
		return nil, errno(err)
	}
	entries := make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		mode := uint32(fuse.S_IFREG)
		if fi, err := n.srv.fsys.Stat(path.Join(p, name)); err == nil && fi.IsDir() {
			mode = fuse.S_IFDIR
		}
		entries = append(entries, fuse.DirEntry{Name: name, Mode: mode})
	}
	return gofs.NewListDirStream(entries), 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 28 // 1 TiB of 4 KiB blocks: the model has no space limit unless a budget is set
	out.Bsize = faultfs.PageSizeBytes
	out.Frsize = faultfs.PageSizeBytes
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<20, 1<<20
	out.NameLen = 255
	return 0
}

func (n *node) Allocate(ctx context.Context, f gofs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	h, ok := f.(*handle)
	if !ok {
		return syscall.EBADF
	}
	switch mode {
	case 0:
		return errno(h.f.Preallocate(int64(off), int64(size)))
	case 1: // FALLOC_FL_KEEP_SIZE: the model has no block allocation to reserve
		return 0
	}
	return syscall.EOPNOTSUPP
}

func (n *node) Access(ctx context.Context, mask uint32) syscall.Errno {
	_, err := n.srv.fsys.Stat(n.modelPath())
	return errno(err)
}

// Getxattr: the model keeps no extended attributes.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}
