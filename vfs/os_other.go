//go:build !linux

package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// holdfast's durability guarantees are stated and tested for Linux. On
// other platforms Default works for development, with these substitutes:
// ODirect is refused (ErrDirectIOUnsupported), ODSync becomes O_SYNC,
// SyncData is a full Sync, Preallocate writes zeros, and Lock and SyncFS
// report errors.ErrUnsupported.

func openOSFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if flag&ODirect != 0 {
		return nil, directIOUnsupported(name, errors.ErrUnsupported)
	}
	if flag&ODSync != 0 {
		// ODSync is a made-up bit here (flags_other.go); O_SYNC is
		// stronger and portable.
		flag = flag&^ODSync | os.O_SYNC
	}
	return os.OpenFile(name, flag, perm)
}

func (f *osFile) directReadAt(p []byte, off int64) (int, error) {
	// Unreachable: openOSFile refuses ODirect on this platform.
	return f.f.ReadAt(p, off)
}

// syncData is a full fsync: portable, and at least as strong.
func (f *osFile) syncData() error { return f.f.Sync() }

func fallocate(fd int, offset, length int64) error { return errPreallocateUnsupported }

func lockFile(f *os.File) error {
	return &fs.PathError{Op: "flock", Path: f.Name(),
		Err: fmt.Errorf("file locking is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)}
}

func unlockFD(fd int) error { return nil }

func syncFS(name string) error {
	return &fs.PathError{Op: "syncfs", Path: name,
		Err: fmt.Errorf("syncfs is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)}
}

func fsTypeName(path string) (string, bool) { return runtime.GOOS, false }
