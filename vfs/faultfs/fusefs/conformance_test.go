package fusefs

import (
	"os"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
	"github.com/holdfast-db/holdfast/vfs/vfstest"
)

// TestConformanceThroughMount runs the suite every vfs.FS passes against
// the operating system's file system on a faultfs mount: the kernel, FUSE
// and the model together must behave as a POSIX file system does when
// nothing fails. One mount serves every subtest, each in its own
// directory.
func TestConformanceThroughMount(t *testing.T) {
	for _, dirs := range []faultfs.DirMode{faultfs.DirStrict, faultfs.DirLazy} {
		name := "strict-dirs"
		if dirs == faultfs.DirLazy {
			name = "lazy-dirs"
		}
		t.Run(name, func(t *testing.T) {
			tm := mountT(t, Options{Dirs: dirs})
			vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
				dir, err := os.MkdirTemp(tm.mnt, "case-")
				if err != nil {
					t.Fatal(err)
				}
				return vfs.Default(), dir
			})
		})
	}
}
