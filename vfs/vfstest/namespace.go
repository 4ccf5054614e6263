package vfstest

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// namespaceCases cover names and directories: Stat, Rename, Remove,
// RemoveAll, MkdirAll, List, Lock, OpenDir, SyncFS and the package helpers.
var namespaceCases = []testCase{
	{"Stat", testStat},
	{"RenameReplaces", testRenameReplaces},
	{"RenameAcrossDirectories", testRenameAcrossDirectories},
	{"RenameDirectory", testRenameDirectory},
	{"RenameMissing", testRenameMissing},
	{"RenameOpenFile", testRenameOpenFile},
	{"Remove", testRemove},
	{"RemoveOpenFile", testRemoveOpenFile},
	{"RemoveAll", testRemoveAll},
	{"MkdirAll", testMkdirAll},
	{"List", testList},
	{"Lock", testLock},
	{"OpenDirSync", testOpenDirSync},
	{"SyncFS", testSyncFS},
	{"Helpers", testHelpers},
}

// wantNotExist fails unless Stat reports name missing.
func wantNotExist(t *testing.T, fsys vfs.FS, name string) {
	t.Helper()
	fi, err := fsys.Stat(name)
	if !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			t.Fatalf("Stat(%q) found it (size %d, dir %v), want fs.ErrNotExist", name, fi.Size(), fi.IsDir())
		}
		t.Fatalf("Stat(%q) = %v, want fs.ErrNotExist", name, err)
	}
}

// wantList checks the names List returns for dir.
func wantList(t *testing.T, fsys vfs.FS, dir string, want ...string) {
	t.Helper()
	got, err := fsys.List(dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", dir, got, want)
	}
}

// mkdirAll calls MkdirAll and fails on error.
func mkdirAll(t *testing.T, fsys vfs.FS, name string) {
	t.Helper()
	if err := fsys.MkdirAll(name, 0o755); err != nil {
		t.Fatalf("MkdirAll(%q): %v", name, err)
	}
}

// wantDir fails unless name is a directory.
func wantDir(t *testing.T, fsys vfs.FS, name string) {
	t.Helper()
	fi, err := fsys.Stat(name)
	if err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	if !fi.IsDir() || !fi.Mode().IsDir() {
		t.Fatalf("Stat(%q): IsDir %v, mode %v; want a directory", name, fi.IsDir(), fi.Mode())
	}
}

func testStat(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "file")
	writeFile(t, fsys, name, pattern(1234, 0))
	fi, err := fsys.Stat(name)
	if err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	if fi.Name() != "file" || fi.Size() != 1234 || fi.IsDir() || !fi.Mode().IsRegular() {
		t.Fatalf("Stat(%q) = name %q, size %d, IsDir %v, mode %v; want \"file\", 1234, false, regular",
			name, fi.Name(), fi.Size(), fi.IsDir(), fi.Mode())
	}

	sub := join(dir, "sub")
	mkdirAll(t, fsys, sub)
	fi, err = fsys.Stat(sub)
	if err != nil {
		t.Fatalf("Stat(%q): %v", sub, err)
	}
	if fi.Name() != "sub" || !fi.IsDir() {
		t.Fatalf("Stat(%q) = name %q, IsDir %v; want \"sub\", true", sub, fi.Name(), fi.IsDir())
	}

	// File.Stat sees unsynced writes and the current size.
	f := mustOpen(t, fsys, name, vfs.ORdWr)
	mustWriteAt(t, f, []byte("x"), 2000)
	fi, err = f.Stat()
	if err != nil {
		t.Fatalf("File.Stat: %v", err)
	}
	if fi.Name() != "file" || fi.Size() != 2001 || fi.IsDir() {
		t.Fatalf("File.Stat() = name %q, size %d, IsDir %v; want \"file\", 2001, false",
			fi.Name(), fi.Size(), fi.IsDir())
	}
	wantSize(t, fsys, name, 2001)

	wantNotExist(t, fsys, join(dir, "missing"))
	wantNotExist(t, fsys, join(dir, "missing", "deeper"))
}

func testRenameReplaces(t *testing.T, fsys vfs.FS, dir string) {
	a, b := join(dir, "a"), join(dir, "b")
	writeFile(t, fsys, a, []byte("new contents"))
	writeFile(t, fsys, b, []byte("old"))
	if err := fsys.Rename(a, b); err != nil {
		t.Fatalf("Rename(%q, %q) onto an existing file: %v", a, b, err)
	}
	wantNotExist(t, fsys, a)
	wantContent(t, fsys, b, []byte("new contents"))
	wantList(t, fsys, dir, "b")

	// Renaming a name onto itself changes nothing.
	if err := fsys.Rename(b, b); err != nil {
		t.Fatalf("Rename(%q, %q) onto itself: %v", b, b, err)
	}
	wantContent(t, fsys, b, []byte("new contents"))
}

func testRenameAcrossDirectories(t *testing.T, fsys vfs.FS, dir string) {
	from, to := join(dir, "from"), join(dir, "to", "deeper")
	mkdirAll(t, fsys, from)
	mkdirAll(t, fsys, to)
	src, dst := join(from, "f"), join(to, "g")
	writeFile(t, fsys, src, []byte("moving"))
	if err := fsys.Rename(src, dst); err != nil {
		t.Fatalf("Rename(%q, %q): %v", src, dst, err)
	}
	wantNotExist(t, fsys, src)
	wantContent(t, fsys, dst, []byte("moving"))
	wantList(t, fsys, from)
	wantList(t, fsys, to, "g")
}

func testRenameDirectory(t *testing.T, fsys vfs.FS, dir string) {
	d1, d2 := join(dir, "d1"), join(dir, "d2")
	mkdirAll(t, fsys, join(d1, "inner"))
	writeFile(t, fsys, join(d1, "inner", "f"), []byte("deep"))
	if err := fsys.Rename(d1, d2); err != nil {
		t.Fatalf("Rename(%q, %q) of a directory: %v", d1, d2, err)
	}
	wantNotExist(t, fsys, d1)
	wantDir(t, fsys, d2)
	wantContent(t, fsys, join(d2, "inner", "f"), []byte("deep"))
	wantList(t, fsys, dir, "d2")
}

func testRenameMissing(t *testing.T, fsys vfs.FS, dir string) {
	err := fsys.Rename(join(dir, "missing"), join(dir, "b"))
	wantErrIs(t, "Rename of a missing file", err, fs.ErrNotExist)
	wantNotExist(t, fsys, join(dir, "b"))

	a := join(dir, "a")
	writeFile(t, fsys, a, []byte("stays"))
	err = fsys.Rename(a, join(dir, "nodir", "b"))
	wantErrIs(t, "Rename into a missing directory", err, fs.ErrNotExist)
	wantContent(t, fsys, a, []byte("stays"))
}

func testRenameOpenFile(t *testing.T, fsys vfs.FS, dir string) {
	a, b := join(dir, "a"), join(dir, "b")
	f := mustOpen(t, fsys, a, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, []byte("before "))
	writeFile(t, fsys, b, []byte("replaced"))
	if err := fsys.Rename(a, b); err != nil {
		t.Fatalf("Rename(%q, %q) of an open file: %v", a, b, err)
	}
	// The descriptor follows the file, not the name.
	mustWrite(t, f, []byte("after"))
	mustClose(t, a, f)
	wantContent(t, fsys, b, []byte("before after"))
	wantNotExist(t, fsys, a)
}

func testRemove(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	writeFile(t, fsys, name, []byte("x"))
	if err := fsys.Remove(name); err != nil {
		t.Fatalf("Remove(%q): %v", name, err)
	}
	wantNotExist(t, fsys, name)
	wantErrIs(t, "Remove of a missing file", fsys.Remove(name), fs.ErrNotExist)

	full := join(dir, "full")
	mkdirAll(t, fsys, full)
	writeFile(t, fsys, join(full, "child"), []byte("y"))
	if err := fsys.Remove(full); err == nil {
		t.Fatalf("Remove(%q) of a non-empty directory succeeded, want an error", full)
	}
	wantDir(t, fsys, full)
	wantContent(t, fsys, join(full, "child"), []byte("y"))

	empty := join(dir, "empty")
	mkdirAll(t, fsys, empty)
	if err := fsys.Remove(empty); err != nil {
		t.Fatalf("Remove(%q) of an empty directory: %v", empty, err)
	}
	wantNotExist(t, fsys, empty)
	wantList(t, fsys, dir, "full")
}

func testRemoveOpenFile(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, []byte("orphan"))
	if err := fsys.Remove(name); err != nil {
		t.Fatalf("Remove(%q) of an open file: %v", name, err)
	}
	wantNotExist(t, fsys, name)
	// The open descriptor still reads and writes the unlinked file.
	mustWrite(t, f, []byte("!"))
	buf := make([]byte, 7)
	if n, err := f.ReadAt(buf, 0); n != 7 || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt of an unlinked open file = %d, %v; want 7, nil or io.EOF", n, err)
	}
	wantBytes(t, "ReadAt of an unlinked open file", buf, []byte("orphan!"))
	// A new file under the same name is a different file.
	writeFile(t, fsys, name, []byte("new"))
	wantFileSize(t, f, 7)
	wantContent(t, fsys, name, []byte("new"))
}

func testRemoveAll(t *testing.T, fsys vfs.FS, dir string) {
	tree := join(dir, "tree")
	mkdirAll(t, fsys, join(tree, "a", "b", "c"))
	mkdirAll(t, fsys, join(tree, "empty"))
	writeFile(t, fsys, join(tree, "top"), []byte("1"))
	writeFile(t, fsys, join(tree, "a", "mid"), []byte("2"))
	writeFile(t, fsys, join(tree, "a", "b", "c", "leaf"), []byte("3"))
	keep := join(dir, "keep")
	writeFile(t, fsys, keep, []byte("kept"))

	if err := fsys.RemoveAll(tree); err != nil {
		t.Fatalf("RemoveAll(%q): %v", tree, err)
	}
	wantNotExist(t, fsys, tree)
	wantNotExist(t, fsys, join(tree, "a", "b", "c", "leaf"))
	wantList(t, fsys, dir, "keep")
	wantContent(t, fsys, keep, []byte("kept"))

	for _, missing := range []string{tree, join(dir, "never"), join(dir, "never", "deeper")} {
		if err := fsys.RemoveAll(missing); err != nil {
			t.Fatalf("RemoveAll(%q) of a missing path = %v, want nil", missing, err)
		}
	}
	// RemoveAll of a plain file removes it.
	if err := fsys.RemoveAll(keep); err != nil {
		t.Fatalf("RemoveAll(%q) of a file: %v", keep, err)
	}
	wantNotExist(t, fsys, keep)
	wantList(t, fsys, dir)
}

func testMkdirAll(t *testing.T, fsys vfs.FS, dir string) {
	deep := join(dir, "a", "b", "c")
	mkdirAll(t, fsys, deep)
	for _, name := range []string{join(dir, "a"), join(dir, "a", "b"), deep} {
		wantDir(t, fsys, name)
	}
	writeFile(t, fsys, join(deep, "f"), []byte("x"))
	// Idempotent, and it leaves existing contents alone.
	mkdirAll(t, fsys, deep)
	mkdirAll(t, fsys, join(dir, "a"))
	wantContent(t, fsys, join(deep, "f"), []byte("x"))
	wantList(t, fsys, dir, "a")
	wantList(t, fsys, join(dir, "a"), "b")

	// A file in the way is an error.
	file := join(dir, "file")
	writeFile(t, fsys, file, []byte("y"))
	if err := fsys.MkdirAll(file, 0o755); err == nil {
		t.Fatalf("MkdirAll(%q) over a file succeeded, want an error", file)
	}
	if err := fsys.MkdirAll(join(file, "sub"), 0o755); err == nil {
		t.Fatalf("MkdirAll(%q) below a file succeeded, want an error", join(file, "sub"))
	}
	wantContent(t, fsys, file, []byte("y"))
}

func testList(t *testing.T, fsys vfs.FS, dir string) {
	wantList(t, fsys, dir)
	for _, name := range []string{"b", "a", "c10", "c2", "B"} {
		writeFile(t, fsys, join(dir, name), nil)
	}
	mkdirAll(t, fsys, join(dir, "d", "nested"))
	// Sorted bytewise; names only, one level deep.
	wantList(t, fsys, dir, "B", "a", "b", "c10", "c2", "d")
	wantList(t, fsys, join(dir, "d"), "nested")
	wantList(t, fsys, join(dir, "d", "nested"))

	if err := fsys.Remove(join(dir, "b")); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantList(t, fsys, dir, "B", "a", "c10", "c2", "d")

	_, err := fsys.List(join(dir, "missing"))
	wantErrIs(t, "List of a missing directory", err, fs.ErrNotExist)
	if names, err := fsys.List(join(dir, "a")); err == nil {
		t.Fatalf("List of a file = %q, nil; want an error", names)
	}
}

func testLock(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "LOCK")
	l1, err := fsys.Lock(name)
	if err != nil {
		t.Fatalf("Lock(%q): %v", name, err)
	}
	if ok, err := vfs.Exists(fsys, name); err != nil || !ok {
		t.Fatalf("after Lock, Exists(%q) = %v, %v; want true, nil", name, ok, err)
	}
	l2, err := fsys.Lock(name)
	if err == nil {
		l2.Close()
	}
	wantErrIs(t, "second Lock of a held lock", err, vfs.ErrLocked)

	// Another name is another lock.
	other := join(dir, "OTHER")
	l3, err := fsys.Lock(other)
	if err != nil {
		t.Fatalf("Lock(%q) while %q is held: %v", other, name, err)
	}
	mustClose(t, other, l3)

	mustClose(t, name, l1)
	l4, err := fsys.Lock(name)
	if err != nil {
		t.Fatalf("Lock(%q) after the holder closed: %v", name, err)
	}
	// Still exclusive after being retaken.
	l5, err := fsys.Lock(name)
	if err == nil {
		l5.Close()
	}
	wantErrIs(t, "Lock of a retaken lock", err, vfs.ErrLocked)
	mustClose(t, name, l4)

	_, err = fsys.Lock(join(dir, "nodir", "LOCK"))
	wantErrIs(t, "Lock in a missing directory", err, fs.ErrNotExist)
}

func testOpenDirSync(t *testing.T, fsys vfs.FS, dir string) {
	writeFile(t, fsys, join(dir, "f"), []byte("x"))
	d, err := fsys.OpenDir(dir)
	if err != nil {
		t.Fatalf("OpenDir(%q): %v", dir, err)
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("Dir.Sync: %v", err)
	}
	// Syncing twice, and after another change, is fine.
	writeFile(t, fsys, join(dir, "g"), []byte("y"))
	if err := d.Sync(); err != nil {
		t.Fatalf("second Dir.Sync: %v", err)
	}
	mustClose(t, dir, d)

	_, err = fsys.OpenDir(join(dir, "missing"))
	wantErrIs(t, "OpenDir of a missing directory", err, fs.ErrNotExist)
}

func testSyncFS(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate)
	mustWrite(t, f, pattern(5000, 0))
	for _, target := range []string{dir, name} {
		if err := fsys.SyncFS(target); err != nil {
			t.Fatalf("SyncFS(%q): %v", target, err)
		}
	}
	mustClose(t, name, f)
	wantContent(t, fsys, name, pattern(5000, 0))
}

func testHelpers(t *testing.T, fsys vfs.FS, dir string) {
	name := join(dir, "f")
	if ok, err := vfs.Exists(fsys, name); err != nil || ok {
		t.Fatalf("Exists(%q) of a missing file = %v, %v; want false, nil", name, ok, err)
	}
	f, err := vfs.Create(fsys, name)
	if err != nil {
		t.Fatalf("vfs.Create(%q): %v", name, err)
	}
	mustWrite(t, f, []byte("helper"))
	mustClose(t, name, f)
	if ok, err := vfs.Exists(fsys, name); err != nil || !ok {
		t.Fatalf("Exists(%q) = %v, %v; want true, nil", name, ok, err)
	}
	if ok, err := vfs.Exists(fsys, dir); err != nil || !ok {
		t.Fatalf("Exists(%q) of a directory = %v, %v; want true, nil", dir, ok, err)
	}
	// Check with the suite's bounded reader first: vfs.ReadFile reads to
	// io.EOF without a limit.
	wantContent(t, fsys, name, []byte("helper"))
	got, err := vfs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("vfs.ReadFile(%q): %v", name, err)
	}
	wantBytes(t, "vfs.ReadFile", got, []byte("helper"))
	_, err = vfs.ReadFile(fsys, join(dir, "missing"))
	wantErrIs(t, "vfs.ReadFile of a missing file", err, fs.ErrNotExist)

	r, err := vfs.Open(fsys, name)
	if err != nil {
		t.Fatalf("vfs.Open(%q): %v", name, err)
	}
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatalf("Write through vfs.Open succeeded, want an error (read-only)")
	}
	mustClose(t, name, r)

	if err := vfs.SyncDir(fsys, dir); err != nil {
		t.Fatalf("vfs.SyncDir(%q): %v", dir, err)
	}
	wantErrIs(t, "vfs.SyncDir of a missing directory", vfs.SyncDir(fsys, join(dir, "missing")), fs.ErrNotExist)
}
