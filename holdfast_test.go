package holdfast_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

var ctx = context.Background()

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openFS(t *testing.T, fsys vfs.FS) *holdfast.DB {
	t.Helper()
	db, err := holdfast.Open("/data", holdfast.Options{FS: fsys, Logger: quiet(), SegmentSizeBytes: 256 << 10})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func mustDS(t *testing.T, db *holdfast.DB, name string) *holdfast.Dataspace {
	t.Helper()
	ds, err := db.Dataspace(name)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func get(t *testing.T, ds *holdfast.Dataspace, key string) string {
	t.Helper()
	v, err := ds.Get(ctx, []byte(key))
	if errors.Is(err, holdfast.ErrNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v.Data)
}

func TestAPI(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	defer db.Close()
	ds, err := db.CreateDataspace("users", holdfast.DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateDataspace("users", holdfast.DataspaceOptions{}); !errors.Is(err, holdfast.ErrExists) {
		t.Fatalf("second create = %v, want ErrExists", err)
	}
	for _, bad := range []string{"../x", "", "Users", "a/b", ".hidden", strings.Repeat("a", 65), "x y"} {
		if _, err := db.CreateDataspace(bad, holdfast.DataspaceOptions{}); !errors.Is(err, holdfast.ErrInvalidName) {
			t.Fatalf("create %q = %v, want ErrInvalidName", bad, err)
		}
	}

	seq1, err := ds.Put(ctx, []byte("a"), []byte("1"))
	if err != nil || seq1 != 1 {
		t.Fatalf("put = %d, %v; want seq 1", seq1, err)
	}
	big := strings.Repeat("v", 1000) // not inline: read from the log
	if _, err := ds.Put(ctx, []byte("b"), []byte(big)); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ds, "b"); got != big {
		t.Fatalf("get b: %d bytes", len(got))
	}
	v, err := ds.Get(ctx, []byte("a"))
	if err != nil || string(v.Data) != "1" || v.Seq != seq1 {
		t.Fatalf("get a = %+v, %v", v, err)
	}

	// Compare-and-swap on the version.
	if _, err := ds.CompareAndSwap(ctx, []byte("a"), seq1+100, []byte("x")); !errors.Is(err, holdfast.ErrVersionMismatch) {
		t.Fatalf("CAS with a wrong version = %v", err)
	}
	seq3, err := ds.CompareAndSwap(ctx, []byte("a"), seq1, []byte("2"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.CompareAndSwap(ctx, []byte("new"), 0, []byte("n")); err != nil {
		t.Fatalf("CAS create with version 0 = %v", err)
	}
	if _, err := ds.Put(ctx, []byte("new"), []byte("x"), holdfast.IfAbsent()); !errors.Is(err, holdfast.ErrExists) {
		t.Fatalf("IfAbsent on an existing key = %v", err)
	}
	if _, err := ds.Put(ctx, []byte("nope"), []byte("x"), holdfast.IfExists()); !errors.Is(err, holdfast.ErrNotFound) {
		t.Fatalf("IfExists on a missing key = %v", err)
	}
	if got := get(t, ds, "a"); got != "2" {
		t.Fatalf("a = %q after CAS (seq %d)", got, seq3)
	}

	// Increments.
	for i, want := range []int64{5, 2, -7} {
		delta := []int64{5, -3, -9}[i]
		n, _, err := ds.Incr(ctx, []byte("ctr"), delta)
		if err != nil || n != want {
			t.Fatalf("incr %d = %d, %v; want %d", delta, n, err, want)
		}
	}
	if _, _, err := ds.Incr(ctx, []byte("b"), 1); !errors.Is(err, holdfast.ErrNotInteger) {
		t.Fatalf("incr of a non-integer = %v", err)
	}
	ds.Put(ctx, []byte("max"), []byte("9223372036854775807"))
	if _, _, err := ds.Incr(ctx, []byte("max"), 1); !errors.Is(err, holdfast.ErrNotInteger) {
		t.Fatalf("overflowing incr = %v", err)
	}

	// Request ids: a retry is applied once.
	s1, err := ds.Put(ctx, []byte("once"), []byte("first"), holdfast.WithRequestID("r-1"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ds.Put(ctx, []byte("once"), []byte("second"), holdfast.WithRequestID("r-1"))
	if err != nil || s2 != s1 || get(t, ds, "once") != "first" {
		t.Fatalf("retry with the same id: seq %d (first %d), err %v, value %q", s2, s1, err, get(t, ds, "once"))
	}
	n1, _, _ := ds.Incr(ctx, []byte("idctr"), 1, holdfast.WithRequestID("r-2"))
	n2, _, _ := ds.Incr(ctx, []byte("idctr"), 1, holdfast.WithRequestID("r-2"))
	if n1 != 1 || n2 != 1 || get(t, ds, "idctr") != "1" {
		t.Fatalf("retried incr applied twice: %d %d %q", n1, n2, get(t, ds, "idctr"))
	}

	// Delete.
	existed, _, err := ds.Delete(ctx, []byte("a"))
	if err != nil || !existed || get(t, ds, "a") != "<none>" {
		t.Fatalf("delete a: %v %v", existed, err)
	}
	if existed, _, _ := ds.Delete(ctx, []byte("a")); existed {
		t.Fatal("deleting a missing key reported it existed")
	}

	// Batch: atomic, one sequence number.
	var b holdfast.Batch
	b.Put([]byte("p/1"), []byte("x"))
	b.Put([]byte("p/2"), []byte("y"))
	b.Delete([]byte("b"))
	bseq, err := ds.Apply(ctx, &b)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := ds.Get(ctx, []byte("p/1"))
	v2, _ := ds.Get(ctx, []byte("p/2"))
	if v1.Seq != bseq || v2.Seq != bseq || get(t, ds, "b") != "<none>" {
		t.Fatalf("batch not applied as one: %d %d %d", v1.Seq, v2.Seq, bseq)
	}

	// Scan: range, prefix, pagination.
	for i := 0; i < 25; i++ {
		ds.Put(ctx, []byte(fmt.Sprintf("s/%02d", i)), []byte{byte('a' + i)})
	}
	var keys []string
	var after []byte
	for {
		page, err := ds.Scan(ctx, holdfast.ScanOptions{Prefix: []byte("s/"), After: after, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range page.KVs {
			keys = append(keys, string(kv.Key))
		}
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	if len(keys) != 25 || keys[0] != "s/00" || keys[24] != "s/24" {
		t.Fatalf("paged prefix scan: %v", keys)
	}
	page, _ := ds.Scan(ctx, holdfast.ScanOptions{Start: []byte("s/10"), End: []byte("s/13")})
	if len(page.KVs) != 3 || string(page.KVs[0].Key) != "s/10" || string(page.KVs[2].Value.Data) != "m" {
		t.Fatalf("range scan: %+v", page.KVs)
	}

	// Limits.
	if _, err := ds.Put(ctx, make([]byte, holdfast.DefaultMaxKeySizeBytes+1), nil); !errors.Is(err, holdfast.ErrKeyTooLarge) {
		t.Fatalf("oversize key = %v", err)
	}
	if _, err := ds.Put(ctx, nil, []byte("v")); !errors.Is(err, holdfast.ErrEmptyKey) {
		t.Fatalf("empty key = %v", err)
	}
	if _, err := ds.Put(ctx, []byte("k"), make([]byte, holdfast.DefaultMaxValueSizeBytes+1)); !errors.Is(err, holdfast.ErrValueTooLarge) {
		t.Fatalf("oversize value = %v", err)
	}

	// Everything survives a reopen.
	want := map[string]string{"b": "<none>", "new": "n", "ctr": "-7", "once": "first", "p/2": "y", "s/07": "h"}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openFS(t, fsys)
	ds = mustDS(t, db, "users")
	for k, w := range want {
		if got := get(t, ds, k); got != w {
			t.Errorf("after reopen %s = %q, want %q", k, got, w)
		}
	}
	if s, err := ds.Put(ctx, []byte("once"), []byte("third"), holdfast.WithRequestID("r-1")); err != nil || s != s1 {
		t.Fatalf("request id forgotten across reopen: seq %d, %v", s, err)
	}

	// Drop is durable and the name can be reused.
	if err := db.DropDataspace("users"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Dataspace("users"); !errors.Is(err, holdfast.ErrNoDataspace) {
		t.Fatalf("dropped dataspace still there: %v", err)
	}
	if err := fsys.PowerCut(faultfs.CrashOptions{}, func() { db.Close() }); err != nil {
		t.Fatal(err)
	}
	db2 := openFS(t, fsys)
	defer db2.Close()
	if names := db2.Dataspaces(); len(names) != 0 {
		t.Fatalf("after drop and crash: %v", names)
	}
}

// Under every profile, a write acknowledged under sync=always survives a
// crash that keeps nothing unsynced, and a dataspace created and
// acknowledged survives too.
func TestAcknowledgedWritesSurviveCrash(t *testing.T) {
	for _, p := range faultfs.Profiles {
		t.Run(string(p), func(t *testing.T) {
			fsys := faultfs.New(faultfs.Options{Profile: p, Seed: 3})
			db := openFS(t, fsys)
			ds, err := db.CreateDataspace("d", holdfast.DataspaceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 50; i++ {
						if _, err := ds.Put(ctx, []byte(fmt.Sprintf("g%d/%03d", g, i)), []byte(strings.Repeat("x", i*7))); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			st := ds.Stats()
			if err := fsys.PowerCut(faultfs.CrashOptions{}, func() { db.Close() }); err != nil {
				t.Fatal(err)
			}
			db = openFS(t, fsys)
			defer db.Close()
			ds = mustDS(t, db, "d")
			if ds.Len() != 400 {
				t.Fatalf("after crash %d keys, want 400", ds.Len())
			}
			if got := get(t, ds, "g7/049"); got != strings.Repeat("x", 49*7) {
				t.Fatalf("g7/049 = %d bytes", len(got))
			}
			if st.Groups >= st.Records {
				t.Logf("note: %d groups for %d records (no batching happened in this run)", st.Groups, st.Records)
			}
		})
	}
}

// A failed fdatasync: the waiting writer learns the outcome is unknown,
// later operations get ErrFailStop, and a reopen recovers from the
// device — on ext4 the failed write is not served from the cache.
func TestFailStopOnSyncFailure(t *testing.T) {
	for _, p := range faultfs.Profiles {
		t.Run(string(p), func(t *testing.T) {
			fsys := faultfs.New(faultfs.Options{Profile: p})
			db := openFS(t, fsys)
			defer db.Close()
			ds, err := db.CreateDataspace("d", holdfast.DataspaceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ds.Put(ctx, []byte("k"), []byte("old")); err != nil {
				t.Fatal(err)
			}
			fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData), 1, syscall.EIO))
			_, err = ds.Put(ctx, []byte("k"), []byte("new"))
			fsys.SetInjector(nil)
			if p == faultfs.ProfileExt4Journal {
				// data=journal reports the failure late: the write is
				// acknowledged; the NEXT sync fails.
				if err != nil {
					t.Fatalf("ext4-journal: first put = %v, want the false success", err)
				}
				_, err = ds.Put(ctx, []byte("k2"), []byte("v"))
			}
			if !errors.Is(err, holdfast.ErrOutcomeUnknown) {
				t.Fatalf("put with failing sync = %v, want ErrOutcomeUnknown", err)
			}
			if _, err := ds.Get(ctx, []byte("k")); !errors.Is(err, holdfast.ErrFailStop) {
				t.Fatalf("get after fail-stop = %v, want ErrFailStop", err)
			}
			if _, err := ds.Put(ctx, []byte("k"), []byte("x")); !errors.Is(err, holdfast.ErrFailStop) {
				t.Fatalf("put after fail-stop = %v, want ErrFailStop", err)
			}
			ds, err = db.Reopen("d")
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			got := get(t, ds, "k")
			if got != "old" && got != "new" {
				t.Fatalf("after reopen k = %q", got)
			}
			// Whatever reopen serves must survive a crash (I2).
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Crash(faultfs.CrashOptions{}); err != nil {
				t.Fatal(err)
			}
			db2 := openFS(t, fsys)
			defer db2.Close()
			if after := get(t, mustDS(t, db2, "d"), "k"); after != got {
				t.Fatalf("reopen served %q, but after a crash k = %q: a read saw non-durable data", got, after)
			}
		})
	}
}

func TestLockExcludesSecondOpen(t *testing.T) {
	dir := t.TempDir()
	db, err := holdfast.Open(dir, holdfast.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := holdfast.Open(dir, holdfast.Options{Logger: quiet()}); !errors.Is(err, holdfast.ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
}

// On the real disk: the OS implementation with O_DIRECT.
func TestRealDiskRoundTrip(t *testing.T) {
	dir := t.TempDir()
	db, err := holdfast.Open(dir, holdfast.Options{Logger: quiet(), SegmentSizeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := db.CreateDataspace("default", holdfast.DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, err := ds.Put(ctx, []byte(fmt.Sprintf("k%04d", i)), []byte(strings.Repeat("v", i*13))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = holdfast.Open(dir, holdfast.Options{Logger: quiet(), SegmentSizeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds = mustDS(t, db, "default")
	if ds.Len() != 300 || get(t, ds, "k0299") != strings.Repeat("v", 299*13) {
		t.Fatalf("after reopen: %d keys", ds.Len())
	}
}

// sync=interval acknowledges before the sync and says how much is at risk;
// a sync makes it durable.
func TestIntervalPolicyExportsRisk(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	defer db.Close()
	policy, err := holdfast.ParseSyncPolicy("interval:1h")
	if err == nil {
		t.Fatalf("interval:1h accepted (max %v)", holdfast.MaxSyncInterval)
	}
	policy, err = holdfast.ParseSyncPolicy("interval:50ms")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := db.CreateDataspace("fast", holdfast.DataspaceOptions{Sync: policy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	st := ds.Stats()
	if st.Sync != "interval:50ms" || st.Log.UnsyncedBytes == 0 || st.Log.OldestUnsynced.IsZero() {
		t.Fatalf("right after an interval-policy write: %+v", st)
	}
	// A crash now may lose it: that is the documented window.
	clone, err := fsys.CrashClone(faultfs.CrashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if db2, err := holdfast.Open("/data", holdfast.Options{FS: clone, Logger: quiet()}); err == nil {
		if got := get(t, mustDS(t, db2, "fast"), "k"); got != "<none>" {
			t.Logf("the write reached the device before its sync (allowed)")
		}
		db2.Close()
	}
	// After the interval it is durable.
	deadline := time.Now().Add(5 * time.Second)
	for ds.Stats().Log.UnsyncedBytes != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the interval sync never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	clone, _ = fsys.CrashClone(faultfs.CrashOptions{})
	db3, err := holdfast.Open("/data", holdfast.Options{FS: clone, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer db3.Close()
	if got := get(t, mustDS(t, db3, "fast"), "k"); got != "v" {
		t.Fatalf("after the interval sync and a crash k = %q", got)
	}
}

// Flipping any single byte of a closed dataspace's log is detected on
// open or on read, never returned as data.
func TestByteFlipsAreDetected(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	ds, err := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i < 6; i++ {
		k, v := fmt.Sprintf("key-%d", i), strings.Repeat(string(rune('a'+i)), 100+i*300)
		want[k] = v
		if _, err := ds.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := fsys.List("/data/dataspaces/d/wal")
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v %v", segs, err)
	}
	seg := "/data/dataspaces/d/wal/" + segs[0]
	durable, err := fsys.DurableContent(seg)
	if err != nil {
		t.Fatal(err)
	}
	// The bytes that hold data: up to the end of the last non-zero page.
	end := len(durable)
	for end > 0 && durable[end-1] == 0 {
		end--
	}
	checked := 0
	for off := 0; off < end; off += 7 { // every 7th byte keeps the test fast; offsets cover every sector
		clone, err := fsys.CrashClone(faultfs.CrashOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := clone.FlipBit(seg, int64(off), uint(off%8)); err != nil {
			t.Fatal(err)
		}
		db, err := holdfast.Open("/data", holdfast.Options{FS: clone, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		ds := mustDS(t, db, "d")
		ds.WaitVerified(ctx)
		detected := ds.Err() != nil
		for k, v := range want {
			got, err := ds.Get(ctx, []byte(k))
			if err != nil {
				if !errors.Is(err, holdfast.ErrCorrupt) && !detected {
					t.Fatalf("flip at %d: get %s = %v, want ErrCorrupt", off, k, err)
				}
				detected = true
				continue
			}
			if string(got.Data) != v {
				t.Fatalf("flip at %d: get %s returned damaged data", off, k)
			}
		}
		if !detected {
			// A flip in padding that no read covers must still be
			// caught at open: every written sector is verified there.
			t.Fatalf("flip at offset %d of %s went unnoticed", off, seg)
		}
		db.Close()
		checked++
	}
	t.Logf("%d flipped positions, all detected", checked)
}
