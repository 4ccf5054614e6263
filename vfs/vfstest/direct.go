package vfstest

import (
	"errors"
	"io"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// directCases cover ODirect: aligned I/O round trips, reads at the end of a
// file, and the alignment rules every implementation enforces the same way.
var directCases = []testCase{
	{"DirectIO", testDirectIO},
}

func testDirectIO(t *testing.T, fsys vfs.FS, dir string) {
	const blk = vfs.DirectIOAlignmentBytes
	name := join(dir, "direct")
	f, err := fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate|vfs.ODirect, 0o644)
	if errors.Is(err, vfs.ErrDirectIOUnsupported) {
		t.Skipf("ODirect not supported here: %v", err)
	}
	if err != nil {
		t.Fatalf("OpenFile(%q, ORdWr|OCreate|ODirect): %v", name, err)
	}
	t.Cleanup(func() { f.Close() })

	want := pattern(3*blk, 7)
	buf := vfs.AlignedBuffer(2 * blk)
	copy(buf, want[:blk])
	mustWrite(t, f, buf[:blk])
	wantOffset(t, f, blk)
	copy(buf, want[blk:])
	mustWriteAt(t, f, buf, blk)
	wantOffset(t, f, blk)
	wantFileSize(t, f, 3*blk)

	// A full read back, and one past the end that comes back short.
	rbuf := vfs.AlignedBuffer(4 * blk)
	n, err := f.ReadAt(rbuf[:3*blk], 0)
	if n != 3*blk || (err != nil && err != io.EOF) {
		t.Fatalf("direct ReadAt(3 blocks, 0) = %d, %v; want %d, nil or io.EOF", n, err, 3*blk)
	}
	wantBytes(t, "direct ReadAt(3 blocks, 0)", rbuf[:n], want)
	clear(rbuf)
	n, err = f.ReadAt(rbuf, blk)
	if n != 2*blk || err != io.EOF {
		t.Fatalf("direct ReadAt(4 blocks, 1 block) of a 3-block file = %d, %v; want %d, io.EOF", n, err, 2*blk)
	}
	wantBytes(t, "direct ReadAt(4 blocks, 1 block)", rbuf[:n], want[blk:])
	if _, err := f.Seek(blk, io.SeekStart); err != nil {
		t.Fatalf("Seek(1 block, SeekStart): %v", err)
	}
	clear(rbuf)
	n, err = f.Read(rbuf[:blk])
	if n != blk || err != nil {
		t.Fatalf("direct Read(1 block) at 1 block = %d, %v; want %d, nil", n, err, blk)
	}
	wantBytes(t, "direct Read(1 block) at 1 block", rbuf[:n], want[blk:2*blk])
	wantOffset(t, f, 2*blk)

	// Unaligned offset, length or buffer address: ErrUnaligned, nothing done.
	big := vfs.AlignedBuffer(2 * blk)
	copy(big, pattern(2*blk, 99))
	misplaced := big[1 : 1+blk] // aligned length, unaligned address
	for _, tc := range []struct {
		what string
		b    []byte
		off  int64
	}{
		{"unaligned offset", big[:blk], 100},
		{"sector-aligned offset", big[:blk], vfs.SectorSizeBytes},
		{"unaligned length", big[:100], 0},
		{"sector-sized length", big[:vfs.SectorSizeBytes], 0},
		{"unaligned buffer", misplaced, 0},
	} {
		n, err := f.WriteAt(tc.b, tc.off)
		if n != 0 || !errors.Is(err, vfs.ErrUnaligned) {
			t.Fatalf("direct WriteAt with %s = %d, %v; want 0, an error matching vfs.ErrUnaligned", tc.what, n, err)
		}
		n, err = f.ReadAt(tc.b, tc.off)
		if n != 0 || !errors.Is(err, vfs.ErrUnaligned) {
			t.Fatalf("direct ReadAt with %s = %d, %v; want 0, an error matching vfs.ErrUnaligned", tc.what, n, err)
		}
	}
	// Write and Read check the descriptor's offset too.
	if _, err := f.Seek(100, io.SeekStart); err != nil {
		t.Fatalf("Seek(100, SeekStart): %v", err)
	}
	if n, err := f.Write(big[:blk]); n != 0 || !errors.Is(err, vfs.ErrUnaligned) {
		t.Fatalf("direct Write at offset 100 = %d, %v; want 0, an error matching vfs.ErrUnaligned", n, err)
	}
	if n, err := f.Read(big[:blk]); n != 0 || !errors.Is(err, vfs.ErrUnaligned) {
		t.Fatalf("direct Read at offset 100 = %d, %v; want 0, an error matching vfs.ErrUnaligned", n, err)
	}
	wantOffset(t, f, 100)
	wantFileSize(t, f, 3*blk)
	wantContent(t, fsys, name, want)

	// A tail written through the page cache that does not fill a block is
	// read back by a direct read, short, as recovery of a log tail does.
	g := mustOpen(t, fsys, name, vfs.ORdWr)
	mustWriteAt(t, g, []byte("tail"), 3*blk)
	want = append(want, "tail"...)
	if err := g.SyncData(); err != nil {
		t.Fatalf("SyncData: %v", err)
	}
	clear(rbuf)
	n, err = f.ReadAt(rbuf, 0)
	if n != 3*blk+4 || err != io.EOF {
		t.Fatalf("direct ReadAt(4 blocks, 0) of a file of 3 blocks + 4 bytes = %d, %v; want %d, io.EOF", n, err, 3*blk+4)
	}
	wantBytes(t, "direct ReadAt over an unaligned tail", rbuf[:n], want)

	if err := f.SyncData(); err != nil {
		t.Fatalf("SyncData of an ODirect file: %v", err)
	}
	mustClose(t, name, f)
	wantContent(t, fsys, name, want)
}
