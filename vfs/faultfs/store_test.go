package faultfs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// readTree returns every regular file under dir by slash path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." {
				out["/"+filepath.ToSlash(rel)+"/"] = ""
			}
			return nil
		}
		b, err := os.ReadFile(p)
		out["/"+filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeSync(t *testing.T, fsys *FS, name string, data string, off int64, sync bool) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), off); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDirStoreHoldsDurableStateOnly: the backing directory holds durable
// names with durable bytes, never cached data, under each directory mode.
func TestDirStoreHoldsDurableStateOnly(t *testing.T) {
	dir := t.TempDir()
	fsys, err := LoadDir(Options{Seed: 1}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, w map[string]string) {
		t.Helper()
		if got := readTree(t, dir); !mapsEqual(got, w) {
			t.Fatalf("%s: backing holds %q, want %q", step, got, w)
		}
	}
	if err := fsys.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	writeSync(t, fsys, "/d/a", "hello", 0, true)
	want("synced file, unsynced names", map[string]string{})
	if err := vfs.SyncDir(fsys, "/d"); err != nil {
		t.Fatal(err)
	}
	want("child name synced, parent not", map[string]string{})
	if err := vfs.SyncDir(fsys, "/"); err != nil {
		t.Fatal(err)
	}
	want("both synced", map[string]string{"/d/": "", "/d/a": "hello"})
	writeSync(t, fsys, "/d/a", "J", 0, false)
	want("unsynced overwrite", map[string]string{"/d/": "", "/d/a": "hello"})
	writeSync(t, fsys, "/d/a", "world!", 8192, true)
	want("synced", map[string]string{"/d/": "", "/d/a": "Jello" + string(make([]byte, 8192-5)) + "world!"})
	f, _ := fsys.OpenFile("/d/a", os.O_RDWR, 0)
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := f.SyncData(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want("truncated", map[string]string{"/d/": "", "/d/a": "Je"})
	if err := fsys.Rename("/d/a", "/b"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.SyncDir(fsys, "/"); err != nil {
		t.Fatal(err)
	}
	want("rename half synced", map[string]string{"/d/": "", "/d/a": "Je", "/b": "Je"})
	if err := vfs.SyncDir(fsys, "/d"); err != nil {
		t.Fatal(err)
	}
	want("rename synced", map[string]string{"/d/": "", "/b": "Je"})

	// A failed sync under ext4-ordered: the new page is clean in the
	// cache, not in the backing directory.
	fsys.SetInjector(Always(Kinds(OpSync), syscall.EIO))
	f, _ = fsys.OpenFile("/b", os.O_RDWR, 0)
	f.WriteAt([]byte("XY"), 0)
	if err := f.Sync(); err == nil {
		t.Fatal("injected sync failure did not fail")
	}
	f.Close()
	fsys.SetInjector(nil)
	want("failed sync", map[string]string{"/d/": "", "/b": "Je"})

	// Reload: the model starts from the backing directory, all durable.
	again, err := LoadDir(Options{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.DurableContent("/b")
	if err != nil || !bytes.Equal(got, []byte("Je")) {
		t.Fatalf("reloaded /b = %q, %v", got, err)
	}
	names, _ := again.List("/")
	if !slices.Equal(names, []string{"b", "d"}) {
		t.Fatalf("reloaded root lists %v", names)
	}
	// A crash of the reloaded model keeps it all.
	if err := again.Crash(CrashOptions{}); err != nil {
		t.Fatal(err)
	}
	want("after crash of the reloaded model", map[string]string{"/d/": "", "/b": "Je"})
}

func TestDirStoreLazyDirs(t *testing.T) {
	dir := t.TempDir()
	fsys, err := LoadDir(Options{Dirs: DirLazy}, dir)
	if err != nil {
		t.Fatal(err)
	}
	writeSync(t, fsys, "/x", "abc", 0, false)
	if got := readTree(t, dir); !mapsEqual(got, map[string]string{"/x": ""}) {
		t.Fatalf("lazy create: backing holds %q", got)
	}
	if err := fsys.WriteDurable("/x", 1, []byte("Z")); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); !mapsEqual(got, map[string]string{"/x": "\x00Z"}) {
		t.Fatalf("WriteDurable: backing holds %q", got)
	}
	if err := fsys.Crash(CrashOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := fsys.DurableContent("/x")
	if string(b) != "\x00Z" {
		t.Fatalf("after crash /x = %q", b)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
