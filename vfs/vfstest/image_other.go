//go:build !linux

package vfstest

import (
	"runtime"
	"testing"
)

// MountExt4Image skips the test: loop-device mounts need Linux.
func MountExt4Image(t testing.TB, sizeMiB int) (mountPoint, image string) {
	t.Helper()
	t.Skipf("MountExt4Image: loop-device mounts need Linux, running on %s", runtime.GOOS)
	return "", ""
}

// MountImage skips the test: loop-device mounts need Linux.
func MountImage(t testing.TB, image, fstype string) string {
	t.Helper()
	t.Skipf("MountImage: loop-device mounts need Linux, running on %s", runtime.GOOS)
	return ""
}
