// Package vfs is the file-system boundary of holdfast: every byte the engine
// reads or writes goes through the FS and File interfaces defined here.
//
// Two implementations exist. Default() is the operating system, reached
// through golang.org/x/sys/unix so that O_DIRECT, fdatasync, fallocate,
// flock and syncfs are the real system calls. The faultfs sub-package is an
// in-memory model of a file system that keeps the page cache and the durable
// device apart, so tests can crash it, fail its syncs the way ext4, XFS and
// Btrfs do, and check what survives.
//
// The interface is deliberately small and explicit about durability:
//
//   - File.Sync and File.SyncData make that one file's data durable; nothing
//     else is implied. A created, renamed or removed name is durable only once
//     its directory has been synced (Dir.Sync, or SyncDir).
//   - An error from any sync means the outcome is unknown: the caller must not
//     retry the sync and must not trust data it can read back through the
//     page cache (see the ATC'20 study in shared/research).
package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// Open flags. The os.O_* access and creation flags are accepted as they are;
// ODirect and ODSync add the two that the os package does not export on every
// platform. An FS that cannot honour ODirect fails the open with an error
// matching ErrDirectIOUnsupported.
const (
	ORdOnly = os.O_RDONLY
	OWrOnly = os.O_WRONLY
	ORdWr   = os.O_RDWR
	OCreate = os.O_CREATE
	OExcl   = os.O_EXCL
	OTrunc  = os.O_TRUNC
	OAppend = os.O_APPEND
	OSync   = os.O_SYNC
	ODSync  = oDSync
	ODirect = oDirect
)

// Alignment rules for direct I/O. Buffers, offsets and lengths of every
// ODirect read and write must be multiples of DirectIOAlignmentBytes; the
// logical block size of current devices is at most this.
const (
	SectorSizeBytes        = 512
	PageSizeBytes          = 4096
	DirectIOAlignmentBytes = PageSizeBytes
)

var (
	// ErrDirectIOUnsupported is returned (wrapped, with the path and file
	// system) when a file system refuses O_DIRECT, as tmpfs does.
	ErrDirectIOUnsupported = errors.New("vfs: file system does not support O_DIRECT")
	// ErrLocked is returned by Lock when another holder has the lock.
	ErrLocked = errors.New("vfs: lock is held by another process")
	// ErrUnaligned is returned for an ODirect read or write whose buffer,
	// offset or length is not a multiple of DirectIOAlignmentBytes.
	ErrUnaligned = errors.New("vfs: direct I/O buffer, offset or length not aligned")
)

// FS is a file system. Paths are slash-separated and may be absolute or
// relative; implementations resolve them as the operating system would.
type FS interface {
	// OpenFile opens name with the given flags (os.O_* plus ODirect and
	// ODSync) and permission bits for a created file.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// OpenDir opens a directory so that it can be synced.
	OpenDir(name string) (Dir, error)
	// Rename atomically replaces newname with oldname. It is durable only
	// after both parent directories are synced.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes name and everything below it; a missing name is not
	// an error.
	RemoveAll(name string) error
	// MkdirAll creates a directory and any missing parents. The new entries
	// are durable only after their parents are synced.
	MkdirAll(name string, perm fs.FileMode) error
	// List returns the names in a directory, sorted.
	List(dir string) ([]string, error)
	// Stat describes a file or directory.
	Stat(name string) (fs.FileInfo, error)
	// Lock takes an exclusive lock on name, creating it if needed. The lock
	// is held until the returned Closer is closed. If another holder has it,
	// Lock fails at once with an error matching ErrLocked.
	Lock(name string) (io.Closer, error)
	// SyncFS makes everything on the file system that holds name durable:
	// every file's data and metadata and every directory entry (syncfs(2)).
	SyncFS(name string) error
}

// File is an open file.
//
// Write writes at the descriptor's offset (at the end with OAppend) and
// advances it; WriteAt and ReadAt leave the offset alone.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Name is the name the file was opened with.
	Name() string
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// SyncData makes the file's data, and the metadata needed to read it,
	// durable (fdatasync).
	SyncData() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Preallocate reserves space for [offset, offset+length) and extends
	// the file's size to cover it; the new bytes read as zeros. Writing into
	// preallocated space changes no size metadata, so SyncData has less to
	// do (fallocate(2) with mode 0).
	Preallocate(offset, length int64) error
	// Stat describes the open file.
	Stat() (fs.FileInfo, error)
}

// Dir is an open directory, held to sync its entries.
type Dir interface {
	// Sync makes the directory's entries durable: names created, renamed
	// into or removed from it.
	Sync() error
	Close() error
}

// Create creates or truncates name for reading and writing.
func Create(fsys FS, name string) (File, error) {
	return fsys.OpenFile(name, ORdWr|OCreate|OTrunc, 0o644)
}

// Open opens name for reading.
func Open(fsys FS, name string) (File, error) {
	return fsys.OpenFile(name, ORdOnly, 0)
}

// SyncDir opens, syncs and closes a directory.
func SyncDir(fsys FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// ReadFile reads a whole file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := Open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Exists reports whether name exists. Errors other than "does not exist"
// are returned.
func Exists(fsys FS, name string) (bool, error) {
	_, err := fsys.Stat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
