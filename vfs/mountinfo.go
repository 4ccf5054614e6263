package vfs

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// LateSyncErrors reports whether the file system that holds path may
// report a failed fsync only on the next one: ext4 mounted with
// data=journal does (ATC'20, "Can Applications Recover from fsync
// Failures?"). A program that trusts one successful fdatasync there can
// acknowledge data the device never got; syncing twice catches the late
// error before acknowledging. It reads /proc/self/mountinfo; false when it
// cannot tell.
func LateSyncErrors(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		abs = p
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	m, ok := mountFor(bufio.NewScanner(f), abs)
	return ok && lateSyncErrors(m)
}

// mountEntry is the part of a mountinfo line LateSyncErrors needs.
type mountEntry struct {
	point, fstype, source, superOpts string
}

// mountFor returns the mount with the longest mount point containing path.
func mountFor(sc *bufio.Scanner, path string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if !ok || !within(path, m.point) {
			continue
		}
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

func within(path, point string) bool {
	return point == "/" || path == point || strings.HasPrefix(path, point+"/")
}

// parseMountinfo parses one line of /proc/self/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// (mount id, parent, dev, root, mount point, mount options, optional
// fields up to "-", fs type, source, super options). Octal escapes in the
// mount point (\040 for a space) are decoded.
func parseMountinfo(line string) (mountEntry, bool) {
	fields := strings.Fields(line)
	sep := -1
	for i, f := range fields {
		if f == "-" && i >= 6 {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+4 {
		return mountEntry{}, false
	}
	return mountEntry{point: unescapeOctal(fields[4]), fstype: fields[sep+1], source: fields[sep+2], superOpts: fields[sep+3]}, true
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// lateSyncErrors: ext4 with data=journal, or a faultfs FUSE mount whose
// source names the ext4-journal profile it models.
func lateSyncErrors(m mountEntry) bool {
	switch {
	case m.fstype == "ext4":
		for _, o := range strings.Split(m.superOpts, ",") {
			if o == "data=journal" {
				return true
			}
		}
	case strings.HasPrefix(m.fstype, "fuse") && strings.Contains(m.source, "ext4-journal"):
		return true
	}
	return false
}
