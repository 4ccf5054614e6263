package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"
	"unsafe"

	"github.com/holdfast-db/holdfast/vfs"
)

// file is an open descriptor.
type file struct {
	fsys   *FS
	ino    *inode
	name   string // as opened
	path   string // cleaned, absolute
	flag   int
	offset int64
	gen    uint64
	closed bool
	// errSampled is the inode's errGen this descriptor has reported (or
	// was opened after); a sync reports EIO when errGen is newer.
	errSampled uint64
}

var _ vfs.File = (*file)(nil)

func (f *file) Name() string { return f.name }

// check refuses operations on closed or stale descriptors; fsys.mu is held.
func (f *file) check() error {
	if f.closed {
		return &fs.PathError{Op: "use", Path: f.name, Err: os.ErrClosed}
	}
	if f.gen != f.fsys.gen {
		return &fs.PathError{Op: "use", Path: f.name, Err: ErrCrashed}
	}
	return nil
}

func (f *file) readable() bool { return f.flag&(os.O_WRONLY|os.O_RDWR) != os.O_WRONLY }
func (f *file) writable() bool { return f.flag&(os.O_WRONLY|os.O_RDWR) != 0 }
func (f *file) direct() bool   { return f.flag&vfs.ODirect != 0 }
func (f *file) dsync() bool    { return f.flag&(vfs.ODSync|os.O_SYNC) != 0 }

func pathErr(op, name string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// checkAligned enforces the O_DIRECT rules on buffer address, offset and
// length, as Linux does with EINVAL.
func checkAligned(p []byte, off int64) error {
	const a = vfs.DirectIOAlignmentBytes
	if off%a != 0 || len(p)%a != 0 || (len(p) > 0 && uintptr(unsafe.Pointer(&p[0]))%a != 0) {
		return vfs.ErrUnaligned
	}
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	var n int
	err := f.do(OpRead, "read", func() (Op, error) {
		return Op{Kind: OpRead, Path: f.path, Offset: f.offset, Length: int64(len(p))}, nil
	}, func() error {
		var err error
		n, err = f.readLocked(p, f.offset)
		f.offset += int64(n)
		if err == io.EOF && n > 0 {
			// As os.File: a short sequential read is not an error.
			err = nil
		}
		return err
	})
	return n, err
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, pathErr("read", f.name, syscall.EINVAL)
	}
	var n int
	err := f.do(OpRead, "read", func() (Op, error) {
		return Op{Kind: OpRead, Path: f.path, Offset: off, Length: int64(len(p))}, nil
	}, func() error {
		var err error
		n, err = f.readLocked(p, off)
		return err
	})
	return n, err
}

// readLocked reads at off; at end of file it returns io.EOF with the short
// count, as os.File.ReadAt does.
func (f *file) readLocked(p []byte, off int64) (int, error) {
	if !f.readable() {
		return 0, syscall.EBADF
	}
	if f.ino.isDir {
		return 0, syscall.EISDIR
	}
	var n int
	var err error
	if f.direct() {
		if err := checkAligned(p, off); err != nil {
			return 0, err
		}
		n, err = f.fsys.readDirect(f.ino, f.path, p, off)
	} else {
		n, err = f.fsys.readAt(f.ino, f.path, p, off)
	}
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (f *file) Write(p []byte) (int, error) {
	var n int
	err := f.do(OpWrite, "write", func() (Op, error) {
		off := f.offset
		if f.flag&os.O_APPEND != 0 {
			off = f.ino.size
		}
		return Op{Kind: OpWrite, Path: f.path, Offset: off, Length: int64(len(p))}, nil
	}, func() error {
		off := f.offset
		if f.flag&os.O_APPEND != 0 {
			off = f.ino.size
		}
		var err error
		n, err = f.writeLocked(p, off)
		f.offset = off + int64(n)
		return err
	})
	return n, err
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, pathErr("write", f.name, syscall.EINVAL)
	}
	if f.flag&os.O_APPEND != 0 {
		// As os.File: WriteAt on an O_APPEND file is refused.
		return 0, pathErr("write", f.name, syscall.EINVAL)
	}
	var n int
	err := f.do(OpWrite, "write", func() (Op, error) {
		return Op{Kind: OpWrite, Path: f.path, Offset: off, Length: int64(len(p))}, nil
	}, func() error {
		var err error
		n, err = f.writeLocked(p, off)
		return err
	})
	return n, err
}

func (f *file) writeLocked(p []byte, off int64) (int, error) {
	if !f.writable() {
		return 0, syscall.EBADF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.direct() {
		if err := checkAligned(p, off); err != nil {
			return 0, err
		}
	}
	if err := f.fsys.checkSpace(f.ino, off+int64(len(p))); err != nil {
		return 0, err
	}
	var n int
	var err error
	if f.direct() {
		n = f.fsys.writeDirect(f.ino, p, off)
	} else {
		n, err = f.fsys.writeAt(f.ino, f.path, p, off)
	}
	if err != nil {
		return n, err
	}
	if f.dsync() {
		// An O_DSYNC/O_SYNC write is a write plus fdatasync (CuttleFS
		// treats it the same way); its failure is the write's failure.
		op := Op{Kind: OpSyncData, Path: f.path}
		injected := f.fsys.inject(op)
		f.fsys.oplog.add(op, injected)
		if err := f.fsys.syncFile(f.ino, f.path, f, injected); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	err := f.do(0, "seek", nil, func() error {
		switch whence {
		case io.SeekStart:
			pos = offset
		case io.SeekCurrent:
			pos = f.offset + offset
		case io.SeekEnd:
			pos = f.ino.size + offset
		default:
			return syscall.EINVAL
		}
		if pos < 0 {
			return syscall.EINVAL
		}
		f.offset = pos
		return nil
	})
	return pos, err
}

func (f *file) Sync() error     { return f.sync(OpSync, "sync") }
func (f *file) SyncData() error { return f.sync(OpSyncData, "syncdata") }

func (f *file) sync(kind OpKind, name string) error {
	op := Op{Kind: kind, Path: f.path}
	st, err := f.fsys.begin(op, f.check)
	if err != nil {
		return pathErr(name, f.name, err)
	}
	err = f.fsys.syncFile(f.ino, f.path, f, st.injected)
	return pathErr(name, f.name, f.fsys.end(op, st, err))
}

func (f *file) Truncate(size int64) error {
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	return f.do(OpTruncate, "truncate", func() (Op, error) {
		return Op{Kind: OpTruncate, Path: f.path, Offset: size}, nil
	}, func() error {
		if !f.writable() {
			return syscall.EINVAL
		}
		if err := f.fsys.checkSpace(f.ino, size); err != nil {
			return err
		}
		if size != f.ino.size {
			f.fsys.setSize(f.ino, size)
		}
		return nil
	})
}

func (f *file) Preallocate(offset, length int64) error {
	if offset < 0 || length <= 0 {
		return pathErr("preallocate", f.name, syscall.EINVAL)
	}
	return f.do(OpPreallocate, "preallocate", func() (Op, error) {
		return Op{Kind: OpPreallocate, Path: f.path, Offset: offset, Length: length}, nil
	}, func() error {
		if !f.writable() {
			return syscall.EBADF
		}
		end := offset + length
		if err := f.fsys.checkSpace(f.ino, end); err != nil {
			return err
		}
		if end > f.ino.size {
			f.fsys.setSize(f.ino, end)
		}
		return nil
	})
}

func (f *file) Stat() (fs.FileInfo, error) {
	var fi fs.FileInfo
	err := f.do(OpStat, "stat", func() (Op, error) {
		return Op{Kind: OpStat, Path: f.path}, nil
	}, func() error {
		fi = newFileInfo(path.Base(f.name), f.ino)
		return nil
	})
	return fi, err
}

// Close releases the descriptor and drops any error it had not reported,
// as Linux does. Close is never failed by an injector.
func (f *file) Close() error {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	f.fsys.oplog.add(Op{Kind: OpClose, Path: f.path}, nil)
	return nil
}

// do runs one descriptor operation under the lock. kind 0 (Seek) is not
// an operation injectors see.
func (f *file) do(kind OpKind, name string, mkOp func() (Op, error), run func() error) error {
	if kind == 0 {
		f.fsys.mu.Lock()
		defer f.fsys.mu.Unlock()
		if f.fsys.down {
			return pathErr(name, f.name, ErrCrashed)
		}
		if err := f.check(); err != nil {
			return err
		}
		return pathErr(name, f.name, run())
	}
	// The op is built under the lock (it may read the offset or size),
	// so begin's check runs first and builds it.
	var op Op
	check := func() error {
		if err := f.check(); err != nil {
			return err
		}
		var err error
		op, err = mkOp()
		return err
	}
	// begin needs op before injecting; build a provisional op for
	// latency only, then let check fill in the real one.
	st, err := f.fsys.beginWith(kind, &op, check)
	if err != nil {
		return pathErr(name, f.name, err)
	}
	err = run()
	return pathErr(name, f.name, f.fsys.end(op, st, err))
}

// fileInfo is the fs.FileInfo of a faultfs node. Times are fixed so runs
// are deterministic.
type fileInfo struct {
	name  string
	size  int64
	isDir bool
	id    InodeID
}

// InodeID is what a faultfs FileInfo's Sys returns: the identity of the
// file in the model, stable while it exists and new after a crash (the
// FUSE mount reports it as the inode number).
type InodeID uint64

func newFileInfo(name string, ino *inode) fileInfo {
	return fileInfo{name: name, size: ino.size, isDir: ino.isDir, id: InodeID(ino.id)}
}

func (fi fileInfo) Name() string { return fi.name }
func (fi fileInfo) Size() int64  { return fi.size }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.isDir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.isDir }
func (fi fileInfo) Sys() any           { return fi.id }
