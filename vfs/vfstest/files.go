package vfstest

import (
	"errors"
	"io"
	"io/fs"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// fileCases cover one open file: flags, offsets, sizes, syncs and what a
// closed descriptor does.
var fileCases = []testCase{
	{"OpenMissing", testOpenMissing},
	{"OpenReadOnlyRejectsWrites", testOpenReadOnlyRejectsWrites},
	{"OpenWriteOnlyRejectsReads", testOpenWriteOnlyRejectsReads},
	{"OpenCreateExcl", testOpenCreateExcl},
	{"OpenCreateKeepsContent", testOpenCreateKeepsContent},
	{"OpenTrunc", testOpenTrunc},
	{"OpenAppend", testOpenAppend},
	{"OpenSyncFlags", testOpenSyncFlags},
	{"Name", testName},
	{"WriteReadAdvanceOffset", testWriteReadAdvanceOffset},
	{"ReadAtWriteAtKeepOffset", testReadAtWriteAtKeepOffset},
	{"WriteAtPastEndZeroFills", testWriteAtPastEndZeroFills},
	{"ReadAtEOF", testReadAtEOF},
	{"ReadEOF", testReadEOF},
	{"Seek", testSeek},
	{"Truncate", testTruncate},
	{"Preallocate", testPreallocate},
	{"WritesVisibleToOtherDescriptors", testWritesVisibleToOtherDescriptors},
	{"SyncAndSyncData", testSyncAndSyncData},
	{"ClosedFile", testClosedFile},
}

func testOpenMissing(t *testing.T, fsys vfs.FS, dir string) {
	missing := join(dir, "missing")
	for _, tc := range []struct {
		what string
		name string
		flag int
	}{
		{"ORdOnly", missing, vfs.ORdOnly},
		{"ORdWr", missing, vfs.ORdWr},
		{"OWrOnly|OTrunc", missing, vfs.OWrOnly | vfs.OTrunc},
		{"OCreate in a missing directory", join(dir, "nodir", "f"), vfs.ORdWr | vfs.OCreate},
	} {
		f, err := fsys.OpenFile(tc.name, tc.flag, 0o644)
		if err == nil {
			f.Close()
		}
		wantErrIs(t, "OpenFile "+tc.what+" of "+tc.name, err, fs.ErrNotExist)
	}
	// None of the failed opens may have created anything.
	for _, name := range []string{missing, join(dir, "nodir")} {
		if _, err := fsys.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after failed opens, Stat(%q) = %v, want fs.ErrNotExist", name, err)
		}
	}
}

func testOpenReadOnlyRejectsWrites(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("original"))
	f := mustOpen(t, fsys, name, vfs.ORdOnly)

	if n, err := f.Write([]byte("x")); err == nil || n != 0 {
		t.Fatalf("Write on ORdOnly file = %d, %v; want 0, an error", n, err)
	}
	if n, err := f.WriteAt([]byte("x"), 0); err == nil || n != 0 {
		t.Fatalf("WriteAt on ORdOnly file = %d, %v; want 0, an error", n, err)
	}
	if err := f.Truncate(2); err == nil {
		t.Fatalf("Truncate on ORdOnly file succeeded, want an error")
	}
	if err := f.Preallocate(0, 4096); err == nil {
		t.Fatalf("Preallocate on ORdOnly file succeeded, want an error")
	}
	// Reading still works and nothing changed.
	buf := make([]byte, 8)
	if n, err := f.ReadAt(buf, 0); n != 8 || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt on ORdOnly file = %d, %v; want 8, nil or io.EOF", n, err)
	}
	wantBytes(t, "ReadAt on ORdOnly file", buf, []byte("original"))
	wantContent(t, fsys, name, []byte("original"))
}

func testOpenWriteOnlyRejectsReads(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("original"))
	f := mustOpen(t, fsys, name, vfs.OWrOnly)
	buf := make([]byte, 4)
	if n, err := f.Read(buf); err == nil || n != 0 {
		t.Fatalf("Read on OWrOnly file = %d, %v; want 0, an error", n, err)
	}
	if n, err := f.ReadAt(buf, 0); err == nil || n != 0 {
		t.Fatalf("ReadAt on OWrOnly file = %d, %v; want 0, an error", n, err)
	}
	mustWrite(t, f, []byte("OR"))
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("ORiginal"))
}

func testOpenCreateExcl(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f, err := fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate|vfs.OExcl, 0o644)
	if err != nil {
		t.Fatalf("OpenFile(OCreate|OExcl) of a new file: %v", err)
	}
	mustWrite(t, f, []byte("first"))
	mustClose(t, name, f)

	f, err = fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate|vfs.OExcl, 0o644)
	if err == nil {
		f.Close()
	}
	wantErrIs(t, "OpenFile(OCreate|OExcl) of an existing file", err, fs.ErrExist)
	// The failed exclusive create must leave the file alone.
	wantContent(t, fsys, name, []byte("first"))

	// OExcl applies to directories too.
	sub := join(dir, "sub")
	if err := fsys.MkdirAll(sub, 0o755); err != nil {
		t.Fatalf("MkdirAll(%q): %v", sub, err)
	}
	f, err = fsys.OpenFile(sub, vfs.ORdWr|vfs.OCreate|vfs.OExcl, 0o644)
	if err == nil {
		f.Close()
	}
	wantErrIs(t, "OpenFile(OCreate|OExcl) of an existing directory", err, fs.ErrExist)
}

func testOpenCreateKeepsContent(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("keep me"))
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	wantOffset(t, f, 0)
	wantFileSize(t, f, 7)
	mustWrite(t, f, []byte("K"))
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("Keep me"))
}

func testOpenTrunc(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("0123456789"))
	f := mustOpen(t, fsys, name, vfs.OWrOnly|vfs.OTrunc)
	wantFileSize(t, f, 0)
	wantSize(t, fsys, name, 0)
	mustWrite(t, f, []byte("ab"))
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("ab"))

	// vfs.Create truncates too.
	writeFile(t, fsys, name, []byte("0123456789"))
	f, err := vfs.Create(fsys, name)
	if err != nil {
		t.Fatalf("vfs.Create(%q) of an existing file: %v", name, err)
	}
	wantFileSize(t, f, 0)
	mustWrite(t, f, []byte("cd"))
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("cd"))
}

func testOpenAppend(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("abc"))
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OAppend)
	mustWrite(t, f, []byte("def"))
	wantOffset(t, f, 6)
	// After a Seek, an appending Write still goes to the end, and leaves the
	// offset there.
	if off, err := f.Seek(1, io.SeekStart); err != nil || off != 1 {
		t.Fatalf("Seek(1, SeekStart) = %d, %v; want 1, nil", off, err)
	}
	mustWrite(t, f, []byte("gh"))
	wantOffset(t, f, 8)
	// Another descriptor grows the file; the next append lands after that.
	g := mustOpen(t, fsys, name, vfs.ORdWr)
	mustWriteAt(t, g, []byte("ij"), 8)
	mustWrite(t, f, []byte("k"))
	wantOffset(t, f, 11)
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("abcdefghijk"))
}

func testOpenSyncFlags(t *testing.T, fsys vfs.FS, dir string) {
	for _, tc := range []struct {
		what string
		flag int
	}{
		{"OSync", vfs.OSync},
		{"ODSync", vfs.ODSync},
	} {
		name := join(dir, tc.what)
		f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate|tc.flag)
		mustWrite(t, f, []byte(tc.what))
		mustClose(t, name, f)
		wantContent(t, fsys, name, []byte(tc.what))
	}
}

func testName(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "named")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	if f.Name() != name {
		t.Fatalf("Name() = %q, want %q", f.Name(), name)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatalf("File.Stat: %v", err)
	}
	if fi.Name() != "named" || fi.IsDir() || !fi.Mode().IsRegular() {
		t.Fatalf("File.Stat() = name %q, IsDir %v, mode %v; want \"named\", false, a regular file",
			fi.Name(), fi.IsDir(), fi.Mode())
	}
}

func testWriteReadAdvanceOffset(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	wantOffset(t, f, 0)
	mustWrite(t, f, []byte("hello"))
	wantOffset(t, f, 5)
	mustWrite(t, f, []byte(" world"))
	wantOffset(t, f, 11)
	wantFileSize(t, f, 11)

	if off, err := f.Seek(0, io.SeekStart); err != nil || off != 0 {
		t.Fatalf("Seek(0, SeekStart) = %d, %v; want 0, nil", off, err)
	}
	buf := make([]byte, 5)
	if n, err := f.Read(buf); n != 5 || err != nil {
		t.Fatalf("Read(5 bytes) = %d, %v; want 5, nil", n, err)
	}
	wantBytes(t, "first Read", buf, []byte("hello"))
	wantOffset(t, f, 5)
	if n, err := f.Read(buf); n != 5 || err != nil {
		t.Fatalf("second Read(5 bytes) = %d, %v; want 5, nil", n, err)
	}
	wantBytes(t, "second Read", buf, []byte(" worl"))
	wantOffset(t, f, 10)
	// A Write after a Read goes where the Read stopped.
	mustWrite(t, f, []byte("D!"))
	wantOffset(t, f, 12)
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("hello worlD!"))
}

func testReadAtWriteAtKeepOffset(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, []byte("0123456789"))
	wantOffset(t, f, 10)
	mustWriteAt(t, f, []byte("ab"), 2)
	wantOffset(t, f, 10)
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 1); n != 4 || err != nil {
		t.Fatalf("ReadAt(4 bytes, 1) = %d, %v; want 4, nil", n, err)
	}
	wantBytes(t, "ReadAt(4 bytes, 1)", buf, []byte("1ab4"))
	wantOffset(t, f, 10)
	// The next Write continues at the untouched offset.
	mustWrite(t, f, []byte("X"))
	wantOffset(t, f, 11)
	// Seek back and Read: ReadAt and WriteAt did not disturb the offset.
	if _, err := f.Seek(3, io.SeekStart); err != nil {
		t.Fatalf("Seek(3, SeekStart): %v", err)
	}
	mustWriteAt(t, f, []byte("Z"), 0)
	if n, err := f.Read(buf[:2]); n != 2 || err != nil {
		t.Fatalf("Read(2 bytes) at offset 3 = %d, %v; want 2, nil", n, err)
	}
	wantBytes(t, "Read(2 bytes) at offset 3", buf[:2], []byte("b4"))
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("Z1ab456789X"))
}

func testWriteAtPastEndZeroFills(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWriteAt(t, f, []byte("xy"), 10)
	wantFileSize(t, f, 12)
	mustWriteAt(t, f, []byte("ab"), 0)
	// A gap across a page boundary, far from the data.
	mustWriteAt(t, f, []byte("end"), 3*4096+5)
	mustClose(t, name, f)

	want := make([]byte, 3*4096+8)
	copy(want, "ab")
	copy(want[10:], "xy")
	copy(want[3*4096+5:], "end")
	wantContent(t, fsys, name, want)
}

func testReadAtEOF(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("hello"))
	f := mustOpen(t, fsys, name, vfs.ORdOnly)

	buf := make([]byte, 8)
	n, err := f.ReadAt(buf, 0)
	if n != 5 || err != io.EOF {
		t.Fatalf("ReadAt(8 bytes, 0) of a 5-byte file = %d, %v; want 5, io.EOF", n, err)
	}
	wantBytes(t, "short ReadAt", buf[:n], []byte("hello"))

	n, err = f.ReadAt(buf, 3)
	if n != 2 || err != io.EOF {
		t.Fatalf("ReadAt(8 bytes, 3) of a 5-byte file = %d, %v; want 2, io.EOF", n, err)
	}
	wantBytes(t, "short ReadAt at 3", buf[:n], []byte("lo"))

	for _, off := range []int64{5, 6, 1 << 20} {
		if n, err := f.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt(8 bytes, %d) of a 5-byte file = %d, %v; want 0, io.EOF", off, n, err)
		}
	}
	// Exactly filling the buffer at the end may report nil or io.EOF
	// (io.ReaderAt allows both), but must return every byte.
	if n, err := f.ReadAt(buf[:5], 0); n != 5 || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt(5 bytes, 0) of a 5-byte file = %d, %v; want 5, nil or io.EOF", n, err)
	}
	if n, err := f.ReadAt(buf[:1], -1); err == nil {
		t.Fatalf("ReadAt at offset -1 = %d, nil; want an error", n)
	}
	wantOffset(t, f, 0)
}

func testReadEOF(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("hello"))
	f := mustOpen(t, fsys, name, vfs.ORdOnly)
	buf := make([]byte, 8)
	n, err := f.Read(buf)
	if n != 5 || (err != nil && err != io.EOF) {
		t.Fatalf("Read(8 bytes) of a 5-byte file = %d, %v; want 5, nil or io.EOF", n, err)
	}
	wantBytes(t, "Read", buf[:n], []byte("hello"))
	wantOffset(t, f, 5)
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at EOF = %d, %v; want 0, io.EOF", n, err)
	}
	// An empty file reads as EOF at once.
	empty := join(dir, "empty")
	writeFile(t, fsys, empty, nil)
	g := mustOpen(t, fsys, empty, vfs.ORdOnly)
	if n, err := g.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read of an empty file = %d, %v; want 0, io.EOF", n, err)
	}
}

func testSeek(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("0123456789"))
	f := mustOpen(t, fsys, name, vfs.ORdWr)
	for _, tc := range []struct {
		offset int64
		whence int
		want   int64
		next   byte // the byte a Read then returns, or 0 at EOF
	}{
		{3, io.SeekStart, 3, '3'},
		{2, io.SeekCurrent, 6, '6'}, // the Read moved the offset to 4
		{-4, io.SeekEnd, 6, '6'},
		{-2, io.SeekCurrent, 5, '5'},
		{0, io.SeekEnd, 10, 0},
		{0, io.SeekStart, 0, '0'},
	} {
		got, err := f.Seek(tc.offset, tc.whence)
		if err != nil || got != tc.want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d, nil", tc.offset, tc.whence, got, err, tc.want)
		}
		b := make([]byte, 1)
		n, err := f.Read(b)
		if tc.next == 0 {
			if n != 0 || err != io.EOF {
				t.Fatalf("Read after Seek(%d, %d) = %d, %v; want 0, io.EOF", tc.offset, tc.whence, n, err)
			}
			continue
		}
		if n != 1 || err != nil || b[0] != tc.next {
			t.Fatalf("Read after Seek(%d, %d) = %d, %q, %v; want 1, %q, nil",
				tc.offset, tc.whence, n, b[:n], err, tc.next)
		}
	}
	// The Read above left the offset at 1. A negative result is an error
	// and leaves the offset alone.
	if off, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Fatalf("Seek(-1, SeekStart) = %d, nil; want an error", off)
	}
	if off, err := f.Seek(-11, io.SeekEnd); err == nil {
		t.Fatalf("Seek(-11, SeekEnd) of a 10-byte file = %d, nil; want an error", off)
	}
	wantOffset(t, f, 1)
	// Seeking past the end is allowed; a Write there zero-fills the gap.
	if off, err := f.Seek(14, io.SeekStart); err != nil || off != 14 {
		t.Fatalf("Seek(14, SeekStart) = %d, %v; want 14, nil", off, err)
	}
	wantFileSize(t, f, 10)
	mustWrite(t, f, []byte("E"))
	mustClose(t, name, f)
	wantContent(t, fsys, name, []byte("0123456789\x00\x00\x00\x00E"))
}

func testTruncate(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, []byte("0123456789"))

	if err := f.Truncate(4); err != nil {
		t.Fatalf("Truncate(4): %v", err)
	}
	wantFileSize(t, f, 4)
	wantOffset(t, f, 10) // truncation does not move the offset
	wantContent(t, fsys, name, []byte("0123"))

	// Growing again reads as zeros: the cut bytes must not come back.
	if err := f.Truncate(8); err != nil {
		t.Fatalf("Truncate(8): %v", err)
	}
	wantFileSize(t, f, 8)
	wantContent(t, fsys, name, []byte("0123\x00\x00\x00\x00"))

	// Growing across pages, then shrinking to the middle of a page.
	if err := f.Truncate(3*4096 + 7); err != nil {
		t.Fatalf("Truncate(3*4096+7): %v", err)
	}
	want := make([]byte, 3*4096+7)
	copy(want, "0123")
	wantContent(t, fsys, name, want)
	mustWriteAt(t, f, pattern(4096, 1), 4096)
	if err := f.Truncate(4096 + 100); err != nil {
		t.Fatalf("Truncate(4096+100): %v", err)
	}
	if err := f.Truncate(4096 + 200); err != nil {
		t.Fatalf("Truncate(4096+200): %v", err)
	}
	want = make([]byte, 4096+200)
	copy(want, "0123")
	copy(want[4096:], pattern(100, 1))
	wantContent(t, fsys, name, want)

	if err := f.Truncate(-1); err == nil {
		t.Fatalf("Truncate(-1) succeeded, want an error")
	}
	wantFileSize(t, f, 4096+200)

	// A Write at the old offset, beyond the shrunken end, zero-fills.
	if err := f.Truncate(0); err != nil {
		t.Fatalf("Truncate(0): %v", err)
	}
	wantContent(t, fsys, name, nil)
	mustWrite(t, f, []byte("w"))
	want = make([]byte, 11)
	want[10] = 'w'
	mustClose(t, name, f)
	wantContent(t, fsys, name, want)
}

func testPreallocate(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, []byte("abc"))

	if err := f.Preallocate(0, 4096); err != nil {
		t.Fatalf("Preallocate(0, 4096): %v", err)
	}
	wantFileSize(t, f, 4096)
	wantOffset(t, f, 3)
	want := make([]byte, 4096)
	copy(want, "abc")
	wantContent(t, fsys, name, want)

	// Beyond the end, leaving a hole: the size covers offset+length.
	if err := f.Preallocate(8192, 100); err != nil {
		t.Fatalf("Preallocate(8192, 100): %v", err)
	}
	wantFileSize(t, f, 8292)
	want = make([]byte, 8292)
	copy(want, "abc")
	wantContent(t, fsys, name, want)

	// Inside the file: neither the size nor the bytes change.
	mustWriteAt(t, f, []byte("middle"), 5000)
	if err := f.Preallocate(0, 6000); err != nil {
		t.Fatalf("Preallocate(0, 6000) inside the file: %v", err)
	}
	wantFileSize(t, f, 8292)
	copy(want[5000:], "middle")
	wantContent(t, fsys, name, want)

	// Writing into preallocated space does not change the size.
	mustWriteAt(t, f, []byte("tail"), 8200)
	wantFileSize(t, f, 8292)
	copy(want[8200:], "tail")

	// Overlapping the end extends only as far as offset+length.
	if err := f.Preallocate(8290, 10); err != nil {
		t.Fatalf("Preallocate(8290, 10): %v", err)
	}
	wantFileSize(t, f, 8300)
	want = append(want, make([]byte, 8)...)
	wantContent(t, fsys, name, want)

	for _, tc := range [][2]int64{{-1, 10}, {0, -1}} {
		if err := f.Preallocate(tc[0], tc[1]); err == nil {
			t.Fatalf("Preallocate(%d, %d) succeeded, want an error", tc[0], tc[1])
		}
	}
	wantFileSize(t, f, 8300)
	mustClose(t, name, f)
	wantContent(t, fsys, name, want)
}

func testWritesVisibleToOtherDescriptors(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	w := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	r := mustOpen(t, fsys, name, vfs.ORdOnly)
	mustWrite(t, w, []byte("unsynced"))
	// No sync: a second descriptor sees the page cache.
	buf := make([]byte, 8)
	if n, err := r.ReadAt(buf, 0); n != 8 || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt through a second descriptor = %d, %v; want 8, nil or io.EOF", n, err)
	}
	wantBytes(t, "ReadAt through a second descriptor", buf, []byte("unsynced"))
	wantFileSize(t, r, 8)
	// Each descriptor has its own offset.
	wantOffset(t, w, 8)
	wantOffset(t, r, 0)
}

func testSyncAndSyncData(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, pattern(10000, 0))
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync after Write: %v", err)
	}
	mustWriteAt(t, f, []byte("more"), 20000)
	if err := f.SyncData(); err != nil {
		t.Fatalf("SyncData after WriteAt: %v", err)
	}
	// Syncing a clean file, or a read-only descriptor, succeeds too.
	if err := f.SyncData(); err != nil {
		t.Fatalf("SyncData of a clean file: %v", err)
	}
	r := mustOpen(t, fsys, name, vfs.ORdOnly)
	if err := r.Sync(); err != nil {
		t.Fatalf("Sync of a read-only descriptor: %v", err)
	}
	mustClose(t, name, f)
	want := make([]byte, 20004)
	copy(want, pattern(10000, 0))
	copy(want[20000:], "more")
	wantContent(t, fsys, name, want)
}

func testClosedFile(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f, err := fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate, 0o644)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	mustWrite(t, f, []byte("data"))
	mustClose(t, name, f)

	buf := make([]byte, 4)
	for _, op := range []struct {
		what string
		do   func() error
	}{
		{"Read", func() error { _, err := f.Read(buf); return err }},
		{"ReadAt", func() error { _, err := f.ReadAt(buf, 0); return err }},
		{"Write", func() error { _, err := f.Write(buf); return err }},
		{"WriteAt", func() error { _, err := f.WriteAt(buf, 0); return err }},
		{"Seek", func() error { _, err := f.Seek(0, io.SeekStart); return err }},
		{"Sync", f.Sync},
		{"SyncData", f.SyncData},
		{"Truncate", func() error { return f.Truncate(0) }},
		{"Preallocate", func() error { return f.Preallocate(0, 4096) }},
		{"Stat", func() error { _, err := f.Stat(); return err }},
		{"second Close", f.Close},
	} {
		// os.ErrClosed and fs.ErrClosed are the same error.
		wantErrIs(t, op.what+" on a closed file", op.do(), fs.ErrClosed)
	}
	// Nothing the closed descriptor was asked to do happened.
	wantContent(t, fsys, name, []byte("data"))
}
