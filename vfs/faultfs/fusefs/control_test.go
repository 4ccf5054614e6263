package fusefs

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// fifoWrite writes one command to the FIFO exactly as `echo CMD > FIFO`
// does: the bytes, a newline, and close.
func fifoWrite(t *testing.T, fifo, cmd string) {
	t.Helper()
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(cmd + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// waitLog waits until the log holds needle n times in all.
func waitLog(t *testing.T, tm *testMount, needle string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // generous: CI shares two cores
	for time.Now().Before(deadline) {
		if strings.Count(tm.log.String(), needle) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("log never held %q %d times; log:\n%s", needle, n, tm.log.String())
}

func writeFile(t *testing.T, p, data string, sync bool) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLazyFSCommandsThroughFIFO writes every command LazyFS's README
// documents to the control FIFO, verbatim, and checks what each does.
func TestLazyFSCommandsThroughFIFO(t *testing.T) {
	dir := t.TempDir()
	completed := filepath.Join(dir, "completed.fifo")
	tm := mountT(t, Options{Dirs: faultfs.DirLazy, Control: "*", Completed: completed})

	// lazyfs::clear-cache drops unsynced data and reports completion on
	// the second FIFO.
	writeFile(t, tm.path("f1.txt"), "durable", true)
	writeFile(t, tm.path("f1.txt"), "cached!", false)
	done := make(chan string, 1)
	go func() {
		f, err := os.Open(completed)
		if err != nil {
			done <- err.Error()
			return
		}
		defer f.Close()
		line, _ := bufio.NewReader(f).ReadString('\n')
		done <- line
	}()
	fifoWrite(t, tm.ctl, "lazyfs::clear-cache")
	select {
	case line := <-done:
		if line != "finished::clear-cache\n" {
			t.Fatalf("completion FIFO said %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no completion message")
	}
	waitLog(t, tm, "cache is cleared", 1)
	if got, _ := os.ReadFile(tm.path("f1.txt")); string(got) != "durable" {
		t.Fatalf("after clear-cache f1.txt reads %q, want the synced content", got)
	}

	// lazyfs::cache-checkpoint makes cached data reach the backing store.
	writeFile(t, tm.path("f2.txt"), "checkpointed", false)
	if _, ok := readBacking(t, tm, "f2.txt"); !ok {
		t.Fatal("f2.txt's name should be durable at once under DirLazy")
	}
	if got, _ := readBacking(t, tm, "f2.txt"); got != "" {
		t.Fatalf("unsynced data in the backing: %q", got)
	}
	fifoWrite(t, tm.ctl, "lazyfs::cache-checkpoint")
	waitLog(t, tm, "cache checkpointed", 1)
	if got, _ := readBacking(t, tm, "f2.txt"); got != "checkpointed" {
		t.Fatalf("after cache-checkpoint the backing holds %q", got)
	}

	// lazyfs::display-cache-usage and lazyfs::unsynced-data-report.
	writeFile(t, tm.path("f3.txt"), strings.Repeat("u", 1000), false)
	fifoWrite(t, tm.ctl, "lazyfs::display-cache-usage")
	waitLog(t, tm, "cache usage:", 1)
	fifoWrite(t, tm.ctl, "lazyfs::unsynced-data-report")
	waitLog(t, tm, "unsynced: /f3.txt 1024 bytes", 1) // two dirty 512-byte sectors
	waitLog(t, tm, "unsynced data report: 1 files", 1)

	// Example 1: crash before a write to file1.
	writeFile(t, tm.path("file1"), "old", true)
	fifoWrite(t, tm.ctl, "lazyfs::crash::timing=before::op=write::from_rgx=file1")
	waitLog(t, tm, "received: lazyfs::crash: VALID crash fault", 1)
	f, err := os.OpenFile(tm.path("file1"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("new"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write under the crash fault: %v, want EIO", err)
	}
	f.Close()
	if !tm.srv.FS().Down() {
		t.Fatal("the file system should be down after the crash fault")
	}
	fifoWrite(t, tm.ctl, "faultfs::restart")
	waitLog(t, tm, "restarted", 1)
	if got, _ := os.ReadFile(tm.path("file1")); string(got) != "old" {
		t.Fatalf("after the crash file1 reads %q", got)
	}

	// Example 2 names link, which the mount does not have: refused with
	// a reason, never silently accepted.
	fifoWrite(t, tm.ctl, "lazyfs::crash::timing=before::op=link::from_rgx=file1::to_rgx=file2")
	waitLog(t, tm, "no hard or symbolic links", 1)

	// Example 3: crash before a rename to fileabd.
	writeFile(t, tm.path("src"), "s", true)
	fifoWrite(t, tm.ctl, "lazyfs::crash::timing=before::op=rename::to_rgx=fileabd")
	waitLog(t, tm, "VALID crash fault", 2)
	if err := os.Rename(tm.path("src"), tm.path("fileabd")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename under the crash fault: %v, want EIO", err)
	}
	fifoWrite(t, tm.ctl, "faultfs::restart")
	waitLog(t, tm, "restarted", 2)
	if _, err := os.Stat(tm.path("fileabd")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fileabd after a crash before the rename: %v", err)
	}

	// torn-op, with the file named by its path in the backing directory
	// as LazyFS's users do: the 5th write is cut in 3 and parts 1 and 3
	// persist.
	fifoWrite(t, tm.ctl, "lazyfs::torn-op::file="+filepath.Join(tm.backing, "output1.txt")+"::persist=1,3::parts=3::occurrence=5")
	waitLog(t, tm, "VALID torn-op fault", 1)
	g, err := os.OpenFile(tm.path("output1.txt"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := g.WriteAt([]byte("....."), int64(i*6)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.WriteAt([]byte("AAABBBCCC"), 100); !errors.Is(err, syscall.EIO) {
		t.Fatalf("torn write: %v, want EIO", err)
	}
	g.Close()
	fifoWrite(t, tm.ctl, "faultfs::restart")
	waitLog(t, tm, "restarted", 3)
	got, _ := os.ReadFile(tm.path("output1.txt"))
	want := make([]byte, 109)
	copy(want[100:], "AAA")
	copy(want[106:], "CCC")
	if string(got) != string(want) {
		t.Fatalf("after torn-op output1.txt holds %q, want %q", got, want)
	}

	// torn-seq: in the 2nd run of writes without fsync, writes 1 and 4
	// persist.
	fifoWrite(t, tm.ctl, "lazyfs::torn-seq::op=write::file=output.txt::persist=1,4::occurrence=2")
	waitLog(t, tm, "VALID torn-seq fault", 1)
	h, err := os.OpenFile(tm.path("output.txt"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt([]byte("r1"), 0)
	h.Sync() // ends run 1
	for i, w := range []string{"a", "b", "c"} {
		if _, err := h.WriteAt([]byte(w), int64(2+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.WriteAt([]byte("d"), 5); !errors.Is(err, syscall.EIO) {
		t.Fatalf("4th write of run 2: %v, want EIO", err)
	}
	h.Close()
	fifoWrite(t, tm.ctl, "faultfs::restart")
	waitLog(t, tm, "restarted", 4)
	if got, _ := os.ReadFile(tm.path("output.txt")); string(got) != "r1a\x00\x00d" {
		t.Fatalf("after torn-seq output.txt holds %q, want r1a\\0\\0d", got)
	}

	// A bad command is reported, and the FIFO keeps working after it.
	fifoWrite(t, tm.ctl, "lazyfs::clear-cache::now")
	waitLog(t, tm, "received: INVALID", 1)
	fifoWrite(t, tm.ctl, "faultfs::status")
	waitLog(t, tm, "status: profile=ext4-ordered", 1)
}

// TestFaultsFileTOMLAndCuttleFS mounts with a LazyFS TOML file and a
// CuttleFS JSON list and checks that their faults fire.
func TestFaultsFileTOMLAndCuttleFS(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[faults]
fifo_path="/tmp/ignored-in-this-test.fifo"
[cache]
apply_eviction=false
[cache.simple]
custom_size="0.5GB"
blocks_per_page=1
[file system]
log_all_operations=false
logfile="/tmp/lazyfs.log"
[[injection]]
type="clear"
from="f1.txt"
timing="before"
op="fsync"
occurrence=2
crash=true
`))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := ParseConfig([]byte(`[{"path": "/data.log", "seq": "wxW", "block": 1}]`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Injections = append(cfg.Injections, cf.Injections...)
	cfg.FIFO, cfg.LogFile = "", ""
	tm := mountT(t, Options{Config: cfg, Dirs: faultfs.DirLazy})

	f, _ := os.OpenFile(tm.path("f1.txt"), os.O_RDWR|os.O_CREATE, 0o644)
	f.WriteString("one")
	if err := f.Sync(); err != nil {
		t.Fatalf("first fsync of f1.txt: %v", err)
	}
	f.WriteString("two")
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second fsync of f1.txt (clear before, crash): %v, want EIO", err)
	}
	f.Close()
	tm.srv.FS().Restart()
	if got, _ := os.ReadFile(tm.path("f1.txt")); string(got) != "one" {
		t.Fatalf("f1.txt after the clear fault: %q", got)
	}

	// CuttleFS: block 1 of /data.log: first write passes, then every one fails.
	g, _ := os.OpenFile(tm.path("data.log"), os.O_RDWR|os.O_CREATE, 0o644)
	defer g.Close()
	page := strings.Repeat("p", faultfs.PageSizeBytes)
	g.WriteAt([]byte(page+page), 0)
	if err := g.Sync(); err != nil {
		t.Fatalf("first write of block 1: %v", err)
	}
	g.WriteAt([]byte("q"), 0) // block 0: never fails
	if err := g.Sync(); err != nil {
		t.Fatalf("sync of block 0 only: %v", err)
	}
	g.WriteAt([]byte("r"), faultfs.PageSizeBytes)
	if err := g.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second write of block 1: %v, want EIO", err)
	}
}

// TestFaultsFileTornAndEviction: torn-op from a LazyFS [[injection]] table,
// and apply_eviction with a cache limit: past it, clean pages are evicted,
// so a read after a failed fsync shows the device (ext4-ordered: the old
// data), while dirty pages are kept.
func TestFaultsFileTornAndEviction(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
[cache]
apply_eviction=true
[cache.manual]
io_block_size=4096
page_size=4096
no_pages=4
[[injection]]
type="torn-op"
file="torn.txt"
occurrence=2
parts_bytes=[2,3,4]
persist=[1,3]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CacheLimitBytes != 4*4096 {
		t.Fatalf("cache limit %d, want %d", cfg.CacheLimitBytes, 4*4096)
	}
	tm := mountT(t, Options{Config: cfg, Dirs: faultfs.DirLazy})

	f, _ := os.OpenFile(tm.path("torn.txt"), os.O_RDWR|os.O_CREATE, 0o644)
	f.WriteAt([]byte("first"), 0)
	if _, err := f.WriteAt([]byte("AABBBCCCC"), 10); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second write (torn): %v, want EIO", err)
	}
	f.Close()
	tm.srv.FS().Restart()
	if got, _ := os.ReadFile(tm.path("torn.txt")); string(got) != "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00AA\x00\x00\x00CCCC" {
		t.Fatalf("after torn-op torn.txt holds %q", got)
	}

	// Eviction: a durable file, then a failed fsync of an overwrite, then
	// enough other writes to pass the 4-page limit.
	g, _ := os.OpenFile(tm.path("e"), os.O_RDWR|os.O_CREATE, 0o644)
	defer g.Close()
	g.WriteAt([]byte("old!"), 0)
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	tm.cmd(t, "faultfs::fail-sync::path=/e::nth=1")
	g.WriteAt([]byte("new!"), 0)
	if err := g.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync under the fault: %v", err)
	}
	buf := make([]byte, 4)
	g.ReadAt(buf, 0)
	if string(buf) != "new!" {
		t.Fatalf("before eviction: %q, want the cached new!", buf)
	}
	h, _ := os.OpenFile(tm.path("filler"), os.O_RDWR|os.O_CREATE, 0o644)
	defer h.Close()
	h.Write(make([]byte, 8*4096)) // dirty pages: never evicted
	if cached, _ := tm.srv.FS().CacheUsage(); cached < 8*4096 {
		t.Fatalf("dirty pages were evicted: %d bytes cached", cached)
	}
	g.ReadAt(buf, 0)
	if string(buf) != "old!" {
		t.Fatalf("after the cache passed its limit: %q, want the durable old!", buf)
	}
}
