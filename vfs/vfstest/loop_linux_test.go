//go:build linux

package vfstest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Magic numbers statfs(2) reports for each file system (linux/magic.h).
var superMagic = map[string]int64{
	"ext4":  0xEF53,
	"xfs":   0x58465342,
	"btrfs": 0x9123683E,
}

func TestMountFS(t *testing.T) {
	for _, tc := range []struct {
		fstype  string
		sizeMiB int
	}{
		{"ext4", 16},
		{"xfs", minXFSSizeMiB},
		{"btrfs", minBtrfsSizeMiB},
	} {
		t.Run(tc.fstype, func(t *testing.T) {
			var m loopMount
			t.Run("mounted", func(t *testing.T) {
				m = mountLoop(t, tc.fstype, tc.sizeMiB)
				var st syscall.Statfs_t
				if err := syscall.Statfs(m.mountPoint, &st); err != nil {
					t.Fatalf("statfs(%s): %v", m.mountPoint, err)
				}
				if int64(st.Type) != superMagic[tc.fstype] {
					t.Fatalf("statfs(%s).Type = %#x, want %#x (%s)", m.mountPoint, st.Type, superMagic[tc.fstype], tc.fstype)
				}
				if !mounted(t, m.mountPoint) {
					t.Fatalf("%s is not in /proc/self/mountinfo", m.mountPoint)
				}
				if !attached(t, m.image) {
					t.Fatalf("no loop device is backed by %s", m.image)
				}
				// The volume is usable: write, fsync, read back.
				name := filepath.Join(m.mountPoint, "probe")
				f, err := os.Create(name)
				if err != nil {
					t.Fatalf("creating a file on the mount: %v", err)
				}
				if _, err := f.WriteString("probe"); err != nil {
					t.Fatalf("write: %v", err)
				}
				if err := f.Sync(); err != nil {
					t.Fatalf("fsync: %v", err)
				}
				f.Close()
				if got, err := os.ReadFile(name); err != nil || string(got) != "probe" {
					t.Fatalf("read back %q, %v; want \"probe\", nil", got, err)
				}
			})
			if t.Failed() || m.mountPoint == "" {
				return // skipped or failed: nothing to check about cleanup
			}
			// The subtest's cleanup unmounted and detached.
			if mounted(t, m.mountPoint) {
				t.Fatalf("%s is still mounted after cleanup", m.mountPoint)
			}
			if attached(t, m.image) {
				t.Fatalf("a loop device is still backed by %s after cleanup", m.image)
			}
		})
	}
}

// mounted reports whether dir is a mount point in /proc/self/mountinfo.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("reading mountinfo: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	return false
}

// attached reports whether a loop device is backed by image, even one that
// has since been deleted.
func attached(t *testing.T, image string) bool {
	t.Helper()
	out, err := run("losetup", "--list", "--noheadings", "--output", "BACK-FILE")
	if err != nil {
		t.Fatalf("losetup --list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "(deleted)"))
		if line == image {
			return true
		}
	}
	return false
}
