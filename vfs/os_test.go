//go:build linux

package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests cover what is specific to the operating-system FS on Linux:
// the flags reaching open(2), direct I/O and its alignment rules, flock,
// fallocate, syncfs. The behaviour every FS shares is in vfs/vfstest.

// openFlags returns the F_GETFL flags of an osFile's descriptor.
func openFlags(t *testing.T, f File) int {
	t.Helper()
	of, ok := f.(*osFile)
	if !ok {
		t.Fatalf("Default().OpenFile returned %T, want *osFile", f)
	}
	var flags int
	err := of.control("fcntl", func(fd int) error {
		var err error
		flags, err = unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return flags
}

// requireDirectIO skips the test unless dir's file system supports
// O_DIRECT, naming the file system in the message.
func requireDirectIO(t *testing.T, dir string) {
	t.Helper()
	if err := ProbeDirectIO(Default(), dir); err != nil {
		if errors.Is(err, ErrDirectIOUnsupported) {
			t.Skipf("direct I/O unavailable in %s: %v", dir, err)
		}
		t.Fatalf("ProbeDirectIO(%s): %v", dir, err)
	}
}

func TestOpenFlagsReachTheKernel(t *testing.T) {
	dir := t.TempDir()
	fsys := Default()
	plain, err := fsys.OpenFile(filepath.Join(dir, "plain"), ORdWr|OCreate, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if flags := openFlags(t, plain); flags&(unix.O_DSYNC|unix.O_DIRECT) != 0 {
		t.Errorf("plain file has flags %#x, want neither O_DSYNC nor O_DIRECT", flags)
	}
	dsync, err := fsys.OpenFile(filepath.Join(dir, "dsync"), ORdWr|OCreate|ODSync, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer dsync.Close()
	if flags := openFlags(t, dsync); flags&unix.O_DSYNC != unix.O_DSYNC {
		t.Errorf("ODSync file has flags %#x, want O_DSYNC set", flags)
	}

	requireDirectIO(t, dir)
	direct, err := fsys.OpenFile(filepath.Join(dir, "direct"), ORdWr|OCreate|ODirect, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if flags := openFlags(t, direct); flags&unix.O_DIRECT == 0 {
		t.Errorf("ODirect file has flags %#x, want O_DIRECT set", flags)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	fsys := Default()
	name := filepath.Join(dir, "f")
	f, err := fsys.OpenFile(name, ORdWr|OCreate|OExcl, 0o644)
	if err != nil {
		t.Fatalf("first exclusive create: %v", err)
	}
	f.Close()
	if _, err := fsys.OpenFile(name, ORdWr|OCreate|OExcl, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second exclusive create: err = %v, want fs.ErrExist", err)
	}
	if _, err := fsys.OpenFile(filepath.Join(dir, "missing"), ORdOnly, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open missing: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.OpenDir(name); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("OpenDir on a file: err = %v, want ENOTDIR", err)
	}
	if _, err := fsys.OpenDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenDir missing: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := fsys.List(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List missing: err = %v, want fs.ErrNotExist", err)
	}
	if err := fsys.RemoveAll(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("RemoveAll missing: %v, want nil", err)
	}
}

func TestListIsSorted(t *testing.T) {
	dir := t.TempDir()
	fsys := Default()
	for _, n := range []string{"b", "a", "c10", "c2", "B"} {
		if err := WriteFileUnsafe(fsys, filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fsys.MkdirAll(filepath.Join(dir, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"B", "a", "b", "c10", "c2", "d"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("List = %q, want %q", got, want)
	}
}

func TestClosedFile(t *testing.T) {
	dir := t.TempDir()
	requireDirectIO(t, dir)
	for _, flag := range []int{ORdWr | OCreate, ORdWr | OCreate | ODirect} {
		f, err := Default().OpenFile(filepath.Join(dir, "f"), flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		buf := AlignedBuffer(DirectIOAlignmentBytes)
		ops := map[string]func() error{
			"Close":       f.Close,
			"Sync":        f.Sync,
			"SyncData":    f.SyncData,
			"Preallocate": func() error { return f.Preallocate(0, 4096) },
			"Truncate":    func() error { return f.Truncate(0) },
			"ReadAt":      func() error { _, err := f.ReadAt(buf, 0); return err },
			"WriteAt":     func() error { _, err := f.WriteAt(buf, 0); return err },
			"Read":        func() error { _, err := f.Read(buf); return err },
			"Write":       func() error { _, err := f.Write(buf); return err },
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("flag %#x: %s after Close: err = %v, want os.ErrClosed", flag, name, err)
			}
		}
	}
}

func TestDirectIORoundTrip(t *testing.T) {
	dir := t.TempDir()
	requireDirectIO(t, dir)
	fsys := Default()
	name := filepath.Join(dir, "log")
	f, err := fsys.OpenFile(name, ORdWr|OCreate|OExcl|ODirect, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	const blockBytes = DirectIOAlignmentBytes
	wbuf := AlignedBuffer(2 * blockBytes)
	for i := range wbuf {
		wbuf[i] = byte(i*7 + 1)
	}
	if n, err := f.WriteAt(wbuf, blockBytes); err != nil || n != len(wbuf) {
		t.Fatalf("WriteAt: n=%d err=%v", n, err)
	}
	if err := f.SyncData(); err != nil {
		t.Fatalf("SyncData: %v", err)
	}
	rbuf := AlignedBuffer(3 * blockBytes)
	if n, err := f.ReadAt(rbuf, 0); err != nil || n != len(rbuf) {
		t.Fatalf("ReadAt: n=%d err=%v", n, err)
	}
	if !bytes.Equal(rbuf[:blockBytes], make([]byte, blockBytes)) || !bytes.Equal(rbuf[blockBytes:], wbuf) {
		t.Fatal("ReadAt returned other bytes than were written")
	}

	// A file whose size is not aligned (a torn tail, say): a direct read
	// across the end returns what is there and io.EOF, not EINVAL.
	sizeBytes := int64(2*blockBytes + 100)
	if err := f.Truncate(sizeBytes); err != nil {
		t.Fatal(err)
	}
	clear(rbuf)
	n, err := f.ReadAt(rbuf, 0)
	if err != io.EOF || int64(n) != sizeBytes {
		t.Fatalf("ReadAt across end of file: n=%d err=%v, want n=%d err=EOF", n, err, sizeBytes)
	}
	if !bytes.Equal(rbuf[blockBytes:n], wbuf[:n-blockBytes]) {
		t.Fatal("ReadAt across end of file returned wrong bytes")
	}
	if n, err := f.ReadAt(rbuf[:blockBytes], 4*blockBytes); err != io.EOF || n != 0 {
		t.Fatalf("ReadAt past end of file: n=%d err=%v, want 0, EOF", n, err)
	}

	// Sequential Write and Read at aligned offsets.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Write(wbuf[:blockBytes]); err != nil || n != blockBytes {
		t.Fatalf("Write: n=%d err=%v", n, err)
	}
	if n, err := f.Read(rbuf[:blockBytes]); err != nil || n != blockBytes {
		t.Fatalf("Read: n=%d err=%v", n, err)
	}
	if !bytes.Equal(rbuf[:blockBytes], wbuf[blockBytes:2*blockBytes]) {
		t.Fatal("Read after Write returned wrong bytes")
	}
}

func TestDirectIOUnaligned(t *testing.T) {
	dir := t.TempDir()
	requireDirectIO(t, dir)
	fsys := Default()
	f, err := fsys.OpenFile(filepath.Join(dir, "f"), ORdWr|OCreate|ODirect, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const blockBytes = DirectIOAlignmentBytes
	buf := AlignedBuffer(3 * blockBytes)
	if _, err := f.WriteAt(buf[:2*blockBytes], 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    []byte
		off  int64
	}{
		{"buffer address", buf[1 : 1+blockBytes], 0},
		{"buffer address off by a sector", buf[SectorSizeBytes : SectorSizeBytes+blockBytes], 0},
		{"offset", buf[:blockBytes], 1},
		{"offset of one sector", buf[:blockBytes], SectorSizeBytes},
		{"length", buf[:blockBytes-1], 0},
		{"length of one sector", buf[:SectorSizeBytes], 0},
	}
	for _, c := range cases {
		if n, err := f.WriteAt(c.p, c.off); !errors.Is(err, ErrUnaligned) || n != 0 {
			t.Errorf("WriteAt, unaligned %s: n=%d err=%v, want 0, ErrUnaligned", c.name, n, err)
		}
		if n, err := f.ReadAt(c.p, c.off); !errors.Is(err, ErrUnaligned) || n != 0 {
			t.Errorf("ReadAt, unaligned %s: n=%d err=%v, want 0, ErrUnaligned", c.name, n, err)
		}
		if _, err := f.Seek(c.off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if n, err := f.Write(c.p); !errors.Is(err, ErrUnaligned) || n != 0 {
			t.Errorf("Write, unaligned %s: n=%d err=%v, want 0, ErrUnaligned", c.name, n, err)
		}
		n, err := f.Read(c.p)
		if !errors.Is(err, ErrUnaligned) || n != 0 {
			t.Errorf("Read, unaligned %s: n=%d err=%v, want 0, ErrUnaligned", c.name, n, err)
		}
		if err == nil || !strings.Contains(err.Error(), "offset") {
			t.Errorf("error %v does not report the offset", err)
		}
	}
	// Nothing reached the kernel: the file still holds two zero blocks.
	got := AlignedBuffer(3 * blockBytes)
	n, err := f.ReadAt(got, 0)
	if err != io.EOF || n != 2*blockBytes || !bytes.Equal(got[:n], make([]byte, n)) {
		t.Fatalf("after rejected writes: n=%d err=%v, want %d zero bytes and EOF", n, err, 2*blockBytes)
	}

	// With OAppend the write goes to the end of the file, so that is the
	// offset that must be aligned.
	name := filepath.Join(dir, "appended")
	if err := WriteFileUnsafe(fsys, name, []byte("odd size"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := fsys.OpenFile(name, OWrOnly|OAppend|ODirect, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Write(buf[:blockBytes]); !errors.Is(err, ErrUnaligned) {
		t.Errorf("append to a file of unaligned size: err = %v, want ErrUnaligned", err)
	}
}

// procfs refuses O_DIRECT on every kernel, which exercises the refusal path
// for real.
func TestDirectIOUnsupportedProc(t *testing.T) {
	const name = "/proc/version"
	if _, err := os.Stat(name); err != nil {
		t.Skipf("%s not available: %v", name, err)
	}
	f, err := Default().OpenFile(name, ORdOnly|ODirect, 0)
	if err == nil {
		f.Close()
		t.Skipf("this kernel accepts O_DIRECT on %s", name)
	}
	if !errors.Is(err, ErrDirectIOUnsupported) {
		t.Fatalf("err = %v, want ErrDirectIOUnsupported", err)
	}
	for _, want := range []string{name, "proc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// tmpfs refused O_DIRECT until Linux 6.6; newer kernels accept it (tmpfs
// has no device to bypass the cache for). Either way ProbeDirectIO and
// OpenFile must agree, and a refusal must name tmpfs and leave no file.
func TestDirectIOOnDevShm(t *testing.T) {
	const dir = "/dev/shm"
	if typ, ok := fsTypeName(dir); !ok || typ != "tmpfs" {
		t.Skipf("%s is not tmpfs here (%s)", dir, typ)
	}
	probeErr := ProbeDirectIO(Default(), dir)
	name := filepath.Join(dir, "holdfast-vfs-test-"+strings.ReplaceAll(t.Name(), "/", "_"))
	os.Remove(name)
	f, err := Default().OpenFile(name, ORdWr|OCreate|OExcl|ODirect, 0o600)
	if err == nil {
		f.Close()
		os.Remove(name)
		if probeErr != nil {
			t.Fatalf("OpenFile with ODirect succeeded but ProbeDirectIO failed: %v", probeErr)
		}
		var uts unix.Utsname
		unix.Uname(&uts)
		t.Skipf("tmpfs accepts O_DIRECT on this kernel (%s, Linux 6.6+); the refusal path is covered by TestDirectIOUnsupportedProc",
			unix.ByteSliceToString(uts.Release[:]))
	}
	if !errors.Is(err, ErrDirectIOUnsupported) || !strings.Contains(err.Error(), "tmpfs") {
		t.Fatalf("err = %v, want ErrDirectIOUnsupported naming tmpfs", err)
	}
	if !errors.Is(probeErr, ErrDirectIOUnsupported) {
		t.Errorf("ProbeDirectIO = %v, want ErrDirectIOUnsupported", probeErr)
	}
	if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused exclusive ODirect create left %s behind (stat: %v)", name, err)
	}
}

func TestProbeDirectIO(t *testing.T) {
	dir := t.TempDir()
	if err := ProbeDirectIO(Default(), filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrDirectIOUnsupported) {
		t.Errorf("ProbeDirectIO of a missing directory: err = %v, want an error that is not ErrDirectIOUnsupported", err)
	}
	err := ProbeDirectIO(Default(), dir)
	if err != nil && !errors.Is(err, ErrDirectIOUnsupported) {
		t.Fatalf("ProbeDirectIO: %v", err)
	}
	names, lerr := Default().List(dir)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(names) != 0 {
		t.Errorf("ProbeDirectIO left %q in %s", names, dir)
	}
}

func TestLock(t *testing.T) {
	fsys := Default()
	name := filepath.Join(t.TempDir(), "LOCK")
	l1, err := fsys.Lock(name)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	l2, err := fsys.Lock(name)
	if !errors.Is(err, ErrLocked) {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second Lock: err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("error %q does not name the lock file", err)
	}
	if err := l1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l1.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: err = %v, want os.ErrClosed", err)
	}
	l3, err := fsys.Lock(name)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	l3.Close()
	if _, err := fsys.Lock(filepath.Join(name, "missing-dir", "LOCK")); err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("Lock in a missing directory: err = %v, want a non-ErrLocked error", err)
	}
}

func TestPreallocate(t *testing.T) {
	dir := t.TempDir()
	type variant struct {
		name string
		flag int
		// prealloc is Preallocate itself, or the fallback used when the
		// file system has no fallocate, called directly.
		prealloc func(f File, off, length int64) error
	}
	variants := []variant{
		{"fallocate", ORdWr | OCreate, func(f File, off, length int64) error { return f.Preallocate(off, length) }},
		{"write zeros", ORdWr | OCreate, func(f File, off, length int64) error {
			return f.(*osFile).preallocateByWriting(off, length)
		}},
	}
	if ProbeDirectIO(Default(), dir) == nil {
		variants = append(variants,
			variant{"fallocate direct", ORdWr | OCreate | ODirect, func(f File, off, length int64) error { return f.Preallocate(off, length) }},
			variant{"write zeros direct", ORdWr | OCreate | ODirect, func(f File, off, length int64) error {
				return f.(*osFile).preallocateByWriting(off, length)
			}})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			name := filepath.Join(dir, strings.ReplaceAll(v.name, " ", "-"))
			// An unaligned size with data in it: preallocation must keep it.
			if err := WriteFileUnsafe(Default(), name, []byte("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Default().OpenFile(name, v.flag, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			const lengthBytes = 1<<20 + 123
			if err := v.prealloc(f, 0, lengthBytes); err != nil {
				t.Fatalf("preallocate: %v", err)
			}
			info, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() != lengthBytes {
				t.Fatalf("size after preallocate = %d, want %d", info.Size(), lengthBytes)
			}
			if blocks := info.Sys().(*syscall.Stat_t).Blocks; blocks*512 < lengthBytes {
				t.Errorf("only %d bytes allocated, want at least %d", blocks*512, lengthBytes)
			}
			// Preallocating inside the file changes nothing.
			if err := v.prealloc(f, 4096, 10); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) != lengthBytes || string(data[:5]) != "hello" || !bytes.Equal(data[5:], make([]byte, lengthBytes-5)) {
				t.Fatalf("after preallocate: %d bytes starting %q, want %q and zeros to %d bytes", len(data), data[:min(len(data), 8)], "hello", lengthBytes)
			}
		})
	}
	f, err := Default().OpenFile(filepath.Join(dir, "neg"), ORdWr|OCreate, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Preallocate(-1, 10); err == nil {
		t.Error("Preallocate with a negative offset succeeded")
	}
	if err := f.Preallocate(0, 0); err != nil {
		t.Errorf("Preallocate of zero bytes: %v, want nil", err)
	}
}

func TestSyncs(t *testing.T) {
	dir := t.TempDir()
	fsys := Default()
	f, err := fsys.OpenFile(filepath.Join(dir, "f"), ORdWr|OCreate, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncData(); err != nil {
		t.Errorf("SyncData: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	if err := SyncDir(fsys, dir); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := fsys.SyncFS(dir); err != nil {
		t.Errorf("SyncFS(dir): %v", err)
	}
	if err := fsys.SyncFS(f.Name()); err != nil {
		t.Errorf("SyncFS(file): %v", err)
	}
	if err := fsys.SyncFS(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncFS(missing): err = %v, want fs.ErrNotExist", err)
	}
}

func TestFSTypeName(t *testing.T) {
	if typ, ok := fsTypeName("/proc"); !ok || typ != "proc" {
		t.Errorf("fsTypeName(/proc) = %q, %v, want proc", typ, ok)
	}
	if typ, ok := fsTypeName("/nonexistent-holdfast-path"); ok {
		t.Errorf("fsTypeName of a missing path = %q, ok, want !ok", typ)
	}
	if typ := fsTypeNameNear("/proc/nonexistent-holdfast-file"); typ != "proc" {
		t.Errorf("fsTypeNameNear(/proc/missing) = %q, want proc (from the directory)", typ)
	}
}
