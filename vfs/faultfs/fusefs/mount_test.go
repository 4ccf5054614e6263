package fusefs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// syncBuffer is a log the server writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// requireFUSE skips, saying why, where a FUSE mount cannot be made.
func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("skipping: FUSE mount tests need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("skipping: no /dev/fuse: %v", err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("skipping: fusermount3 not found (scripts/install-test-deps.sh installs fuse3)")
	}
}

type testMount struct {
	srv               *Server
	backing, mnt, ctl string
	log               *syncBuffer
}

// mountT mounts a fresh faultfs and unmounts it when the test ends, even
// if it fails.
func mountT(t *testing.T, o Options) *testMount {
	t.Helper()
	requireFUSE(t)
	dir := t.TempDir()
	tm := &testMount{backing: filepath.Join(dir, "backing"), mnt: filepath.Join(dir, "mnt"), log: &syncBuffer{}}
	for _, d := range []string{tm.backing, tm.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o.Backing, o.Mountpoint, o.Log = tm.backing, tm.mnt, tm.log
	if o.Control == "*" {
		tm.ctl = filepath.Join(dir, "faults.fifo")
		o.Control = tm.ctl
	}
	srv, err := Mount(o)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	tm.srv = srv
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			exec.Command("umount", "-l", tm.mnt).Run()
		}
		srv.Close()
	})
	return tm
}

func (tm *testMount) path(name string) string { return filepath.Join(tm.mnt, name) }

func (tm *testMount) cmd(t *testing.T, line string) string {
	t.Helper()
	out, err := tm.srv.Command(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out
}

func readBacking(t *testing.T, tm *testMount, name string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tm.backing, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// TestMountDurability: data reaches the backing directory only when the
// model makes it durable: fsync for data, a directory fsync for names
// under DirStrict, at once under DirLazy; O_DSYNC writes are durable.
func TestMountDurability(t *testing.T) {
	tm := mountT(t, Options{Profile: faultfs.ProfileExt4Ordered})
	f, err := os.OpenFile(tm.path("a"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(tm.path("a")); err != nil || string(got) != "hello" {
		t.Fatalf("read through the mount: %q, %v", got, err)
	}
	if _, ok := readBacking(t, tm, "a"); ok {
		t.Fatal("an unsynced file is in the backing directory")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := readBacking(t, tm, "a"); ok {
		t.Fatal("a synced file whose name was never synced is in the backing directory (DirStrict)")
	}
	d, err := os.Open(tm.mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got, ok := readBacking(t, tm, "a"); !ok || got != "hello" {
		t.Fatalf("after fsync of file and directory the backing holds %q (present %t)", got, ok)
	}
	// Unsynced overwrite: visible, not durable; a crash takes it away.
	if _, err := f.WriteAt([]byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := readBacking(t, tm, "a"); got != "hello" {
		t.Fatalf("unsynced overwrite reached the backing: %q", got)
	}
	tm.cmd(t, "faultfs::crash")
	if got, err := os.ReadFile(tm.path("a")); err != nil || string(got) != "hello" {
		t.Fatalf("after a crash the mount reads %q, %v; want the durable hello", got, err)
	}
	// The old descriptor died with the crash.
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write on a descriptor from before the crash: %v, want EIO", err)
	}
	// O_DSYNC writes are durable when they return.
	g, err := os.OpenFile(tm.path("a"), os.O_RDWR|syscall.O_DSYNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("Y"), 4); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if got, _ := readBacking(t, tm, "a"); got != "hellY" {
		t.Fatalf("after an O_DSYNC write the backing holds %q, want hellY", got)
	}
}

// TestMountRemountKeepsDurableState: a second mount of the same backing
// directory starts from it; a discarding unmount loses unsynced data.
func TestMountRemountKeepsDurableState(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	backing, mnt := filepath.Join(dir, "b"), filepath.Join(dir, "m")
	os.Mkdir(backing, 0o755)
	os.Mkdir(mnt, 0o755)
	mount := func() *Server {
		srv, err := Mount(Options{Backing: backing, Mountpoint: mnt, Dirs: faultfs.DirLazy, OnUnmount: UnmountDiscard, Log: &syncBuffer{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Unmount(); srv.Close() })
		return srv
	}
	srv := mount()
	os.WriteFile(filepath.Join(mnt, "synced"), []byte("s"), 0o644)
	f, _ := os.OpenFile(filepath.Join(mnt, "synced"), os.O_RDWR, 0)
	f.Sync()
	f.Close()
	os.WriteFile(filepath.Join(mnt, "unsynced"), []byte("u"), 0o644)
	if err := srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	mount()
	if got, err := os.ReadFile(filepath.Join(mnt, "synced")); err != nil || string(got) != "s" {
		t.Fatalf("remounted synced file: %q, %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "unsynced")); err != nil || len(got) != 0 {
		t.Fatalf("remounted unsynced file (name durable at once under DirLazy, data never synced): %q, %v; want empty", got, err)
	}
}

// The ATC'20 overwrite workload, through the mount, per profile: the file
// holds pages A B C, durable; B is overwritten with X and the fsync
// fails. Expectations as docs/faultfs.md's table.
func TestMountProfilesOverwrite(t *testing.T) {
	type want struct {
		syncFails              bool
		read, evicted, crashed string
	}
	cases := map[faultfs.Profile]want{
		faultfs.ProfileExt4Ordered: {true, "AXC", "ABC", "ABC"},
		faultfs.ProfileXFS:         {true, "AXC", "ABC", "ABC"},
		faultfs.ProfileExt4Journal: {false, "AXC", "ABC", "ABC"},
		faultfs.ProfileBtrfs:       {true, "ABC", "ABC", "ABC"},
		faultfs.ProfileStrict:      {true, "AXC", "AXC", "ABC"},
	}
	page := func(c byte) []byte { return bytes.Repeat([]byte{c}, faultfs.PageSizeBytes) }
	letters := func(b []byte) string {
		var s strings.Builder
		for i := 0; i+faultfs.PageSizeBytes <= len(b); i += faultfs.PageSizeBytes {
			s.WriteByte(b[i])
		}
		return s.String()
	}
	for _, p := range faultfs.Profiles {
		t.Run(string(p), func(t *testing.T) {
			w := cases[p]
			tm := mountT(t, Options{Profile: p, Dirs: faultfs.DirLazy})
			f, err := os.OpenFile(tm.path("f"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Write(bytes.Join([][]byte{page('A'), page('B'), page('C')}, nil))
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			tm.cmd(t, "faultfs::fail-sync::path=/f::nth=1")
			f.WriteAt(page('X'), faultfs.PageSizeBytes)
			err = f.Sync()
			if w.syncFails != errors.Is(err, syscall.EIO) {
				t.Fatalf("fsync after the fault: %v; want failure %t", err, w.syncFails)
			}
			read := func() string {
				b, err := os.ReadFile(tm.path("f"))
				if err != nil {
					t.Fatal(err)
				}
				return letters(b)
			}
			if got := read(); got != w.read {
				t.Errorf("read after the failed fsync: %s, want %s", got, w.read)
			}
			tm.cmd(t, "faultfs::evict-clean-pages")
			if got := read(); got != w.evicted {
				t.Errorf("read after eviction: %s, want %s", got, w.evicted)
			}
			tm.cmd(t, "faultfs::crash")
			if got := read(); got != w.crashed {
				t.Errorf("read after a crash: %s, want %s", got, w.crashed)
			}
			if got, _ := readBacking(t, tm, "f"); letters([]byte(got)) != w.crashed {
				t.Errorf("backing directory holds %s, want %s", letters([]byte(got)), w.crashed)
			}
		})
	}
}

func sqlite(t *testing.T, db string, sql string) (string, error) {
	t.Helper()
	out, err := exec.Command("sqlite3", "-batch", db, sql).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestMountSQLite runs the real sqlite3 CLI on the mount, in rollback and
// WAL mode, under each profile: committed rows survive a crash; with the
// first fsync of the journal (or WAL) failing, sqlite3 reports an I/O
// error and, after a crash, the failed row is gone and the database is
// intact.
func TestMountSQLite(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("skipping: sqlite3 not found (scripts/install-test-deps.sh installs it)")
	}
	for _, mode := range []string{"delete", "wal"} {
		for _, p := range faultfs.Profiles {
			t.Run(mode+"/"+string(p), func(t *testing.T) {
				tm := mountT(t, Options{Profile: p})
				db := tm.path("t.db")
				if out, err := sqlite(t, db, "PRAGMA journal_mode="+mode+"; PRAGMA synchronous=FULL; CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES('k1','v1');"); err != nil {
					t.Fatalf("create: %v: %s", err, out)
				}
				// SQLite does not fsync the directory after creating the
				// database: make the name durable as an installer would.
				d, _ := os.Open(tm.mnt)
				d.Sync()
				d.Close()
				tm.cmd(t, "faultfs::crash")
				if out, err := sqlite(t, db, "SELECT v FROM kv WHERE k='k1'"); err != nil || out != "v1" {
					t.Fatalf("after a crash: %q, %v; want the committed v1", out, err)
				}
				log := "/t.db-journal"
				if mode == "wal" {
					log = "/t.db-wal"
				}
				tm.cmd(t, "faultfs::fail-sync::path="+log+"::nth=1")
				out, err := sqlite(t, db, "PRAGMA synchronous=FULL; INSERT INTO kv VALUES('k2','v2');")
				if err == nil || !strings.Contains(out, "disk I/O error") {
					t.Fatalf("insert with the %s fsync failing: %v, %q; want a disk I/O error", log, err, out)
				}
				tm.cmd(t, "faultfs::clear-faults")
				tm.cmd(t, "faultfs::crash")
				out, err = sqlite(t, db, "PRAGMA integrity_check; SELECT group_concat(k) FROM kv;")
				if err != nil || out != "ok\nk1" {
					t.Fatalf("after the failed insert and a crash: %q, %v; want integrity ok and only k1", out, err)
				}
			})
		}
	}
}
