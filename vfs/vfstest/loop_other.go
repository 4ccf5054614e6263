//go:build !linux

package vfstest

import (
	"runtime"
	"testing"
)

// MountExt4 skips the test: loop-device mounts need Linux.
func MountExt4(t testing.TB, sizeMiB int) string {
	t.Helper()
	return MountFS(t, "ext4", sizeMiB)
}

// MountFS skips the test: loop-device mounts need Linux.
func MountFS(t testing.TB, fstype string, sizeMiB int) string {
	t.Helper()
	t.Skipf("MountFS(%s): loop-device mounts need Linux, running on %s", fstype, runtime.GOOS)
	return ""
}
