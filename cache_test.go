package holdfast

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

func TestValueCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newValueCache(cacheShards * 10 * (100 + cacheEntryOverhead)) // ten 100-byte values a shard
	key := func(i int) cacheKey { return makeCacheKey(1, uint64(i), "k") }
	for i := range 2000 {
		c.put(key(i), "k", bytes.Repeat([]byte{byte(i)}, 100))
	}
	bytesUsed, entries, _, _ := c.stats()
	if limit := int64(cacheShards * 10 * (100 + cacheEntryOverhead)); bytesUsed > limit || entries > cacheShards*10 {
		t.Fatalf("cache holds %d bytes in %d entries, over its %d-byte bound", bytesUsed, entries, limit)
	}
	if _, ok := c.get(key(0), "k"); ok {
		t.Fatal("the oldest value survived 2,000 inserts into a 160-entry cache")
	}
	v, ok := c.get(key(1999), "k")
	if !ok || !bytes.Equal(v, bytes.Repeat([]byte{byte(1999 % 256)}, 100)) {
		t.Fatalf("the newest value: %v, %v", ok, v)
	}
	// A value bigger than a quarter of a shard is not cached at all.
	c.put(key(-1), "k", make([]byte, 1000))
	if _, ok := c.get(key(-1), "k"); ok {
		t.Fatal("an oversize value was cached")
	}
	if newValueCache(-1) != nil {
		t.Fatal("a negative size must disable the cache")
	}
	var nilCache *valueCache
	nilCache.put(key(1), "k", []byte("x"))
	if _, ok := nilCache.get(key(1), "k"); ok {
		t.Fatal("a disabled cache returned a value")
	}
}

// An entry answers only for the key it was stored with: two keys whose
// hashes collide (forced here by reusing one cacheKey) never get each
// other's value. A later put at the same version replaces the value.
func TestValueCacheComparesKeys(t *testing.T) {
	c := newValueCache(1 << 20)
	k := makeCacheKey(7, 42, "alpha")
	c.put(k, "alpha", []byte("A"))
	if _, ok := c.get(k, "beta"); ok {
		t.Fatal("a lookup of another key with the same hash returned alpha's value")
	}
	if v, ok := c.get(k, "alpha"); !ok || string(v) != "A" {
		t.Fatalf("alpha: %q, %v", v, ok)
	}
	c.put(k, "alpha", []byte("AA"))
	if v, ok := c.get(k, "alpha"); !ok || string(v) != "AA" {
		t.Fatalf("alpha after a second put at the same version: %q, %v", v, ok)
	}
	c.put(k, "beta", []byte("B"))
	if _, ok := c.get(k, "alpha"); ok {
		t.Fatal("alpha still answered after beta took its slot")
	}
	if b, n, _, _ := c.stats(); n != 1 || b != int64(len("B"))+cacheEntryOverhead {
		t.Fatalf("cache accounts %d bytes in %d entries after replacing values", b, n)
	}
}

// segmentReads counts the reads of log segments in fsys's operation log
// (it needs Options.OpLogLimit).
func segmentReads(fsys *faultfs.FS) int {
	n, _ := segmentReadsSince(fsys, 0)
	return n
}

// segmentReadsSince counts the reads of log segments in fsys's op log from
// record from on, and returns the size of the largest.
func segmentReadsSince(fsys *faultfs.FS, from int) (reads int, maxBytes int64) {
	for _, r := range fsys.OpLog()[from:] {
		if r.Op.Kind == faultfs.OpRead && strings.HasSuffix(r.Op.Path, ".seg") {
			reads++
			maxBytes = max(maxBytes, r.Op.Length)
		}
	}
	return reads, maxBytes
}

func loggedFS(seed uint64) *faultfs.FS {
	return faultfs.New(faultfs.Options{Seed: seed, OpLogLimit: 1 << 20})
}

// appendV1Record appends a format 1 record (as holdfast wrote before
// per-op checksums) to the log of dataspace name, which must be closed.
func appendV1Record(t *testing.T, fsys *faultfs.FS, name string, p recordPayload) {
	t.Helper()
	p.v1 = true
	w, _, err := wal.Recover(fsys, "/data/dataspaces/"+name+"/wal", wal.Options{Logger: quietLogger()}, wal.Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := w.Position().NextSeq
	if _, err := w.AppendGroup([]wal.Record{{Seq: seq, Payload: p.encode(seq)}}, true); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// After a reopen, the first Get of a value a batch wrote reads the device
// and caches the value, so a second Get of it reads nothing; with the
// cache off every Get reads the device. A format 2 record (what holdfast
// writes) is read one op at a time: a Get reads a block or two, and only
// its own value enters the cache. A format 1 record has no per-op
// checksums and is read whole: the first Get reads it once, and the
// batch's other values come from the cache.
func TestValueCacheServesBatchNeighbours(t *testing.T) {
	ctx := context.Background()
	value := func(i int) []byte { return []byte(fmt.Sprintf("%03d-%s", i, strings.Repeat("v", 200))) }
	for _, format := range []int{recordFormatV2, recordFormatV1} {
		for _, cacheBytes := range []int64{0, -1} {
			fsys := loggedFS(2)
			db, err := Open("/data", Options{FS: fsys, Logger: quietLogger(), ValueCacheBytes: cacheBytes})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := db.CreateDataspace("c", DataspaceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var b Batch
			for i := range 100 {
				b.Put([]byte(fmt.Sprintf("k%03d", i)), value(i))
			}
			if format == recordFormatV2 {
				if _, err := ds.Apply(ctx, &b); err != nil {
					t.Fatal(err)
				}
			} else {
				db.Close()
				appendV1Record(t, fsys, "c", recordPayload{ops: b.ops})
				if db, err = Open("/data", Options{FS: fsys, Logger: quietLogger(), ValueCacheBytes: cacheBytes}); err != nil {
					t.Fatal(err)
				}
			}
			ds, err = db.Reopen("c")
			if err != nil {
				t.Fatal(err)
			}
			if err := ds.WaitVerified(ctx); err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				from := len(fsys.OpLog())
				for i := range 100 {
					v, err := ds.Get(ctx, []byte(fmt.Sprintf("k%03d", i)))
					if err != nil || !bytes.Equal(v.Data, value(i)) {
						t.Fatalf("format %d cache %d: k%03d = %q, %v", format, cacheBytes, i, v.Data, err)
					}
					v.Data[0] = 'X' // the caller owns what Get returns
				}
				reads, maxBytes := segmentReadsSince(fsys, from)
				want := 100 // without the cache, or the first round of format 2
				switch {
				case cacheBytes == 0 && round == 1:
					want = 0
				case cacheBytes == 0 && format == recordFormatV1:
					want = 1
				}
				if reads != want {
					t.Fatalf("format %d cache %d round %d: 100 Gets of one batch read the log %d times, want %d", format, cacheBytes, round, reads, want)
				}
				if format == recordFormatV2 && maxBytes > 8192 {
					t.Fatalf("format %d cache %d round %d: a Get read %d bytes: more than its op", format, cacheBytes, round, maxBytes)
				}
				if format == recordFormatV1 && reads > 0 && maxBytes < 100*200 {
					t.Fatalf("format %d cache %d round %d: the largest read was %d bytes: less than the record", format, cacheBytes, round, maxBytes)
				}
			}
			v, err := ds.Get(ctx, []byte("k007"))
			if err != nil || !bytes.Equal(v.Data, value(7)) {
				t.Fatalf("format %d cache %d: a caller's change to a returned value reached the cache: %q, %v", format, cacheBytes, v.Data, err)
			}
			db.Close()
		}
	}
}

// A value just written is served from the cache, and an overwritten
// value's old entry is never served.
func TestValueCacheFollowsOverwrites(t *testing.T) {
	ctx := context.Background()
	fsys := loggedFS(3)
	db, err := Open("/data", Options{FS: fsys, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.CreateDataspace("c", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	big := func(s string) []byte { return []byte(s + strings.Repeat(".", 100)) }
	before := segmentReads(fsys)
	for i := range 20 {
		if _, err := ds.Put(ctx, []byte("k"), big(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		v, err := ds.Get(ctx, []byte("k"))
		if err != nil || !bytes.Equal(v.Data, big(fmt.Sprint(i))) {
			t.Fatalf("after write %d: %q, %v", i, v.Data, err)
		}
	}
	if n := segmentReads(fsys) - before; n != 0 {
		t.Fatalf("reads of values just written went to the device %d times", n)
	}
	// Only the live version holds memory: an overwritten one is dropped.
	cached := func(when string, want int64) {
		t.Helper()
		if _, entries, _, _ := db.cache.stats(); entries != want {
			t.Fatalf("%s: %d values cached, want %d", when, entries, want)
		}
	}
	cached("after 20 overwrites of one key", 1)
	// Compaction moves the value, keeping its version: still cached.
	if _, err := ds.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	before = segmentReads(fsys)
	if v, err := ds.Get(ctx, []byte("k")); err != nil || !bytes.Equal(v.Data, big("19")) {
		t.Fatalf("after compaction: %q, %v", v.Data, err)
	}
	if n := segmentReads(fsys) - before; n != 0 {
		t.Fatalf("after compaction the value was read from the device %d times, not from the cache", n)
	}
	cached("after compaction", 1)
	if _, _, err := ds.Delete(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	cached("after deleting the key", 0)
	if segmentReads(fsys) == 0 {
		t.Fatal("the operation log recorded no segment reads at all: the counts above prove nothing")
	}
}

// A keys-only scan reads no value from the log; a byte-bounded scan stops
// its page at MaxBytes (but returns at least one key) and resumes
// exactly where it stopped.
func TestScanKeysOnlyAndMaxBytes(t *testing.T) {
	ctx := context.Background()
	fsys := loggedFS(4)
	db, err := Open("/data", Options{FS: fsys, Logger: quietLogger(), ValueCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.CreateDataspace("s", DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 1000)
	for i := range 50 {
		if _, err := ds.Put(ctx, []byte(fmt.Sprintf("k%02d", i)), value); err != nil {
			t.Fatal(err)
		}
	}
	before := segmentReads(fsys)
	page, err := ds.Scan(ctx, ScanOptions{KeysOnly: true})
	if err != nil || len(page.KVs) != 50 || page.Next != nil {
		t.Fatalf("keys-only scan: %d keys, next %q, %v", len(page.KVs), page.Next, err)
	}
	for _, kv := range page.KVs {
		if kv.Value.Data != nil || kv.Value.Seq == 0 {
			t.Fatalf("keys-only scan returned %s with %d value bytes, seq %d", kv.Key, len(kv.Value.Data), kv.Value.Seq)
		}
	}
	if n := segmentReads(fsys) - before; n != 0 {
		t.Fatalf("a keys-only scan read the log %d times", n)
	}
	var got []string
	var after []byte
	for pages := 0; ; pages++ {
		p, err := ds.Scan(ctx, ScanOptions{MaxBytes: 3500, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.KVs) == 0 || len(p.KVs) > 3 {
			t.Fatalf("page %d holds %d keys of ~1003 bytes under MaxBytes 3500", pages, len(p.KVs))
		}
		for _, kv := range p.KVs {
			got = append(got, string(kv.Key))
		}
		if p.Next == nil {
			break
		}
		after = p.Next
	}
	if len(got) != 50 || got[0] != "k00" || got[49] != "k49" {
		t.Fatalf("byte-bounded pages returned %d keys: %v", len(got), got)
	}
	// One value over the bound still comes back, alone.
	p, err := ds.Scan(ctx, ScanOptions{MaxBytes: 10})
	if err != nil || len(p.KVs) != 1 || p.Next == nil {
		t.Fatalf("scan with a bound below one value: %d keys, next %q, %v", len(p.KVs), p.Next, err)
	}
}
