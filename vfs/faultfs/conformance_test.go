package faultfs_test

import (
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
	"github.com/holdfast-db/holdfast/vfs/vfstest"
)

// TestConformance runs the suite every vfs.FS must pass, under each
// profile and both directory modes (none of them changes behaviour without
// faults).
func TestConformance(t *testing.T) {
	for _, p := range faultfs.Profiles {
		for _, dirs := range []faultfs.DirMode{faultfs.DirStrict, faultfs.DirLazy} {
			name := string(p)
			if dirs == faultfs.DirLazy {
				name += "/lazy-dirs"
			}
			t.Run(name, func(t *testing.T) {
				vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
					fsys := faultfs.New(faultfs.Options{Profile: p, Dirs: dirs, Seed: 1})
					if err := fsys.MkdirAll("/test", 0o755); err != nil {
						t.Fatal(err)
					}
					return fsys, "/test"
				})
			})
		}
	}
}
