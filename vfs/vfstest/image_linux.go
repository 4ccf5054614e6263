package vfstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MountExt4Image is MountExt4 that also returns the image file behind the
// loop device, for tests that copy it while it is mounted: the copy holds
// only what reached the device, as a volume snapshot does.
func MountExt4Image(t testing.TB, sizeMiB int) (mountPoint, image string) {
	t.Helper()
	m := mountLoop(t, "ext4", sizeMiB)
	return m.mountPoint, m.image
}

// MountImage attaches an existing file-system image (such as a copy made
// while the original was mounted) to a loop device and mounts it on a new
// directory, read-write so the journal can be replayed. The mount and the
// loop device are undone when the test ends, even if it fails; failures to
// do so are logged.
func MountImage(t testing.TB, image, fstype string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("MountImage: needs root, running as euid %d", os.Geteuid())
	}
	out, err := run("losetup", "--find", "--show", image)
	if err != nil {
		t.Fatalf("MountImage: losetup --find --show %s: %v\n%s", image, err, out)
	}
	device := strings.TrimSpace(out)
	t.Cleanup(func() {
		if out, err := run("losetup", "--detach", device); err != nil {
			t.Logf("MountImage cleanup: losetup --detach %s: %v\n%s", device, err, out)
		}
	})
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := run("mount", "-t", fstype, device, mnt); err != nil {
		t.Fatalf("MountImage: mount -t %s %s %s: %v\n%s", fstype, device, mnt, err, out)
	}
	t.Cleanup(func() { unmount(t, mnt) })
	return mnt
}
