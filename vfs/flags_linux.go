//go:build linux

package vfs

import "golang.org/x/sys/unix"

const (
	oDSync  = unix.O_DSYNC
	oDirect = unix.O_DIRECT
)
