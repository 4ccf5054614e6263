package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
)

// Default returns the operating-system file system. On Linux every
// durability-relevant call is the real system call: fsync, fdatasync,
// fallocate, flock, syncfs, and open with O_DIRECT and O_DSYNC. On other
// platforms the weaker substitutes are documented in os_other.go.
func Default() FS { return osFS{} }

// osFS implements FS with the os package and golang.org/x/sys/unix. It is
// stateless; every call goes straight to the kernel.
type osFS struct{}

var _ FS = osFS{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := openOSFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{
		f:          f,
		name:       name,
		direct:     flag&ODirect != 0,
		appendMode: flag&OAppend != 0,
	}, nil
}

func (osFS) OpenDir(name string) (Dir, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "opendir", Path: name, Err: errNotDir}
	}
	return &osDir{f: f}, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) RemoveAll(name string) error          { return os.RemoveAll(name) }

func (osFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

func (osFS) List(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// Lock takes an exclusive flock(2) on name. flock locks belong to the open
// file description, so a second Lock of the same path fails even from the
// same process, which is what guards a data directory against being opened
// twice. The lock file itself is never removed: removing it would let a
// second process lock a fresh inode while the first still holds the old one.
func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return &osLock{f: f}, nil
}

func (osFS) SyncFS(name string) error { return syncFS(name) }

// osFile is a File backed by *os.File. The os package does the plain reads,
// writes, fsync and ftruncate; fdatasync and fallocate go to the descriptor
// directly (see control).
type osFile struct {
	f    *os.File
	name string
	// direct is set when the file was opened with ODirect: every read and
	// write is checked for alignment before it reaches the kernel, so the
	// caller sees ErrUnaligned, the same error faultfs returns, rather
	// than a bare EINVAL.
	direct     bool
	appendMode bool
	closed     atomic.Bool
}

var _ File = (*osFile)(nil)

func (f *osFile) Name() string { return f.name }

func (f *osFile) Read(p []byte) (int, error) {
	if f.direct {
		off, err := f.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		if err := f.checkAligned("read", p, off); err != nil {
			return 0, err
		}
	}
	return f.f.Read(p)
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	if !f.direct {
		return f.f.ReadAt(p, off)
	}
	if err := f.checkAligned("pread", p, off); err != nil {
		return 0, err
	}
	// os.File.ReadAt retries a short read at the offset where it stopped.
	// With O_DIRECT a short read happens at end of file, the retry's
	// offset and buffer are then unaligned, and the kernel answers EINVAL
	// instead of EOF. directReadAt stops at the first short read instead.
	return f.directReadAt(p, off)
}

func (f *osFile) Write(p []byte) (int, error) {
	if f.direct {
		var off int64
		var err error
		if f.appendMode {
			// With O_APPEND the kernel writes at the end of the file,
			// so that is the offset that must be aligned.
			var info fs.FileInfo
			info, err = f.f.Stat()
			if err == nil {
				off = info.Size()
			}
		} else {
			off, err = f.f.Seek(0, io.SeekCurrent)
		}
		if err != nil {
			return 0, err
		}
		if err := f.checkAligned("write", p, off); err != nil {
			return 0, err
		}
	}
	return f.f.Write(p)
}

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	if f.direct {
		if err := f.checkAligned("pwrite", p, off); err != nil {
			return 0, err
		}
	}
	return f.f.WriteAt(p, off)
}

func (f *osFile) Seek(offset int64, whence int) (int64, error) {
	return f.f.Seek(offset, whence)
}

func (f *osFile) Close() error {
	f.closed.Store(true)
	return f.f.Close()
}

// Sync is fsync(2) (os.File.Sync). An error means the outcome is unknown;
// see the package comment.
func (f *osFile) Sync() error { return f.f.Sync() }

// SyncData is fdatasync(2) on Linux (see syncData in os_linux.go).
func (f *osFile) SyncData() error { return f.syncData() }

func (f *osFile) Truncate(size int64) error { return f.f.Truncate(size) }

func (f *osFile) Preallocate(offset, length int64) error {
	if offset < 0 || length < 0 {
		return &fs.PathError{Op: "fallocate", Path: f.name,
			Err: fmt.Errorf("negative offset %d or length %d: %w", offset, length, errInvalid)}
	}
	if length == 0 {
		// fallocate(2) rejects a zero length with EINVAL; reserving
		// nothing is a no-op here, as it is in faultfs.
		return nil
	}
	err := f.control("fallocate", func(fd int) error { return fallocate(fd, offset, length) })
	if errors.Is(err, errPreallocateUnsupported) {
		// Some file systems (ext3 without extents, some FUSE and NFS
		// versions) do not implement fallocate. Writing zeros gives the
		// same size and allocation, only slower.
		return f.preallocateByWriting(offset, length)
	}
	return err
}

// preallocateByWriting extends the file to cover [offset, offset+length) by
// writing zeros past the current end of file. Existing bytes are never
// touched: fallocate mode 0 does not change data either. The zeros are
// written in aligned chunks from the first aligned offset at or after the
// current size, so the same code works on an ODirect descriptor; the
// partial block below that offset is already allocated (it holds data) or
// reads as zeros. A final ftruncate sets the exact size.
func (f *osFile) preallocateByWriting(offset, length int64) error {
	info, err := f.f.Stat()
	if err != nil {
		return err
	}
	endBytes := offset + length
	sizeBytes := info.Size()
	if endBytes <= sizeBytes {
		return nil
	}
	const chunkBytes = 1 << 20
	zeros := AlignedBuffer(chunkBytes)
	for pos := AlignUp(sizeBytes); pos < endBytes; {
		n := min(int64(chunkBytes), AlignUp(endBytes)-pos)
		if _, err := f.f.WriteAt(zeros[:n], pos); err != nil {
			return err
		}
		pos += n
	}
	return f.f.Truncate(endBytes)
}

func (f *osFile) Stat() (fs.FileInfo, error) { return f.f.Stat() }

// checkAligned returns an error wrapping ErrUnaligned unless p's address,
// off and len(p) are all multiples of DirectIOAlignmentBytes.
func (f *osFile) checkAligned(op string, p []byte, off int64) error {
	if f.closed.Load() {
		return &fs.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	if off%DirectIOAlignmentBytes == 0 && IsAligned(p) {
		return nil
	}
	return &fs.PathError{Op: op, Path: f.name, Err: fmt.Errorf(
		"offset %d, length %d, buffer address aligned=%t, alignment %d: %w",
		off, len(p), len(p) == 0 || isAlignedAddr(p), DirectIOAlignmentBytes, ErrUnaligned)}
}

// control runs fn on the file's descriptor. Going through SyscallConn
// rather than os.File.Fd keeps the descriptor referenced for the duration
// of the call, so a concurrent Close cannot hand the number to another
// file, and does not switch the descriptor to blocking mode.
func (f *osFile) control(op string, fn func(fd int) error) error {
	return controlFile(f.f, f.name, op, &f.closed, fn)
}

func controlFile(file *os.File, name, op string, closed *atomic.Bool, fn func(fd int) error) error {
	if closed != nil && closed.Load() {
		return &fs.PathError{Op: op, Path: name, Err: os.ErrClosed}
	}
	rc, err := file.SyscallConn()
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		if closed != nil && closed.Load() {
			err = os.ErrClosed
		}
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	if opErr != nil {
		return &fs.PathError{Op: op, Path: name, Err: opErr}
	}
	return nil
}

// osDir is a directory held open so that its entries can be fsynced.
type osDir struct{ f *os.File }

// Sync is fsync(2) on the directory descriptor, which makes names created,
// renamed into or removed from the directory durable.
func (d *osDir) Sync() error  { return d.f.Sync() }
func (d *osDir) Close() error { return d.f.Close() }

// osLock holds a flock on an open lock file.
type osLock struct {
	f      *os.File
	closed atomic.Bool
}

// Close releases the lock and closes the lock file. Closing the descriptor
// alone would release it too; the explicit unlock makes the release
// independent of any descriptor the process may have duplicated.
func (l *osLock) Close() error {
	if l.closed.Swap(true) {
		return &fs.PathError{Op: "unlock", Path: l.f.Name(), Err: os.ErrClosed}
	}
	unlockErr := controlFile(l.f, l.f.Name(), "unlock", nil, unlockFD)
	closeErr := l.f.Close()
	if unlockErr != nil {
		return unlockErr
	}
	return closeErr
}

var (
	errNotDir  = syscall.ENOTDIR
	errInvalid = fs.ErrInvalid
	// errPreallocateUnsupported is what fallocate returns when the file
	// system does not implement it (EOPNOTSUPP), and the signal for
	// Preallocate to write zeros instead.
	errPreallocateUnsupported = errors.New("fallocate not supported by the file system")
)

// directIOUnsupported builds the error for a refused O_DIRECT open: it
// names the path and, so an operator knows what to change, the file system.
func directIOUnsupported(name string, cause error) error {
	return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf(
		"%w (file system %s): %v", ErrDirectIOUnsupported, fsTypeNameNear(name), cause)}
}

// fsTypeNameNear names the file system holding name, or holding its
// directory if name does not exist.
func fsTypeNameNear(name string) string {
	if t, ok := fsTypeName(name); ok {
		return t
	}
	t, _ := fsTypeName(filepath.Dir(name))
	return t
}

// ProbeDirectIO checks that files in dir can be used with ODirect: it
// creates a temporary file there with ODirect, writes one aligned block,
// reads it back, compares, and removes the file. It returns nil, an error
// wrapping ErrDirectIOUnsupported that names the file system (the caller
// then falls back to buffered I/O and logs why, per I5), or another error
// if dir is unusable. It works on any FS, so faultfs can be probed too.
//
// The probe file is named like a WriteFileAtomic temporary, so a crash
// during the probe leaves an orphan that recovery removes (IsTempFile).
func ProbeDirectIO(fsys FS, dir string) error {
	name, err := tempFileName(filepath.Join(dir, "directio-probe"))
	if err != nil {
		return fmt.Errorf("vfs: probe direct I/O in %s: %w", dir, err)
	}
	f, err := fsys.OpenFile(name, ORdWr|OCreate|OExcl|ODirect, 0o600)
	if err != nil {
		return fmt.Errorf("vfs: probe direct I/O in %s: %w", dir, err)
	}
	probeErr := probeDirectFile(f)
	closeErr := f.Close()
	removeErr := fsys.Remove(name)
	for _, err := range []error{probeErr, closeErr, removeErr} {
		if err != nil {
			return fmt.Errorf("vfs: probe direct I/O in %s: %w", dir, err)
		}
	}
	return nil
}

func probeDirectFile(f File) error {
	want := AlignedBuffer(DirectIOAlignmentBytes)
	for i := range want {
		want[i] = byte(i%251 + 1)
	}
	if _, err := f.WriteAt(want, 0); err != nil {
		return err
	}
	got := AlignedBuffer(DirectIOAlignmentBytes)
	if _, err := f.ReadAt(got, 0); err != nil {
		return err
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("block read back differs from block written at byte %d", i)
		}
	}
	return nil
}
