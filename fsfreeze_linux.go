package holdfast

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/holdfast-db/holdfast/vfs"
)

// FIFREEZE and FITHAW are _IOWR('X', 119, int) and _IOWR('X', 120, int)
// (linux/fs.h); x/sys/unix does not export them.
const (
	ioctlFIFREEZE = 0xC0045877
	ioctlFITHAW   = 0xC0045878
)

// freezeFS freezes the file system holding dir (FIFREEZE, as fsfreeze(8)
// does): in-flight writes finish, dirty data is written, and new writes
// block until the returned Closer thaws it (FITHAW). It needs
// CAP_SYS_ADMIN and the operating system's file system.
func freezeFS(fsys vfs.FS, dir string) (io.Closer, error) {
	if fsys != vfs.Default() {
		return nil, fmt.Errorf("fsfreeze needs the operating system's file system, not %T", fsys)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlSetInt(int(f.Fd()), ioctlFIFREEZE, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("ioctl FIFREEZE: %w", err)
	}
	return &thawer{f: f}, nil
}

type thawer struct {
	once sync.Once
	f    *os.File
	err  error
}

func (t *thawer) Close() error {
	t.once.Do(func() {
		if err := unix.IoctlSetInt(int(t.f.Fd()), ioctlFITHAW, 0); err != nil {
			t.err = fmt.Errorf("ioctl FITHAW: %w", err)
		}
		t.f.Close()
	})
	return t.err
}
