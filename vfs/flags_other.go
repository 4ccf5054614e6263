//go:build !linux

package vfs

// Values chosen not to collide with the os package's flags; the OS
// implementation rejects ODirect on these platforms.
const (
	oDSync  = 0x1000000
	oDirect = 0x2000000
)
