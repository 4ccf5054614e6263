//go:build linux

package vfstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mkfsCommands gives, for each file system MountFS knows, the mkfs program
// and the arguments that make it quiet and let it overwrite the image.
var mkfsCommands = map[string][]string{
	"ext4":  {"mkfs.ext4", "-q", "-F"},
	"xfs":   {"mkfs.xfs", "-q", "-f"},
	"btrfs": {"mkfs.btrfs", "-q", "-f"},
}

// Smallest images the mkfs programs accept (xfsprogs 5.19 and later refuse
// file systems under 300 MiB; mkfs.btrfs needs about 114 MiB for its default
// profiles).
const (
	minExt4SizeMiB  = 2
	minXFSSizeMiB   = 300
	minBtrfsSizeMiB = 128
)

var minSizeMiB = map[string]int{
	"ext4":  minExt4SizeMiB,
	"xfs":   minXFSSizeMiB,
	"btrfs": minBtrfsSizeMiB,
}

// MountExt4 creates a sparse sizeMiB image in t.TempDir(), makes an ext4
// file system on it, attaches it to a loop device and mounts it on a new
// directory, whose path it returns. When the test ends the file system is
// unmounted and the loop device detached; failures to do so are logged, not
// reported as test failures.
//
// It needs root, /dev/loop-control, and losetup, mkfs.ext4, mount and
// umount on PATH (scripts/install-test-deps.sh installs them); when any of
// these is missing the test is skipped with a message naming it.
func MountExt4(t testing.TB, sizeMiB int) string {
	t.Helper()
	return MountFS(t, "ext4", sizeMiB)
}

// MountFS is MountExt4 for any of "ext4", "xfs" and "btrfs". XFS needs at
// least 300 MiB and Btrfs at least 128 MiB; smaller sizes fail the test, as
// does an unknown fstype. A missing mkfs program, or a kernel without the
// file system, skips the test with a message that says so.
func MountFS(t testing.TB, fstype string, sizeMiB int) string {
	t.Helper()
	return mountLoop(t, fstype, sizeMiB).mountPoint
}

// loopMount describes a mounted loop device.
type loopMount struct {
	image      string // the backing image file
	device     string // e.g. /dev/loop3
	mountPoint string
}

// mountLoop does the work of MountFS and returns every name it made, for
// tests of the harness itself.
func mountLoop(t testing.TB, fstype string, sizeMiB int) loopMount {
	t.Helper()
	mkfs, ok := mkfsCommands[fstype]
	if !ok {
		t.Fatalf("MountFS: unknown file system %q (want ext4, xfs or btrfs)", fstype)
	}
	if least := minSizeMiB[fstype]; sizeMiB < least {
		t.Fatalf("MountFS: %s needs at least %d MiB, asked for %d", fstype, least, sizeMiB)
	}
	if euid := os.Geteuid(); euid != 0 {
		t.Skipf("MountFS(%s): needs root to attach loop devices and mount, running as euid %d", fstype, euid)
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("MountFS(%s): /dev/loop-control is missing (%v); no loop device support here", fstype, err)
	}
	for _, tool := range []string{"losetup", mkfs[0], "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("MountFS(%s): %s is not on PATH (run scripts/install-test-deps.sh as root): %v", fstype, tool, err)
		}
	}

	// One temporary directory holds the image and the mount point. Its
	// removal was registered first, so it runs after the unmount below.
	base := t.TempDir()
	m := loopMount{
		image:      filepath.Join(base, fstype+".img"),
		mountPoint: filepath.Join(base, "mnt"),
	}
	img, err := os.OpenFile(m.image, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("MountFS: creating image: %v", err)
	}
	// Truncate leaves the image sparse: only what mkfs and the test write
	// takes space.
	err = img.Truncate(int64(sizeMiB) << 20)
	if cerr := img.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("MountFS: sizing image to %d MiB: %v", sizeMiB, err)
	}

	if out, err := run(mkfs[0], append(mkfs[1:], m.image)...); err != nil {
		t.Fatalf("MountFS: %s %s: %v\n%s", mkfs[0], m.image, err, out)
	}
	out, err := run("losetup", "--find", "--show", m.image)
	if err != nil {
		t.Fatalf("MountFS: losetup --find --show %s: %v\n%s", m.image, err, out)
	}
	m.device = strings.TrimSpace(out)
	t.Cleanup(func() {
		if out, err := run("losetup", "--detach", m.device); err != nil {
			t.Logf("MountFS cleanup: losetup --detach %s: %v\n%s", m.device, err, out)
		}
	})

	if err := os.Mkdir(m.mountPoint, 0o755); err != nil {
		t.Fatalf("MountFS: %v", err)
	}
	if out, err := run("mount", "-t", fstype, m.device, m.mountPoint); err != nil {
		if !kernelHas(fstype) {
			t.Skipf("MountFS(%s): the kernel does not support %s (not in /proc/filesystems, mount failed: %v: %s)",
				fstype, fstype, err, strings.TrimSpace(out))
		}
		t.Fatalf("MountFS: mount -t %s %s %s: %v\n%s", fstype, m.device, m.mountPoint, err, out)
	}
	t.Cleanup(func() { unmount(t, m.mountPoint) })
	return m
}

// unmount unmounts dir, retrying while it is busy, and falls back to a lazy
// unmount so the loop device can still be detached. Failures are logged.
func unmount(t testing.TB, dir string) {
	var out string
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if out, err = run("umount", dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("MountFS cleanup: umount %s: %v\n%s", dir, err, out)
	if out, err := run("umount", "--lazy", dir); err != nil {
		t.Logf("MountFS cleanup: umount --lazy %s: %v\n%s", dir, err, out)
	}
}

// run runs a program and returns its combined output.
func run(name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("%s exited with %d", name, exit.ExitCode())
	}
	return out.String(), err
}

// kernelHas reports whether /proc/filesystems lists fstype.
func kernelHas(fstype string) bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[len(fields)-1] == fstype {
			return true
		}
	}
	return false
}
