package crashtest

import (
	"errors"
	"io/fs"
	"path"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Defects switch on deliberate durability bugs, one at a time, to show
// that the checker catches each (a checker that never fires proves
// nothing). All are off in a normal exploration.
//
// The engine has no switches for these bugs, so they are reproduced at
// the two places the explorer controls: the sync policy it asks for and
// the file system it hands the engine (a wrapper around the faultfs
// doing what the buggy engine would do to it).
type Defects struct {
	// AckBeforeSync acknowledges writes before they are durable: every
	// dataspace is created with sync=interval while the checker holds it
	// to the sync=always rules (I1, I2).
	AckBeforeSync bool
	// SkipSegmentDirSync leaves out the directory sync that makes a new
	// log segment's name durable: Dir.Sync of a log directory does
	// nothing.
	SkipSegmentDirSync bool
	// RetryFailedSync retries a failed fsync/fdatasync once and believes
	// the retry (the PostgreSQL "fsyncgate" bug, ATC'20 §1).
	RetryFailedSync bool
	// TrustPageCache reads the log back through the page cache: O_DIRECT
	// is dropped from every open, so a reopen after a failed sync reads
	// pages the device never got (I5).
	TrustPageCache bool
	// TruncateMidLogDamage treats damage in the middle of the log as a
	// torn tail and cuts it (I4): the sectors from a flipped bit to the
	// end of that segment read as never written, which is what a
	// recovery that truncates there would then serve. Every run damages
	// a log before its final restart.
	TruncateMidLogDamage bool
}

// needsWrapper reports whether the engine must see the defect wrapper.
func (d Defects) needsWrapper() bool {
	return d.SkipSegmentDirSync || d.RetryFailedSync || d.TrustPageCache || d.TruncateMidLogDamage
}

// String names the defects switched on.
func (d Defects) String() string {
	s := ""
	add := func(on bool, name string) {
		if on {
			if s != "" {
				s += ","
			}
			s += name
		}
	}
	add(d.AckBeforeSync, "ack-before-sync")
	add(d.SkipSegmentDirSync, "skip-segment-dir-sync")
	add(d.RetryFailedSync, "retry-failed-sync")
	add(d.TrustPageCache, "trust-page-cache")
	add(d.TruncateMidLogDamage, "truncate-mid-log-damage")
	if s == "" {
		return "none"
	}
	return s
}

// defectFS wraps the file system the engine uses and misbehaves as the
// switched-on defects say.
type defectFS struct {
	vfs.FS
	d      Defects
	damage **damageSpec
}

func newDefectFS(inner vfs.FS, d Defects, damage **damageSpec) *defectFS {
	return &defectFS{FS: inner, d: d, damage: damage}
}

func (f *defectFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if f.d.TrustPageCache {
		flag &^= vfs.ODirect
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &defectFile{File: file, fs: f, path: path.Clean(name)}, nil
}

func (f *defectFS) OpenDir(name string) (vfs.Dir, error) {
	d, err := f.FS.OpenDir(name)
	if err != nil || !f.d.SkipSegmentDirSync || path.Base(path.Clean(name)) != "wal" {
		return d, err
	}
	return skipSyncDir{d}, nil
}

type skipSyncDir struct{ vfs.Dir }

func (skipSyncDir) Sync() error { return nil }

type defectFile struct {
	vfs.File
	fs   *defectFS
	path string
}

func (f *defectFile) retry(sync func() error) error {
	err := sync()
	if err != nil && f.fs.d.RetryFailedSync && !errors.Is(err, faultfs.ErrCrashed) {
		err = sync()
	}
	return err
}

func (f *defectFile) Sync() error     { return f.retry(f.File.Sync) }
func (f *defectFile) SyncData() error { return f.retry(f.File.SyncData) }

func (f *defectFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if d := *f.fs.damage; f.fs.d.TruncateMidLogDamage && d != nil && d.path == f.path {
		cut := d.offset &^ (vfs.SectorSizeBytes - 1)
		if from := cut - off; from < int64(n) {
			clear(p[max(from, 0):n])
		}
	}
	return n, err
}
