package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsTempFile(t *testing.T) {
	cases := []struct {
		name string
		want bool
	}{
		{".MANIFEST.tmp-0123456789abcdef", true},
		{"/data/ds/.snapshot.json.tmp-fedcba9876543210", true},
		{"..tmp-0123456789abcdef", false},               // no base name
		{"MANIFEST.tmp-0123456789abcdef", false},        // no leading dot
		{".MANIFEST.tmp-0123456789ABCDEF", false},       // upper-case hex
		{".MANIFEST.tmp-0123456789abcde", false},        // 15 digits
		{".MANIFEST.tmp-0123456789abcdef0", false},      // 17 digits
		{".MANIFEST", false},                            // hidden, not temp
		{"MANIFEST", false},                             //
		{".a.tmp-b.tmp-0123456789abcdef", true},         // base name containing the infix
		{".MANIFEST.tmp-0123456789abcdef/child", false}, // a path below one
	}
	for _, c := range cases {
		if got := IsTempFile(c.name); got != c.want {
			t.Errorf("IsTempFile(%q) = %v, want %v", c.name, got, c.want)
		}
	}
	seen := map[string]bool{}
	for range 100 {
		tmp, err := tempFileName("/d/MANIFEST")
		if err != nil {
			t.Fatal(err)
		}
		if !IsTempFile(tmp) || filepath.Dir(tmp) != "/d" || !strings.HasPrefix(filepath.Base(tmp), ".MANIFEST.tmp-") {
			t.Fatalf("tempFileName = %q: not a temp file name next to /d/MANIFEST", tmp)
		}
		if seen[tmp] {
			t.Fatalf("tempFileName repeated %q", tmp)
		}
		seen[tmp] = true
	}
}

func TestWriteFileAtomic(t *testing.T) {
	fsys := Default()
	dir := t.TempDir()
	name := filepath.Join(dir, "MANIFEST")
	for _, content := range []string{"first version", "second, longer version", ""} {
		if err := WriteFileAtomic(fsys, name, []byte(content), 0o600); err != nil {
			t.Fatalf("WriteFileAtomic(%q): %v", content, err)
		}
		got, err := ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("after WriteFileAtomic(%q): read %q", content, got)
		}
		assertNoTempFiles(t, fsys, dir)
	}
	info, err := fsys.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("mode %v, want no group or other bits (created with 0600)", perm)
	}
}

// The paced form writes the same contents chunk by chunk, fdatasyncing
// each chunk but the last, which the final fsync covers; a failed chunk
// sync leaves name untouched and no temporary file.
func TestWriteFileAtomicPaced(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "CHECKPOINT")
	for _, n := range []int{0, 999, 1000, 4500} {
		data := []byte(strings.Repeat("0123456789", n/10) + strings.Repeat("x", n%10))
		fsys := &countFS{FS: Default()}
		if err := WriteFileAtomicPaced(fsys, name, data, 0o600, 1000); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := ReadFile(fsys, name)
		if err != nil || string(got) != string(data) {
			t.Fatalf("%d bytes: read %d bytes back, %v", n, len(got), err)
		}
		if want := max(0, (n+999)/1000-1); fsys.syncData != want || fsys.sync != 1 {
			t.Fatalf("%d bytes in chunks of 1000: %d fdatasyncs and %d fsyncs, want %d and 1", n, fsys.syncData, fsys.sync, want)
		}
		assertNoTempFiles(t, fsys, dir)
	}
	before, _ := ReadFile(Default(), name)
	err := WriteFileAtomicPaced(failFS{FS: Default(), failOn: "syncdata"}, name, make([]byte, 3000), 0o600, 1000)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "sync temp file") {
		t.Fatalf("failed chunk sync: %v", err)
	}
	if after, _ := ReadFile(Default(), name); string(after) != string(before) {
		t.Fatal("a failed chunk sync replaced the file")
	}
	assertNoTempFiles(t, Default(), dir)
}

// countFS counts the syncs of the files it opens.
type countFS struct {
	FS
	sync, syncData int
}

func (c *countFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countFile{File: f, c: c}, nil
}

type countFile struct {
	File
	c *countFS
}

func (f countFile) Sync() error     { f.c.sync++; return f.File.Sync() }
func (f countFile) SyncData() error { f.c.syncData++; return f.File.SyncData() }

func TestWriteFileUnsafe(t *testing.T) {
	fsys := Default()
	name := filepath.Join(t.TempDir(), "snapshot.json")
	for _, content := range []string{"a longer first version", "short"} {
		if err := WriteFileUnsafe(fsys, name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("read %q, want %q (the file must be truncated)", got, content)
		}
	}
}

func assertNoTempFiles(t *testing.T, fsys FS, dir string) {
	t.Helper()
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if IsTempFile(n) || strings.Contains(n, TempFileInfix) {
			t.Errorf("temp file %q left in %s", n, dir)
		}
	}
}

var errInjected = errors.New("injected failure")

// failFS wraps an FS and fails one kind of step with errInjected, to check
// what WriteFileAtomic leaves behind. faultfs does this in depth; this is
// the minimum that keeps these tests independent of it.
type failFS struct {
	FS
	failOn string // "create", "write", "sync", "close", "rename", "opendir", "dirsync"
}

func (f failFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if f.failOn == "create" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errInjected}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return failFile{File: file, failOn: f.failOn}, nil
}

func (f failFS) Rename(oldname, newname string) error {
	if f.failOn == "rename" {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errInjected}
	}
	return f.FS.Rename(oldname, newname)
}

func (f failFS) OpenDir(name string) (Dir, error) {
	if f.failOn == "opendir" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errInjected}
	}
	d, err := f.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return failDir{Dir: d, failOn: f.failOn}, nil
}

type failFile struct {
	File
	failOn string
}

func (f failFile) Write(p []byte) (int, error) {
	if f.failOn == "write" {
		// A short write, as ENOSPC half way through gives.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errInjected
	}
	return f.File.Write(p)
}

func (f failFile) Sync() error {
	if f.failOn == "sync" {
		return errInjected
	}
	return f.File.Sync()
}

func (f failFile) SyncData() error {
	if f.failOn == "syncdata" {
		return errInjected
	}
	return f.File.SyncData()
}

func (f failFile) Close() error {
	err := f.File.Close()
	if f.failOn == "close" {
		return errInjected
	}
	return err
}

type failDir struct {
	Dir
	failOn string
}

func (d failDir) Sync() error {
	if d.failOn == "dirsync" {
		return errInjected
	}
	return d.Dir.Sync()
}

func TestWriteFileAtomicFailures(t *testing.T) {
	cases := []struct {
		failOn   string
		wantStep string
		// replaced: whether name holds the new contents afterwards.
		replaced bool
	}{
		{"create", "create temp file", false},
		{"write", "write temp file", false},
		{"sync", "sync temp file", false},
		{"close", "close temp file", false},
		{"rename", "rename", false},
		{"opendir", "sync directory", true},
		{"dirsync", "sync directory", true},
	}
	for _, c := range cases {
		t.Run(c.failOn, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "MANIFEST")
			if err := WriteFileAtomic(Default(), name, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			fsys := failFS{FS: Default(), failOn: c.failOn}
			err := WriteFileAtomic(fsys, name, []byte("new contents"), 0o644)
			if !errors.Is(err, errInjected) {
				t.Fatalf("err = %v, want the injected error", err)
			}
			if !strings.Contains(err.Error(), c.wantStep) || !strings.Contains(err.Error(), name) {
				t.Errorf("err = %q, want it to name the step %q and the file", err, c.wantStep)
			}
			if c.replaced && !strings.Contains(err.Error(), "outcome unknown") {
				t.Errorf("err = %q, want it to say the outcome is unknown", err)
			}
			got, rerr := ReadFile(Default(), name)
			if rerr != nil {
				t.Fatal(rerr)
			}
			want := "old"
			if c.replaced {
				want = "new contents"
			}
			if string(got) != want {
				t.Errorf("after failure %s holds %q, want %q", name, got, want)
			}
			assertNoTempFiles(t, Default(), dir)
		})
	}
}
