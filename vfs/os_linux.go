//go:build linux

package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openOSFile opens name with flag passed to open(2) as it is: ODirect and
// ODSync are the kernel's O_DIRECT and O_DSYNC.
//
// A file system that cannot do direct I/O (procfs, sysfs, some FUSE
// file systems, tmpfs before Linux 6.6) fails the open with EINVAL, which
// is reported as ErrDirectIOUnsupported naming the file system, so the
// engine can log why it falls back to buffered I/O. With OCreate the kernel
// creates the inode before it checks O_DIRECT, so a refused open can leave
// an empty file behind; when OExcl proves that we created it, it is
// removed again.
func openOSFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err == nil {
		return f, nil
	}
	if flag&ODirect != 0 && errors.Is(err, unix.EINVAL) {
		if flag&(OCreate|OExcl) == OCreate|OExcl {
			os.Remove(name) // best effort: we created it, nothing else can have used it
		}
		return nil, directIOUnsupported(name, unix.EINVAL)
	}
	return nil, err
}

// directReadAt is pread(2) in a loop that stops at the first short read,
// which under O_DIRECT means end of file. p and off are already checked
// for alignment.
func (f *osFile) directReadAt(p []byte, off int64) (int, error) {
	total := 0
	err := f.control("pread", func(fd int) error {
		for total < len(p) {
			n, err := unix.Pread(fd, p[total:], off+int64(total))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			total += n
			if n == 0 || n%DirectIOAlignmentBytes != 0 {
				return io.EOF
			}
		}
		return nil
	})
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && pathErr.Err == io.EOF {
		// io.ReaderAt callers compare with ==, so EOF must not be wrapped.
		return total, io.EOF
	}
	return total, err
}

func (f *osFile) syncData() error { return f.control("fdatasync", fdatasync) }

// fdatasync flushes the file's data and the metadata needed to read it
// back. EINTR is retried as the os package does for fsync: it means the
// call did not run, not that write-back failed.
func fdatasync(fd int) error {
	for {
		err := unix.Fdatasync(fd)
		if err != unix.EINTR {
			return err
		}
	}
}

// fallocate reserves [offset, offset+length) with mode 0: blocks are
// allocated, the size grows to cover the range, and the new bytes read as
// zeros.
func fallocate(fd int, offset, length int64) error {
	for {
		err := unix.Fallocate(fd, 0, offset, length)
		switch err {
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP:
			return errPreallocateUnsupported
		}
		return err
	}
}

// lockFile takes flock(LOCK_EX|LOCK_NB) on f; a conflict is ErrLocked.
func lockFile(f *os.File) error {
	err := controlFile(f, f.Name(), "flock", nil, func(fd int) error {
		for {
			err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
			if err != unix.EINTR {
				return err
			}
		}
	})
	if errors.Is(err, unix.EWOULDBLOCK) {
		return &fs.PathError{Op: "flock", Path: f.Name(), Err: ErrLocked}
	}
	return err
}

func unlockFD(fd int) error { return unix.Flock(fd, unix.LOCK_UN) }

// syncFS is syncfs(2) on a descriptor of name. Since Linux 5.8 syncfs
// reports write-back errors of the file system (through its superblock's
// error sequence), so an error here is as serious as a failed fsync.
func syncFS(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return controlFile(f, name, "syncfs", nil, unix.Syncfs)
}

// fsTypeNames maps statfs(2) magic numbers to names, for error messages.
// ext2, ext3 and ext4 share one magic number.
var fsTypeNames = map[int64]string{
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.EXT4_SUPER_MAGIC:      "ext4",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	unix.FUSE_SUPER_MAGIC:      "fuse",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.PROC_SUPER_MAGIC:      "proc",
	unix.SYSFS_MAGIC:           "sysfs",
	unix.V9FS_MAGIC:            "9p",
	0x2fc12fc1:                 "zfs", // not in x/sys/unix
}

// fsTypeName names the file system that holds path; ok is false if statfs
// fails. An unknown magic number is reported in hex.
func fsTypeName(path string) (name string, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown", false
	}
	if n, found := fsTypeNames[int64(st.Type)]; found {
		return n, true
	}
	return fmt.Sprintf("magic %#x", uint64(st.Type)), true
}
