package vfs_test

import (
	"os"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/vfstest"
)

// TestConformanceOS runs the conformance suite against the operating system
// on whatever file system holds t.TempDir().
func TestConformanceOS(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return vfs.Default(), t.TempDir()
	})
}

// TestConformanceOSExt4 runs the suite against the operating system on a
// real ext4 volume on a loop device. The volume is mounted once, for all the
// subtests, and each subtest gets its own directory on it. Without Linux,
// root or the loop-device tools it skips, saying which is missing.
func TestConformanceOSExt4(t *testing.T) {
	mnt := vfstest.MountExt4(t, 64)
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		dir, err := os.MkdirTemp(mnt, "case-")
		if err != nil {
			t.Fatalf("making a directory on the ext4 volume: %v", err)
		}
		t.Cleanup(func() {
			if err := os.RemoveAll(dir); err != nil {
				t.Errorf("removing %s: %v", dir, err)
			}
		})
		return vfs.Default(), dir
	})
}
