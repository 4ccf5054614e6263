package vfs

import (
	"bufio"
	"strings"
	"testing"
)

func TestLateSyncErrorsFromMountinfo(t *testing.T) {
	const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,errors=remount-ro
40 22 7:0 / /mnt/journal rw,relatime shared:2 - ext4 /dev/loop0 rw,data=journal
41 22 7:1 / /mnt/ordered rw,relatime shared:3 - ext4 /dev/loop1 rw,data=ordered
42 40 7:2 / /mnt/journal/inner rw,relatime shared:4 - xfs /dev/loop2 rw,attr2
43 22 0:50 / /mnt/with\040space rw,relatime shared:5 - ext4 /dev/loop3 rw,data=journal
44 22 0:51 / /mnt/fault rw,nosuid,nodev shared:6 - fuse.faultfs faultfs:ext4-journal rw,user_id=0
45 22 0:52 / /mnt/fault2 rw,nosuid,nodev shared:7 - fuse.faultfs faultfs:xfs rw,user_id=0
bad line
`
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/data", false},
		{"/mnt/journal", true},
		{"/mnt/journal/db/dataspaces/x", true},
		{"/mnt/journalx/db", false},
		{"/mnt/ordered/db", false},
		{"/mnt/journal/inner/db", false}, // the innermost mount decides
		{"/mnt/with space/db", true},
		{"/mnt/fault/db", true},
		{"/mnt/fault2/db", false},
	} {
		m, ok := mountFor(bufio.NewScanner(strings.NewReader(mountinfo)), c.path)
		if got := ok && lateSyncErrors(m); got != c.want {
			t.Errorf("%s: late sync errors %v (mount %+v), want %v", c.path, got, m, c.want)
		}
	}
	// The machine's own mountinfo parses, and a missing path is no error.
	_ = LateSyncErrors(t.TempDir())
	_ = LateSyncErrors("/no/such/path")
}
