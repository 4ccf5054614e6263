package metrics

import (
	"io/fs"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// logSegmentSuffix is how the log names its segments (internal/wal); a
// segment being created is "<id>.seg.tmp" and is not counted as a group.
const logSegmentSuffix = ".seg"

// FS wraps inner so that every fsync and fdatasync is timed into
// holdfast_fsync_duration_seconds and every write to a log segment, one
// per commit group, is sized into holdfast_wal_group_write_bytes. Pass it
// as holdfast.Options.FS. It changes nothing else: each call goes to inner
// unchanged, and errors come back as they are.
func (m *Metrics) FS(inner vfs.FS) vfs.FS { return &instrumentedFS{FS: inner, m: m} }

type instrumentedFS struct {
	vfs.FS
	m *Metrics
}

func (f *instrumentedFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	kind := "other"
	if strings.HasSuffix(name, logSegmentSuffix) {
		kind = "log"
	}
	return &instrumentedFile{File: file, m: f.m, kind: kind, fsync: f.m.fsync.WithLabelValues(kind)}, nil
}

func (f *instrumentedFS) OpenDir(name string) (vfs.Dir, error) {
	d, err := f.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &instrumentedDir{Dir: d, m: f.m}, nil
}

type instrumentedFile struct {
	vfs.File
	m     *Metrics
	kind  string
	fsync interface{ Observe(float64) }
}

func (f *instrumentedFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	f.fsync.Observe(time.Since(start).Seconds())
	f.m.countError("sync", f.kind, err)
	return err
}

func (f *instrumentedFile) SyncData() error {
	start := time.Now()
	err := f.File.SyncData()
	f.fsync.Observe(time.Since(start).Seconds())
	f.m.countError("sync", f.kind, err)
	return err
}

func (f *instrumentedFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if f.kind == "log" {
		f.m.groupB.Observe(float64(len(p)))
	}
	f.m.countError("write", f.kind, err)
	return n, err
}

func (f *instrumentedFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.m.countError("write", f.kind, err)
	return n, err
}

// countError counts a failed write or sync: each one fail-stops the
// dataspace that issued it (I5), so this counter moves even when the
// dataspace is reopened before a scrape sees it stopped.
func (m *Metrics) countError(op, kind string, err error) {
	if err != nil {
		m.ioErrors.WithLabelValues(op, kind).Inc()
	}
}

type instrumentedDir struct {
	vfs.Dir
	m *Metrics
}

func (d *instrumentedDir) Sync() error {
	start := time.Now()
	err := d.Dir.Sync()
	d.m.fsync.WithLabelValues("other").Observe(time.Since(start).Seconds())
	d.m.countError("sync", "other", err)
	return err
}
