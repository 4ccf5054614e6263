//go:build !linux

package holdfast

func lockHeld(string) bool { return false }
