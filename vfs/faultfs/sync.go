package faultfs

import (
	"slices"
	"syscall"

	"github.com/holdfast-db/holdfast/vfs"
)

// writeDirect is an O_DIRECT write: it bypasses the page cache (cached
// pages in the range are superseded and dropped) and lands in the device's
// volatile cache, durable only after the next sync of the file. p and off
// are aligned to whole pages.
func (fsys *FS) writeDirect(ino *inode, p []byte, off int64) int {
	for i := off / PageSizeBytes; i < (off+int64(len(p)))/PageSizeBytes; i++ {
		delete(ino.pages, i)
	}
	if end := off + int64(len(p)); end > ino.size {
		fsys.setSize(ino, end)
	}
	ino.volatile = append(ino.volatile, devWrite{off: off, data: slices.Clone(p)})
	return len(p)
}

// readDirect is an O_DIRECT read. As Linux does, it first writes dirty
// cached pages in the range to the device (not durably), then reads the
// device, never the cache: a clean cached page whose write failed is not
// seen. That is why a log read back with O_DIRECT tells the truth after a
// failed fsync, and a buffered read may not.
func (fsys *FS) readDirect(ino *inode, path string, p []byte, off int64) (int, error) {
	if off >= ino.size {
		return 0, nil
	}
	first, last := off/PageSizeBytes, (off+int64(len(p))-1)/PageSizeBytes
	for _, i := range ino.sortedPages() {
		if pg := ino.pages[i]; i >= first && i <= last && pg.dirty != 0 {
			ino.volatile = append(ino.volatile, devWrite{off: i * PageSizeBytes, data: slices.Clone(pg.data[:])})
			pg.dirty = 0
		}
	}
	n := int(min(int64(len(p)), ino.size-off))
	whole := int(vfs.AlignUp(int64(n)))
	buf := p
	if whole > len(p) {
		buf = make([]byte, whole)
	}
	if err := fsys.readDevice(ino, path, buf[:whole], off); err != nil {
		return 0, err
	}
	if whole > len(p) {
		copy(p, buf[:n])
	}
	// The device holds bytes past the size only as zeros; clear them so
	// the caller sees what a real read would.
	clear(p[n:])
	return n, nil
}

// syncFile is fsync/fdatasync of one file (f is the descriptor, nil for
// none). injected is an error an injector gave for the whole sync; pages
// can also fail one by one through OpDeviceWrite. It returns the error the
// caller should see, which the profile decides.
func (fsys *FS) syncFile(ino *inode, path string, f *file, injected error) error {
	fsys.stats.Syncs++
	if ino.isDir {
		return nil
	}
	profile := fsys.opts.Profile

	if ino.journalPending {
		// ext4 data=journal: the journal write behind an earlier
		// "successful" sync failed. This sync writes nothing and
		// reports the error; the pages are clean, as after any failure.
		ino.journalPending = false
		for _, pg := range ino.pages {
			pg.dirty = 0
		}
		ino.volatile = nil
		fsys.stats.FailedSyncs++
		return fsys.recordFailure(ino, f)
	}

	failedPages, failedWrites := fsys.deviceWrites(ino, path, injected != nil)
	failed := injected != nil || len(failedPages) > 0 || len(failedWrites) > 0
	if !failed {
		fsys.persist(ino, path, nil, nil)
		return fsys.pendingError(ino, f)
	}
	fsys.stats.FailedSyncs++

	switch profile {
	case ProfileStrict:
		// Dirty data is never lost: nothing is written, everything stays
		// dirty (or in the device cache) for a later sync to retry.
		return fsys.recordFailure(ino, f)

	case ProfileExt4Ordered, ProfileXFS:
		// The pages that failed are marked clean but keep the new
		// content; the rest, and size and block map, are persisted.
		fsys.persist(ino, path, failedPages, failedWrites)
		for i := range failedPages {
			if pg, ok := ino.pages[i]; ok {
				pg.dirty = 0
			}
		}
		return fsys.recordFailure(ino, f)

	case ProfileBtrfs:
		// Copy-on-write: the new blocks are freed and the in-memory
		// state reloaded from disk. Descriptor offsets are not reverted.
		fsys.revertToDisk(ino)
		return fsys.recordFailure(ino, f)

	case ProfileExt4Journal:
		// The data reached the journal, so the sync says yes; writing
		// the journal to its place failed, so nothing is durable, and
		// the next sync will fail.
		for _, pg := range ino.pages {
			pg.dirty = 0
		}
		ino.volatile = nil
		ino.journalPending = true
		return fsys.pendingError(ino, f)
	}
	panic("faultfs: unknown profile " + string(profile))
}

// deviceWrites consults the injector for each page the sync would write
// and returns the dirty pages and volatile writes that failed. With all
// set, every one fails without consulting the injector.
func (fsys *FS) deviceWrites(ino *inode, path string, all bool) (map[int64]bool, map[int]bool) {
	failedWrites := make(map[int]bool)
	for wi, w := range ino.volatile {
		for off := w.off; off < w.off+int64(len(w.data)); off += PageSizeBytes {
			if all || fsys.deviceWriteFails(path, off) {
				failedWrites[wi] = true
				break
			}
		}
	}
	return fsys.failedPages(ino, path, all), failedWrites
}

func (fsys *FS) deviceWriteFails(path string, off int64) bool {
	op := Op{Kind: OpDeviceWrite, Path: path, Offset: off, Length: PageSizeBytes}
	err := fsys.inject(op)
	if err != nil {
		fsys.oplog.add(op, err)
	}
	return err != nil
}

// persist writes the file to the durable medium: the size change first
// (blocks freed by a shrink are cut), then the volatile device writes in
// order, then the dirty sectors of cached pages, except the failed ones,
// which are left as they are for the caller to handle.
func (fsys *FS) persist(ino *inode, path string, failedPages map[int64]bool, failedWrites map[int]bool) {
	if cut := min(int64(len(ino.disk)), ino.lowSize); cut < int64(len(ino.disk)) {
		ino.disk = ino.disk[:cut]
		fsys.markCut(ino, cut)
	}
	// Grow the medium to the new size once, not sector by sector.
	writeBytes(&ino.disk, ino.size, nil)
	for wi, w := range ino.volatile {
		if !failedWrites[wi] {
			fsys.writeMedium(ino, path, w.off, w.data, 0xff)
		}
	}
	ino.volatile = nil
	for _, i := range ino.dirtyPages() {
		if failedPages[i] {
			continue
		}
		pg := ino.pages[i]
		fsys.writeMedium(ino, path, i*PageSizeBytes, pg.data[:], pg.dirty)
		pg.dirty = 0
	}
	if int64(len(ino.disk)) > ino.size {
		ino.disk = ino.disk[:ino.size]
		fsys.markCut(ino, ino.size)
	}
	if ino.diskSize != ino.size {
		fsys.markNamespace() // the size alone changed: the store must see it
	}
	ino.diskSize = ino.size
	ino.lowSize = ino.size
	ino.metaDirty = false
}

// writeMedium writes data at off to the medium, page by page, only the
// sectors set in mask (mask applies to each page; 0xff writes all), and
// honours misdirected-write faults.
func (fsys *FS) writeMedium(ino *inode, path string, off int64, data []byte, mask uint8) {
	for done := int64(0); done < int64(len(data)); done += PageSizeBytes {
		pageOff := off + done
		target := fsys.faults.redirect(path, pageOff)
		chunk := data[done:min(done+PageSizeBytes, int64(len(data)))]
		for s := 0; s*SectorSizeBytes < len(chunk); s++ {
			if mask&(1<<s) == 0 {
				continue
			}
			sector := chunk[s*SectorSizeBytes : min((s+1)*SectorSizeBytes, len(chunk))]
			writeBytes(&ino.disk, target+int64(s*SectorSizeBytes), sector)
		}
		fsys.markWrite(ino, target, int64(len(chunk)))
		fsys.stats.DeviceWrites++
	}
}

// writeBytes copies p into *b at off, growing *b with zeros as needed.
// Growth doubles the capacity, so a file written sector by sector is not
// copied again at every step; bytes between the old length and off are
// zeroed, since a cut medium keeps its old bytes in its capacity.
func writeBytes(b *[]byte, off int64, p []byte) {
	if end := off + int64(len(p)); end > int64(len(*b)) {
		old := len(*b)
		if end > int64(cap(*b)) {
			nb := make([]byte, end, max(end, 2*int64(cap(*b))))
			copy(nb, *b)
			*b = nb
		} else {
			*b = (*b)[:end]
			clear((*b)[old:])
		}
	}
	copy((*b)[off:], p)
}

// revertToDisk is Btrfs's reaction: drop dirty pages and device-cache
// writes, and reload the size from disk.
func (fsys *FS) revertToDisk(ino *inode) {
	for i, pg := range ino.pages {
		if pg.dirty != 0 || i*PageSizeBytes >= ino.diskSize {
			delete(ino.pages, i)
		}
	}
	ino.volatile = nil
	ino.size = ino.diskSize
	ino.lowSize = ino.diskSize
	ino.metaDirty = false
	for i, pg := range ino.pages {
		zeroPast(pg, i, ino.size)
	}
}

// recordFailure notes a write-back failure in the file's error sequence
// and returns EIO for the descriptor that saw it (none: f is nil, and the
// error waits for the next descriptor to sync).
func (fsys *FS) recordFailure(ino *inode, f *file) error {
	ino.errGen++
	ino.errSeen = false
	if f == nil {
		return syscall.EIO
	}
	f.errSampled = ino.errGen
	ino.errSeen = true
	return syscall.EIO
}

// pendingError reports, once, a failure that happened since the
// descriptor last looked (errseq_t semantics).
func (fsys *FS) pendingError(ino *inode, f *file) error {
	if f == nil || f.errSampled >= ino.errGen {
		return nil
	}
	f.errSampled = ino.errGen
	ino.errSeen = true
	return syscall.EIO
}

// sampleError is what a descriptor records at open: an error nobody has
// seen yet will be reported to it.
func sampleError(ino *inode) uint64 {
	if ino.errGen > 0 && !ino.errSeen {
		return ino.errGen - 1
	}
	return ino.errGen
}

// writeback is the kernel's background write-back of one file: dirty pages
// go to the device's volatile cache (not yet durable) and become clean.
// Failed pages get the profile's reaction and the error waits in the
// file's error sequence for a descriptor to sync.
func (fsys *FS) writeback(ino *inode, path string, injected error) error {
	if ino.isDir {
		return nil
	}
	failedPages := fsys.failedPages(ino, path, injected != nil)
	for _, i := range ino.dirtyPages() {
		if failedPages[i] {
			continue
		}
		pg := ino.pages[i]
		ino.volatile = append(ino.volatile, devWrite{off: i * PageSizeBytes, data: slices.Clone(pg.data[:])})
		pg.dirty = 0
	}
	if len(failedPages) == 0 {
		return nil
	}
	switch fsys.opts.Profile {
	case ProfileStrict:
		// failed pages stay dirty
	case ProfileBtrfs:
		fsys.revertToDisk(ino)
	default:
		for i := range failedPages {
			ino.pages[i].dirty = 0
		}
	}
	return fsys.recordFailure(ino, nil)
}

// failedPages consults the injector for each dirty page write-back would
// write and returns those that failed (all of them with all set).
func (fsys *FS) failedPages(ino *inode, path string, all bool) map[int64]bool {
	failed := make(map[int64]bool)
	for _, i := range ino.dirtyPages() {
		if all || fsys.deviceWriteFails(path, i*PageSizeBytes) {
			failed[i] = true
		}
	}
	return failed
}
