// Package vfstest is the conformance suite for implementations of vfs.FS.
//
// Every implementation holdfast relies on — the operating system
// (vfs.Default) and the in-memory fault model (faultfs) — must agree on the
// semantics the engine depends on: open flags, file offsets, zero-filled
// gaps, truncation, preallocation, renames that replace, sorted listings,
// exclusive locks, errors that match the fs and vfs sentinels, and the
// direct-I/O alignment rules. Run checks all of them with exact expected
// results, so a model that drifts from Linux fails here before it can make a
// crash test lie.
//
// The package also mounts real file systems on loop devices (MountExt4,
// MountFS, Linux only) so the suite, and later the fsync-failure studies,
// run against ext4, XFS and Btrfs and not only against whatever holds
// t.TempDir().
package vfstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// A testCase is one subtest of Run. fn gets a fresh FS and an empty
// directory inside it.
type testCase struct {
	name string
	fn   func(t *testing.T, fsys vfs.FS, dir string)
}

// cases lists every subtest, in the order Run runs them. Each group lives in
// its own file: files.go (open flags, offsets, sizes, closed files),
// namespace.go (names, directories, locks, syncs), direct.go (ODirect) and
// random.go (operations compared against an in-memory model).
func cases() []testCase {
	var all []testCase
	all = append(all, fileCases...)
	all = append(all, namespaceCases...)
	all = append(all, directCases...)
	all = append(all, randomCases...)
	return all
}

// Run runs the conformance suite as subtests of t. newFS is called once per
// subtest and must return a file system and the name of an empty directory
// in it that the subtest may use freely; it is responsible for any cleanup
// (t.Cleanup). Paths are built below dir with path.Join, so dir may be an
// absolute OS path or an absolute path inside an in-memory FS.
func Run(t *testing.T, newFS func(t *testing.T) (fsys vfs.FS, dir string)) {
	t.Helper()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			fsys, dir := newFS(t)
			names, err := fsys.List(dir)
			if err != nil {
				t.Fatalf("newFS returned dir %q that cannot be listed: %v", dir, err)
			}
			if len(names) != 0 {
				t.Fatalf("newFS returned dir %q that is not empty: %q", dir, names)
			}
			tc.fn(t, fsys, dir)
		})
	}
}

// join builds a path below dir.
func join(dir string, elem ...string) string {
	return path.Join(append([]string{dir}, elem...)...)
}

// writeFile creates or truncates name and writes data to it through one
// descriptor, checking every step.
func writeFile(t *testing.T, fsys vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate|vfs.OTrunc, 0o644)
	if err != nil {
		t.Fatalf("OpenFile(%q, ORdWr|OCreate|OTrunc): %v", name, err)
	}
	n, err := f.Write(data)
	if err != nil || n != len(data) {
		f.Close()
		t.Fatalf("Write(%q, %d bytes) = %d, %v; want %d, nil", name, len(data), n, err, len(data))
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close(%q): %v", name, err)
	}
}

// maxFileBytes bounds every file the suite writes. readFile stops there, so
// an FS whose Read never reaches io.EOF fails a comparison instead of
// filling memory.
const maxFileBytes = 1 << 20

// readFile reads name from its start to io.EOF through a fresh read-only
// descriptor, using Read only.
func readFile(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.OpenFile(name, vfs.ORdOnly, 0)
	if err != nil {
		t.Fatalf("OpenFile(%q, ORdOnly): %v", name, err)
	}
	defer f.Close()
	// Not io.ReadAll: a broken Read that returns 0, nil forever, or never
	// reaches io.EOF, must fail the test rather than hang it.
	var data []byte
	buf := make([]byte, 8192)
	for empty := 0; ; {
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if err == io.EOF {
			return data
		}
		if err != nil {
			t.Fatalf("reading %q: %v after %d bytes", name, err, len(data))
		}
		if len(data) > maxFileBytes {
			t.Fatalf("reading %q: more than %d bytes before io.EOF; the suite never writes that much", name, maxFileBytes)
		}
		if n == 0 {
			if empty++; empty == 100 {
				t.Fatalf("reading %q: Read returned 0, nil 100 times in a row at offset %d", name, len(data))
			}
		} else {
			empty = 0
		}
	}
}

// wantContent checks that name holds exactly want, both as read back and as
// reported by Stat.
func wantContent(t *testing.T, fsys vfs.FS, name string, want []byte) {
	t.Helper()
	wantBytes(t, fmt.Sprintf("content of %q", name), readFile(t, fsys, name), want)
	wantSize(t, fsys, name, int64(len(want)))
}

// wantSize checks the size Stat reports for name.
func wantSize(t *testing.T, fsys vfs.FS, name string, want int64) {
	t.Helper()
	fi, err := fsys.Stat(name)
	if err != nil {
		t.Fatalf("Stat(%q): %v", name, err)
	}
	if fi.Size() != want {
		t.Fatalf("Stat(%q).Size() = %d, want %d", name, fi.Size(), want)
	}
}

// wantFileSize checks the size File.Stat reports.
func wantFileSize(t *testing.T, f vfs.File, want int64) {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatalf("File(%q).Stat(): %v", f.Name(), err)
	}
	if fi.Size() != want {
		t.Fatalf("File(%q).Stat().Size() = %d, want %d", f.Name(), fi.Size(), want)
	}
}

// wantBytes compares got with want and reports the first difference.
func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at offset %d: got %s, want %s",
		what, len(got), len(want), i, excerpt(got, i), excerpt(want, i))
}

// excerpt shows up to 16 bytes of b from offset i.
func excerpt(b []byte, i int) string {
	if i >= len(b) {
		return "<end>"
	}
	end := min(i+16, len(b))
	return fmt.Sprintf("%q", b[i:end])
}

// wantErrIs fails unless errors.Is(err, target).
func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want one matching %v", what, err, target)
	}
}

// wantOffset checks a descriptor's offset, found with Seek(0, io.SeekCurrent).
func wantOffset(t *testing.T, f vfs.File, want int64) {
	t.Helper()
	got, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		t.Fatalf("Seek(0, SeekCurrent) on %q: %v", f.Name(), err)
	}
	if got != want {
		t.Fatalf("offset of %q = %d, want %d", f.Name(), got, want)
	}
}

// mustWrite calls f.Write and fails unless all of data was written.
func mustWrite(t *testing.T, f vfs.File, data []byte) {
	t.Helper()
	n, err := f.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write(%q, %d bytes) = %d, %v; want %d, nil", f.Name(), len(data), n, err, len(data))
	}
}

// mustWriteAt calls f.WriteAt and fails unless all of data was written.
func mustWriteAt(t *testing.T, f vfs.File, data []byte, off int64) {
	t.Helper()
	n, err := f.WriteAt(data, off)
	if err != nil || n != len(data) {
		t.Fatalf("WriteAt(%q, %d bytes, %d) = %d, %v; want %d, nil", f.Name(), len(data), off, n, err, len(data))
	}
}

// mustOpen calls fsys.OpenFile and fails on error; the file is closed when
// the test ends if the test has not closed it.
func mustOpen(t *testing.T, fsys vfs.FS, name string, flag int) vfs.File {
	t.Helper()
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatalf("OpenFile(%q, %#x): %v", name, flag, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// mustClose closes c and fails on error.
func mustClose(t *testing.T, what string, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close(%s): %v", what, err)
	}
}

// pattern returns n bytes that differ from their neighbours and from zero,
// so misplaced or zeroed bytes show up in comparisons.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + 1 + seed
		if b[i] == 0 {
			b[i] = 1
		}
	}
	return b
}
