package faultfs

import (
	"fmt"
	"io/fs"
	"slices"
	"syscall"
)

// deviceFaults are faults of the medium itself, keyed by path and file
// offset (as CuttleFS keys its faults) so runs replay exactly.
type deviceFaults struct {
	latent    []byteRange
	misdirect []redirect
}

type byteRange struct {
	path     string
	off, len int64
}

type redirect struct {
	path     string
	from, to int64
}

func (d *deviceFaults) latentError(path string, off, length int64) bool {
	for _, r := range d.latent {
		if r.path == path && off < r.off+r.len && r.off < off+length {
			return true
		}
	}
	return false
}

// redirect returns where a page write to (path, off) lands, consuming a
// one-shot misdirection rule if one matches.
func (d *deviceFaults) redirect(path string, off int64) int64 {
	for i, r := range d.misdirect {
		if r.path == path && r.from == off {
			d.misdirect = slices.Delete(d.misdirect, i, i+1)
			return r.to
		}
	}
	return off
}

// LatentReadError makes reads of [offset, offset+length) of the file at
// path from the device fail with EIO until ClearDeviceFaults, as a latent
// sector error does. Cached pages are still served: evict them to see it.
func (fsys *FS) LatentReadError(path string, offset, length int64) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.faults.latent = append(fsys.faults.latent, byteRange{path: clean(path), off: offset, len: length})
}

// MisdirectWrite makes the next write of the page at fromOffset of the
// file at path to the medium land at toOffset instead (both page-aligned),
// leaving the old content at fromOffset: a misdirected write.
func (fsys *FS) MisdirectWrite(path string, fromOffset, toOffset int64) error {
	if fromOffset%PageSizeBytes != 0 || toOffset%PageSizeBytes != 0 || fromOffset < 0 || toOffset < 0 {
		return fmt.Errorf("faultfs: misdirected write offsets %d -> %d must be page-aligned and non-negative", fromOffset, toOffset)
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.faults.misdirect = append(fsys.faults.misdirect, redirect{path: clean(path), from: fromOffset, to: toOffset})
	return nil
}

// ClearDeviceFaults removes latent read errors and pending misdirections.
func (fsys *FS) ClearDeviceFaults() {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	fsys.faults = deviceFaults{}
}

// FlipBit flips one bit of the durable medium of the file at path, as
// silent corruption does. The change is seen by reads that reach the
// device: after eviction, through O_DIRECT, or after a crash. The offset
// must lie inside the bytes the medium holds.
func (fsys *FS) FlipBit(path string, offset int64, bit uint) error {
	if bit > 7 {
		return fmt.Errorf("faultfs: bit %d is not in 0..7", bit)
	}
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	ino, err := fsys.lookup(clean(path))
	if err != nil {
		return &fs.PathError{Op: "flipbit", Path: path, Err: err}
	}
	if ino.isDir || offset < 0 || offset >= int64(len(ino.disk)) {
		return &fs.PathError{Op: "flipbit", Path: path, Err: fmt.Errorf("offset %d outside the %d durable bytes", offset, len(ino.disk))}
	}
	ino.disk[offset] ^= 1 << bit
	fsys.markWrite(ino, offset, 1)
	return fsys.applyStore()
}

// EvictCleanPages drops clean pages from the cache, of the file at path or
// of every file when path is empty, as memory pressure does. Afterwards
// reads come from the device: after a failed sync on ext4 or XFS this is
// when stale data becomes visible.
func (fsys *FS) EvictCleanPages(path string) error {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	evict := func(ino *inode) {
		for i, pg := range ino.pages {
			if pg.dirty == 0 {
				delete(ino.pages, i)
			}
		}
	}
	if path == "" {
		fsys.walk(fsys.root, "/", make(map[*inode]bool), func(_ string, ino *inode) { evict(ino) })
		return nil
	}
	ino, err := fsys.lookup(clean(path))
	if err != nil {
		return &fs.PathError{Op: "evict", Path: path, Err: err}
	}
	evict(ino)
	return nil
}

// Writeback runs the kernel's background write-back for the file at path
// (every file when path is empty): dirty pages go to the device's volatile
// cache and become clean; they are durable only after the next sync. An
// injector can fail it (OpWriteback, or OpDeviceWrite per page); the
// profile's reaction applies, and the error waits in the file's error
// sequence: every descriptor open now reports it on its next sync, or, if
// none is open, the next descriptor opened does.
func (fsys *FS) Writeback(path string) error {
	p := ""
	if path != "" {
		p = clean(path)
	}
	op := Op{Kind: OpWriteback, Path: p}
	st, err := fsys.begin(op, nil)
	if err != nil {
		return err
	}
	var firstErr error
	do := func(fp string, ino *inode) {
		if err := fsys.writeback(ino, fp, st.injected); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if p == "" {
		fsys.walk(fsys.root, "/", make(map[*inode]bool), do)
	} else if ino, err := fsys.lookup(p); err != nil {
		firstErr = err
	} else {
		do(p, ino)
	}
	if firstErr == syscall.EIO {
		firstErr = &fs.PathError{Op: "writeback", Path: path, Err: syscall.EIO}
	}
	return fsys.end(op, st, firstErr)
}

// UnsyncedBytes reports how many bytes of the file at path (all files when
// empty) would be lost by a crash now: dirty sectors and device-cache
// writes (LazyFS's unsynced-data report).
func (fsys *FS) UnsyncedBytes(path string) (int64, error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	var total int64
	count := func(_ string, ino *inode) {
		for _, pg := range ino.pages {
			for s := 0; s < sectorsPerPage; s++ {
				if pg.dirty&(1<<s) != 0 {
					total += SectorSizeBytes
				}
			}
		}
		for _, w := range ino.volatile {
			total += int64(len(w.data))
		}
	}
	if path == "" {
		fsys.walk(fsys.root, "/", make(map[*inode]bool), count)
		return total, nil
	}
	ino, err := fsys.lookup(clean(path))
	if err != nil {
		return 0, &fs.PathError{Op: "unsynced", Path: path, Err: err}
	}
	count(path, ino)
	return total, nil
}

// DurableContent returns what the medium holds for the file at path, up
// to its durable size: what a crash that keeps nothing unsynced would
// leave (if the file's directory entry is durable too).
func (fsys *FS) DurableContent(path string) ([]byte, error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	ino, err := fsys.lookup(clean(path))
	if err != nil {
		return nil, &fs.PathError{Op: "durable", Path: path, Err: err}
	}
	if ino.isDir {
		return nil, &fs.PathError{Op: "durable", Path: path, Err: syscall.EISDIR}
	}
	out := make([]byte, ino.diskSize)
	copy(out, ino.disk)
	return out, nil
}
