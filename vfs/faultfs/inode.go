package faultfs

import (
	"slices"
	"syscall"
)

// inode is a file or a directory.
//
// For a file, the visible content is: the cached page if there is one, else
// the device view (medium, then volatile device writes, with bytes at or past
// lowSize reading as zero), clipped to size. Invariants, checked by
// checkInvariants in tests:
//   - bytes of a cached page at or past size are zero;
//   - a dirty page is newer than any volatile device write it overlaps;
//   - lowSize <= size and lowSize <= diskSize.
type inode struct {
	id    uint64
	isDir bool

	// Page cache and in-memory metadata.
	size  int64
	pages map[int64]*page // by page index
	// lowSize is the smallest size the file has had since its size was
	// last persisted: blocks past it are freed in memory, so the device
	// view reads zeros there even though the medium still holds bytes.
	lowSize   int64
	metaDirty bool // size or allocation changed since it was last persisted

	// The device.
	disk     []byte     // the durable medium; bytes past len(disk) are zero
	diskSize int64      // the durable size
	volatile []devWrite // writes in the device's volatile cache, oldest first

	// Error state, as Linux's errseq_t: errGen counts failures; errSeen
	// says whether any descriptor has reported the latest one.
	errGen  uint64
	errSeen bool
	// journalPending: ext4 data=journal accepted a sync whose journal write
	// failed; the next sync fails and writes nothing.
	journalPending bool

	// store tracks medium changes not yet handed to the Store.
	store storeTrack

	// Directory entries: visible now, and durable.
	children map[string]*inode
	durable  map[string]*inode
}

// page is one cached 4 KiB page. dirty has one bit per 512-byte sector.
type page struct {
	data  [PageSizeBytes]byte
	dirty uint8
}

// devWrite is a write sitting in the device's volatile cache.
type devWrite struct {
	off  int64
	data []byte
}

func (fsys *FS) newFile() *inode {
	fsys.nextID++
	ino := &inode{id: fsys.nextID, pages: make(map[int64]*page)}
	ino.store.reset()
	return ino
}

func (fsys *FS) newDir() *inode {
	fsys.nextID++
	return &inode{id: fsys.nextID, isDir: true, children: make(map[string]*inode), durable: make(map[string]*inode)}
}

// sortedPages returns the indexes of cached pages in order, so every walk
// over the cache (and every random draw made during it) is deterministic.
func (ino *inode) sortedPages() []int64 {
	idx := make([]int64, 0, len(ino.pages))
	for i := range ino.pages {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

func (ino *inode) dirtyPages() []int64 {
	var idx []int64
	for _, i := range ino.sortedPages() {
		if ino.pages[i].dirty != 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// deviceRange fills p with the device view at off: the medium, zero at or
// past lowSize, with the volatile writes laid over it in order.
func (ino *inode) deviceRange(p []byte, off int64) {
	clear(p)
	end := off + int64(len(p))
	mediumEnd := min(int64(len(ino.disk)), ino.lowSize)
	if off < mediumEnd {
		copy(p, ino.disk[off:min(end, mediumEnd)])
	}
	for _, w := range ino.volatile {
		overlay(p, off, w.data, w.off)
	}
}

// overlay copies the part of src (at file offset srcOff) that falls inside
// dst (at file offset dstOff).
func overlay(dst []byte, dstOff int64, src []byte, srcOff int64) {
	lo := max(dstOff, srcOff)
	hi := min(dstOff+int64(len(dst)), srcOff+int64(len(src)))
	if lo < hi {
		copy(dst[lo-dstOff:hi-dstOff], src[lo-srcOff:hi-srcOff])
	}
}

// loadPage returns the cached page i, reading it from the device on a miss.
// A device read consults the injector (OpDeviceRead) and the latent error
// ranges; a failure is EIO and caches nothing.
func (fsys *FS) loadPage(ino *inode, path string, i int64) (*page, error) {
	if pg, ok := ino.pages[i]; ok {
		return pg, nil
	}
	pg := &page{}
	if err := fsys.readDevice(ino, path, pg.data[:], i*PageSizeBytes); err != nil {
		return nil, err
	}
	zeroPast(pg, i, ino.size)
	ino.pages[i] = pg
	return pg, nil
}

// readDevice reads the device view at off, page by page, consulting the
// fault model for each page. off and len(p) are page-aligned.
func (fsys *FS) readDevice(ino *inode, path string, p []byte, off int64) error {
	for done := 0; done < len(p); done += PageSizeBytes {
		pageOff := off + int64(done)
		op := Op{Kind: OpDeviceRead, Path: path, Offset: pageOff, Length: PageSizeBytes}
		if err := fsys.inject(op); err != nil {
			fsys.oplog.add(op, err)
			return syscall.EIO
		}
		if fsys.faults.latentError(path, pageOff, PageSizeBytes) {
			fsys.oplog.add(op, syscall.EIO)
			return syscall.EIO
		}
		fsys.stats.DeviceReads++
		ino.deviceRange(p[done:done+PageSizeBytes], pageOff)
	}
	return nil
}

// zeroPast clears the bytes of page i at or past size.
func zeroPast(pg *page, i, size int64) {
	start := i * PageSizeBytes
	if size <= start {
		clear(pg.data[:])
	} else if size < start+PageSizeBytes {
		clear(pg.data[size-start:])
	}
}

// sectorMask returns the dirty bits for bytes [lo, hi) of a page.
func sectorMask(lo, hi int) uint8 {
	var m uint8
	for s := lo / SectorSizeBytes; s*SectorSizeBytes < hi; s++ {
		m |= 1 << s
	}
	return m
}

// readAt reads the visible content into p at off, returning the count; it
// stops at size.
func (fsys *FS) readAt(ino *inode, path string, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off+int64(n) < ino.size {
		pos := off + int64(n)
		i := pos / PageSizeBytes
		pg, err := fsys.loadPage(ino, path, i)
		if err != nil {
			return n, err
		}
		within := pos - i*PageSizeBytes
		want := min(int64(len(p)-n), PageSizeBytes-within, ino.size-pos)
		n += copy(p[n:n+int(want)], pg.data[within:within+want])
	}
	return n, nil
}

// writeAt is a buffered write: it changes cached pages and marks the
// written sectors dirty. Partial pages are read from the device first, as
// the kernel does, and that read can fail.
func (fsys *FS) writeAt(ino *inode, path string, p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	// Read every partial page before changing anything, so a device read
	// error leaves the file as it was.
	for _, i := range []int64{off / PageSizeBytes, (end - 1) / PageSizeBytes} {
		if len(p) > 0 {
			if _, err := fsys.loadPage(ino, path, i); err != nil {
				return 0, err
			}
		}
	}
	if end > ino.size {
		fsys.setSize(ino, end)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		i := pos / PageSizeBytes
		pg, ok := ino.pages[i]
		if !ok {
			// Partial first and last pages were loaded above, so a
			// page missing here is overwritten whole.
			if pos != i*PageSizeBytes || end < pos+PageSizeBytes {
				panic("faultfs: partial page not loaded before write")
			}
			pg = &page{}
			ino.pages[i] = pg
		}
		within := int(pos - i*PageSizeBytes)
		c := copy(pg.data[within:], p[n:])
		pg.dirty |= sectorMask(within, within+c)
		n += c
	}
	return n, nil
}

// setSize changes the in-memory size, keeping the invariants: shrinking
// frees blocks (the device view reads zeros past the new size from now on),
// drops pages past it and zeroes the tail of the last page.
func (fsys *FS) setSize(ino *inode, size int64) {
	if size < ino.size {
		for _, i := range ino.sortedPages() {
			if i*PageSizeBytes >= size {
				delete(ino.pages, i)
			} else {
				zeroPast(ino.pages[i], i, size)
			}
		}
		ino.volatile = clipWrites(ino.volatile, size)
		ino.lowSize = min(ino.lowSize, size)
	}
	ino.size = size
	ino.metaDirty = true
}

// clipWrites drops the parts of volatile writes at or past size.
func clipWrites(ws []devWrite, size int64) []devWrite {
	out := ws[:0]
	for _, w := range ws {
		if w.off >= size {
			continue
		}
		if w.off+int64(len(w.data)) > size {
			w.data = w.data[:size-w.off]
		}
		out = append(out, w)
	}
	return out
}

// usedBytes sums the sizes of the files reachable from the root and open.
func (fsys *FS) usedBytes(extra *inode) int64 {
	seen := make(map[*inode]bool)
	var total int64
	var walk func(*inode)
	walk = func(d *inode) {
		for _, c := range d.children {
			if seen[c] {
				continue
			}
			seen[c] = true
			if c.isDir {
				walk(c)
			} else {
				total += c.size
			}
		}
	}
	walk(fsys.root)
	if extra != nil && !seen[extra] {
		total += extra.size
	}
	return total
}

// checkSpace fails with ENOSPC if growing ino to newSize exceeds the budget.
func (fsys *FS) checkSpace(ino *inode, newSize int64) error {
	if fsys.opts.SpaceBudgetBytes <= 0 || newSize <= ino.size {
		return nil
	}
	if fsys.usedBytes(ino)+newSize-ino.size > fsys.opts.SpaceBudgetBytes {
		return syscall.ENOSPC
	}
	return nil
}
