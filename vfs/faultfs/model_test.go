package faultfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

func writeFile(t *testing.T, fsys vfs.FS, name string, data []byte, sync bool) {
	t.Helper()
	f, err := vfs.Create(fsys, name)
	must(t, err)
	_, err = f.Write(data)
	must(t, err)
	if sync {
		must(t, f.Sync())
	}
	must(t, f.Close())
}

func readOrMissing(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	data, err := vfs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "<missing>"
	}
	must(t, err)
	return string(data)
}

// Directory entries are durable only after a directory sync in strict
// mode, at once in lazy mode; file data only after the file's sync.
func TestDirectoryDurability(t *testing.T) {
	for _, tc := range []struct {
		dirs                  faultfs.DirMode
		syncFile, syncDir     bool
		want, wantAfterRename string
	}{
		{faultfs.DirStrict, true, false, "<missing>", "<missing>"},
		{faultfs.DirStrict, false, true, "", "<missing>"},
		{faultfs.DirStrict, true, true, "data", "<missing>"},
		{faultfs.DirLazy, false, false, "", ""},
		{faultfs.DirLazy, true, false, "data", "data"},
	} {
		fsys := faultfs.New(faultfs.Options{Dirs: tc.dirs})
		must(t, fsys.MkdirAll("/d", 0o755))
		must(t, vfs.SyncDir(fsys, "/"))
		writeFile(t, fsys, "/d/f", []byte("data"), tc.syncFile)
		if tc.syncDir {
			must(t, vfs.SyncDir(fsys, "/d"))
		}
		clone, err := fsys.CrashClone(faultfs.CrashOptions{})
		must(t, err)
		if got := readOrMissing(t, clone, "/d/f"); got != tc.want {
			t.Errorf("%+v: after crash /d/f = %q, want %q", tc, got, tc.want)
		}
		// A rename not followed by a directory sync is lost in strict
		// mode: the old name survives.
		must(t, fsys.Rename("/d/f", "/d/g"))
		clone, err = fsys.CrashClone(faultfs.CrashOptions{})
		must(t, err)
		if got := readOrMissing(t, clone, "/d/g"); got != tc.wantAfterRename {
			t.Errorf("%+v: after rename and crash /d/g = %q, want %q", tc, got, tc.wantAfterRename)
		}
	}
}

// A crash keeps a seeded random subset of unsynced sectors: the same seed
// gives the same state, another seed a different one, and synced data is
// always intact.
func TestCrashKeepsSeededSubset(t *testing.T) {
	state := func(seed uint64, opts faultfs.CrashOptions) []byte {
		fsys := faultfs.New(faultfs.Options{Seed: seed})
		synced := bytes.Repeat([]byte{'s'}, 4*faultfs.PageSizeBytes)
		writeFile(t, fsys, "/f", synced, true)
		must(t, vfs.SyncDir(fsys, "/"))
		f, err := fsys.OpenFile("/f", vfs.ORdWr, 0)
		must(t, err)
		_, err = f.WriteAt(bytes.Repeat([]byte{'n'}, 4*faultfs.PageSizeBytes), 0)
		must(t, err)
		must(t, fsys.Crash(opts))
		data, err := vfs.ReadFile(fsys, "/f")
		must(t, err)
		if len(data) != len(synced) {
			t.Fatalf("size after crash %d, want %d", len(data), len(synced))
		}
		for i, c := range data {
			if c != 's' && c != 'n' {
				t.Fatalf("byte %d is %q: neither the synced nor the unsynced content", i, c)
			}
		}
		return data
	}
	opts := faultfs.CrashOptions{KeepUnsyncedPercent: 50, UnitBytes: faultfs.SectorSizeBytes}
	a, b, c := state(7, opts), state(7, opts), state(8, opts)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave two different crash states")
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same crash state")
	}
	kept := bytes.Count(a, []byte{'n'}) / faultfs.SectorSizeBytes
	if kept == 0 || kept == 32 {
		t.Fatalf("kept %d of 32 sectors at 50%%; want some but not all", kept)
	}
	// Sector units tear pages: some page holds both contents.
	torn := false
	for off := 0; off < len(a); off += faultfs.PageSizeBytes {
		pg := a[off : off+faultfs.PageSizeBytes]
		if bytes.Contains(pg, []byte{'s'}) && bytes.Contains(pg, []byte{'n'}) {
			torn = true
		}
	}
	if !torn {
		t.Fatal("no page is torn with 512-byte units")
	}
	// Page units never tear a page.
	p := state(7, faultfs.CrashOptions{KeepUnsyncedPercent: 50, UnitBytes: faultfs.PageSizeBytes})
	for off := 0; off < len(p); off += faultfs.PageSizeBytes {
		pg := p[off : off+faultfs.PageSizeBytes]
		if bytes.Contains(pg, []byte{'s'}) && bytes.Contains(pg, []byte{'n'}) {
			t.Fatalf("page at %d is torn with 4 KiB units", off)
		}
	}
	if all := state(7, faultfs.CrashOptions{}); bytes.Contains(all, []byte{'n'}) {
		t.Fatal("the default crash kept unsynced data")
	}
	if all := state(7, faultfs.CrashOptions{KeepUnsyncedPercent: 100}); bytes.Contains(all, []byte{'s'}) {
		t.Fatal("keeping 100% lost unsynced data")
	}
	if torn := state(3, faultfs.CrashOptions{TearOne: true}); !bytes.Contains(torn, []byte{'n'}) || !bytes.Contains(torn, []byte{'s'}) {
		t.Fatal("TearOne did not tear a pending write")
	}
}

// O_DIRECT writes skip the page cache but sit in the device's volatile
// cache until a sync; with O_DSYNC they are durable at once. An O_DIRECT
// read sees the device, not a clean page that failed to reach it.
func TestDirectIOModel(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	buf := vfs.AlignedBuffer(faultfs.PageSizeBytes)
	copy(buf, bytes.Repeat([]byte{'d'}, len(buf)))

	f, err := fsys.OpenFile("/direct", vfs.ORdWr|vfs.OCreate|vfs.ODirect, 0o644)
	must(t, err)
	must(t, vfs.SyncDir(fsys, "/"))
	_, err = f.WriteAt(buf, 0)
	must(t, err)
	if n, _ := fsys.UnsyncedBytes("/direct"); n != faultfs.PageSizeBytes {
		t.Fatalf("unsynced bytes after a direct write = %d, want %d (volatile device cache)", n, faultfs.PageSizeBytes)
	}
	if got := crashedFile(t, fsys, "/direct"); got != "" {
		t.Fatalf("direct write without sync survived a crash: %d bytes", len(got))
	}
	must(t, f.SyncData())
	if got := crashedFile(t, fsys, "/direct"); got != string(buf) {
		t.Fatal("direct write lost after SyncData")
	}

	g, err := fsys.OpenFile("/dsync", vfs.ORdWr|vfs.OCreate|vfs.ODirect|vfs.ODSync, 0o644)
	must(t, err)
	must(t, vfs.SyncDir(fsys, "/"))
	_, err = g.WriteAt(buf, 0)
	must(t, err)
	if got := crashedFile(t, fsys, "/dsync"); got != string(buf) {
		t.Fatal("O_DIRECT|O_DSYNC write not durable on return")
	}

	// Buffered write, failed sync (ext4: page clean with new content):
	// a buffered read says 'n', a direct read tells the truth.
	h, err := fsys.OpenFile("/direct", vfs.ORdWr, 0)
	must(t, err)
	_, err = h.WriteAt(bytes.Repeat([]byte{'n'}, faultfs.PageSizeBytes), 0)
	must(t, err)
	failNextSync(fsys)
	if err := h.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync = %v, want EIO", err)
	}
	fsys.SetInjector(nil)
	cached := make([]byte, faultfs.PageSizeBytes)
	_, err = h.ReadAt(cached, 0)
	must(t, err)
	if cached[0] != 'n' {
		t.Fatalf("buffered read after failed sync = %q, want the cached 'n'", cached[0])
	}
	device := vfs.AlignedBuffer(faultfs.PageSizeBytes)
	_, err = f.ReadAt(device, 0)
	must(t, err)
	if device[0] != 'd' {
		t.Fatalf("direct read after failed sync = %q, want the device's 'd'", device[0])
	}
	if _, err := f.WriteAt(buf[:100], 0); !errors.Is(err, vfs.ErrUnaligned) {
		t.Fatalf("unaligned direct write = %v, want ErrUnaligned", err)
	}
}

// crashedFile returns the content of name after a crash of a clone, "" if
// missing.
func crashedFile(t *testing.T, fsys *faultfs.FS, name string) string {
	t.Helper()
	clone, err := fsys.CrashClone(faultfs.CrashOptions{})
	must(t, err)
	got := readOrMissing(t, clone, name)
	if got == "<missing>" {
		return ""
	}
	return got
}

func TestDeviceFaults(t *testing.T) {
	setupFile := func() *faultfs.FS {
		fsys := faultfs.New(faultfs.Options{})
		writeFile(t, fsys, "/f", append(pageOf('a'), pageOf('b')...), true)
		must(t, vfs.SyncDir(fsys, "/"))
		return fsys
	}

	t.Run("latent read error", func(t *testing.T) {
		fsys := setupFile()
		fsys.LatentReadError("/f", faultfs.PageSizeBytes+10, 1)
		// Cached pages still serve...
		if _, err := vfs.ReadFile(fsys, "/f"); err != nil {
			t.Fatalf("read with pages cached = %v, want nil", err)
		}
		// ...until evicted.
		must(t, fsys.EvictCleanPages(""))
		f, err := vfs.Open(fsys, "/f")
		must(t, err)
		p := make([]byte, 10)
		if _, err := f.ReadAt(p, 0); err != nil {
			t.Fatalf("read of the good page = %v", err)
		}
		if _, err := f.ReadAt(p, faultfs.PageSizeBytes); !errors.Is(err, syscall.EIO) {
			t.Fatalf("read of the bad page = %v, want EIO", err)
		}
		fsys.ClearDeviceFaults()
		if _, err := f.ReadAt(p, faultfs.PageSizeBytes); err != nil {
			t.Fatalf("read after clearing = %v", err)
		}
	})

	t.Run("bit flip", func(t *testing.T) {
		fsys := setupFile()
		must(t, fsys.FlipBit("/f", 5, 0))
		if got, _ := vfs.ReadFile(fsys, "/f"); got[5] != 'a' {
			t.Fatal("a flip on the medium showed through cached pages")
		}
		must(t, fsys.EvictCleanPages("/f"))
		if got, _ := vfs.ReadFile(fsys, "/f"); got[5] != 'a'^1 {
			t.Fatalf("after eviction byte 5 = %q, want the flipped %q", got[5], 'a'^1)
		}
		if err := fsys.FlipBit("/f", 1<<20, 0); err == nil {
			t.Fatal("a flip outside the file was accepted")
		}
	})

	t.Run("misdirected write", func(t *testing.T) {
		fsys := setupFile()
		must(t, fsys.MisdirectWrite("/f", 0, faultfs.PageSizeBytes))
		f, err := fsys.OpenFile("/f", vfs.ORdWr, 0)
		must(t, err)
		_, err = f.WriteAt(pageOf('x'), 0)
		must(t, err)
		must(t, f.Sync())
		if got := crashedFile(t, fsys, "/f"); got != string(pageOf('a'))+string(pageOf('x')) {
			t.Fatalf("after a misdirected write the file is %q...; want page 0 old and page 1 overwritten", got[:8])
		}
	})

	t.Run("ENOSPC", func(t *testing.T) {
		fsys := faultfs.New(faultfs.Options{SpaceBudgetBytes: 10})
		f, err := vfs.Create(fsys, "/f")
		must(t, err)
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatalf("write within the budget = %v", err)
		}
		if n, err := f.Write([]byte("x")); !errors.Is(err, syscall.ENOSPC) || n != 0 {
			t.Fatalf("write past the budget = %d, %v; want 0, ENOSPC", n, err)
		}
		if err := f.Preallocate(0, 100); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("preallocate past the budget = %v, want ENOSPC", err)
		}
		if data, _ := vfs.ReadFile(fsys, "/f"); string(data) != "0123456789" {
			t.Fatalf("a refused write changed the file: %q", data)
		}
		must(t, f.Truncate(0))
		if _, err := f.WriteAt([]byte("abc"), 0); err != nil {
			t.Fatalf("write after freeing space = %v", err)
		}
	})

	t.Run("latency", func(t *testing.T) {
		fsys := faultfs.New(faultfs.Options{Latency: map[faultfs.OpKind]time.Duration{faultfs.OpSync: 20 * time.Millisecond}})
		f, err := vfs.Create(fsys, "/f")
		must(t, err)
		start := time.Now()
		must(t, f.Sync())
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Fatalf("sync took %v, want at least the injected 20ms", d)
		}
	})
}

// An injected crash stops the file system until Restart; handles opened
// before it are dead for good.
func TestInjectedCrash(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{OpLogLimit: 100})
	writeFile(t, fsys, "/a", []byte("synced"), true)
	must(t, vfs.SyncDir(fsys, "/"))
	f, err := fsys.OpenFile("/a", vfs.ORdWr, 0)
	must(t, err)
	fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync), 1, faultfs.ErrCrashAfter))
	_, err = f.WriteAt([]byte("SYNCED"), 0)
	must(t, err)
	if err := f.Sync(); !errors.Is(err, faultfs.ErrCrashed) {
		t.Fatalf("sync with crash-after = %v, want ErrCrashed", err)
	}
	if _, err := vfs.ReadFile(fsys, "/a"); !errors.Is(err, faultfs.ErrCrashed) {
		t.Fatalf("read while down = %v, want ErrCrashed", err)
	}
	fsys.Restart()
	fsys.SetInjector(nil)
	// The sync ran before the crash, so its data is durable.
	if got := readOrMissing(t, fsys, "/a"); got != "SYNCED" {
		t.Fatalf("after crash-after-sync /a = %q, want SYNCED", got)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, faultfs.ErrCrashed) {
		t.Fatalf("old handle after restart = %v, want ErrCrashed", err)
	}
	log := fsys.OpLog()
	if len(log) == 0 || !slices.ContainsFunc(log, func(r faultfs.OpRecord) bool { return r.Op.Kind == faultfs.OpSync && r.Err != "" }) {
		t.Fatalf("the op log does not show the crashed sync: %v", log)
	}
}

// The same seed and injector give the same run: the operation log and the
// crash state are identical.
func TestDeterministicReplay(t *testing.T) {
	run := func(seed uint64) ([]faultfs.OpRecord, string) {
		fsys := faultfs.New(faultfs.Options{Seed: seed, OpLogLimit: 1000, Profile: faultfs.ProfileExt4Ordered})
		fsys.SetInjector(faultfs.Probability(faultfs.Kinds(faultfs.OpDeviceWrite), 0.3, seed, syscall.EIO))
		must(t, fsys.MkdirAll("/d", 0o755))
		writeFile(t, fsys, "/d/log", nil, false)
		must(t, fsys.SyncFS("/"))
		for i := 0; i < 20; i++ {
			f, err := fsys.OpenFile("/d/log", vfs.OWrOnly|vfs.OCreate|vfs.OAppend, 0o644)
			must(t, err)
			_, err = f.Write(bytes.Repeat([]byte{byte('a' + i)}, 3000))
			must(t, err)
			f.Sync() // failures are part of the run
			must(t, f.Close())
		}
		must(t, fsys.Crash(faultfs.CrashOptions{KeepUnsyncedPercent: 50, UnitBytes: faultfs.SectorSizeBytes, DirOps: faultfs.RandomDirOps}))
		return fsys.OpLog(), readOrMissing(t, fsys, "/d/log")
	}
	log1, state1 := run(11)
	log2, state2 := run(11)
	if !slices.Equal(log1, log2) || state1 != state2 {
		t.Fatal("two runs with seed 11 differ")
	}
	_, state3 := run(12)
	if state1 == state3 {
		t.Fatal("seeds 11 and 12 gave the same crash state")
	}
}
