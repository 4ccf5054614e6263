package holdfast

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// The value cache keeps values read from the log, and values just
// published, in memory, so a Get of a value larger than
// InlineValueMaxBytes does not read the device every time.
//
// It holds only data that is durable and verified: a value enters it when
// its group has been synced and published, or after its record was read
// from the device and its checksum checked. It is not the page cache the
// design distrusts (I5): after a failed sync the dataspace stops, and a
// reopened dataspace is a new instance whose values are cached afresh.
// Entries are keyed by the value's identity: the dataspace instance, the
// version (the sequence number of the write that made it) and the key.
// Within one instance a version and a key name one value for good, so an
// entry never goes stale, it only stops being looked up once its key is
// overwritten; and compaction, which moves a value but keeps its version,
// leaves its entry valid where it is. The key is hashed into the map key,
// and kept in the entry, which a lookup compares, so a hash collision is a
// miss, never another key's value.
// The cache is one per DB, split into shards with an LRU list each, and
// bounded by Options.ValueCacheBytes including a fixed overhead per entry.

// DefaultValueCacheBytes is the default Options.ValueCacheBytes.
const DefaultValueCacheBytes = 128 << 20

// cacheKey names one value of one dataspace instance.
type cacheKey struct {
	space uint64 // Dataspace.cacheID
	seq   uint64 // the value's version
	hash  uint64 // of the key (cacheItem.key holds the key itself)
}

var cacheSeed = maphash.MakeSeed()

func makeCacheKey(space, seq uint64, key string) cacheKey {
	return cacheKey{space: space, seq: seq, hash: maphash.String(cacheSeed, key)}
}

// cacheEntryOverhead approximates the memory of an entry besides its
// value: the map slot, the item and its list links.
const cacheEntryOverhead = 128

const cacheShards = 16

type cacheItem struct {
	ck         cacheKey
	key        string
	value      []byte
	prev, next *cacheItem
}

type cacheShard struct {
	mu       sync.Mutex
	items    map[cacheKey]*cacheItem
	head     cacheItem // sentinel: head.next is the most recently used
	bytes    int64
	capacity int64
}

type valueCache struct {
	shards       [cacheShards]cacheShard
	hits, misses atomic.Int64
}

// newValueCache returns a cache of about capacity bytes, or nil (no
// cache) when capacity is not positive.
func newValueCache(capacity int64) *valueCache {
	if capacity <= 0 {
		return nil
	}
	c := &valueCache{}
	for i := range c.shards {
		s := &c.shards[i]
		s.items = make(map[cacheKey]*cacheItem)
		s.head.next, s.head.prev = &s.head, &s.head
		s.capacity = capacity / cacheShards
	}
	return c
}

func (c *valueCache) shard(k cacheKey) *cacheShard {
	h := k.space*0x9e3779b97f4a7c15 ^ k.seq*0xbf58476d1ce4e5b9 ^ k.hash
	h ^= h >> 29
	return &c.shards[h%cacheShards]
}

// get returns the cached value of key at version k. The slice is shared:
// callers copy it before handing it out.
func (c *valueCache) get(k cacheKey, key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	s := c.shard(k)
	s.mu.Lock()
	it, ok := s.items[k]
	ok = ok && it.key == key
	var v []byte
	if ok {
		s.unlink(it)
		s.pushFront(it)
		v = it.value // put may replace it once the lock is released
	}
	s.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return v, true
}

// put caches value as key's at version k, replacing what is there (a
// batch that puts one key twice gives both the same version; the later
// one is the value). value must not change afterwards.
func (c *valueCache) put(k cacheKey, key string, value []byte) {
	if c == nil {
		return
	}
	s := c.shard(k)
	size := int64(len(value)) + cacheEntryOverhead
	if size > s.capacity/4 {
		return // one value must not flush a shard
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[k]; ok {
		s.unlink(it)
		s.pushFront(it)
		s.bytes += int64(len(value)) - int64(len(it.value))
		it.key, it.value = key, value
	} else {
		it := &cacheItem{ck: k, key: key, value: value}
		s.items[k] = it
		s.pushFront(it)
		s.bytes += size
	}
	for s.bytes > s.capacity {
		old := s.head.prev
		s.unlink(old)
		delete(s.items, old.ck)
		s.bytes -= int64(len(old.value)) + cacheEntryOverhead
	}
}

// drop removes the value cached at version k, if any: a version
// overwritten or deleted is not read again (but by a View, which reads
// the log then), so it must not hold memory and push live values out.
func (c *valueCache) drop(k cacheKey) {
	if c == nil {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	if it, ok := s.items[k]; ok {
		s.unlink(it)
		delete(s.items, k)
		s.bytes -= int64(len(it.value)) + cacheEntryOverhead
	}
	s.mu.Unlock()
}

// stats returns the cache's size and its hit and miss counts.
func (c *valueCache) stats() (bytes, entries, hits, misses int64) {
	if c == nil {
		return 0, 0, 0, 0
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		bytes += s.bytes
		entries += int64(len(s.items))
		s.mu.Unlock()
	}
	return bytes, entries, c.hits.Load(), c.misses.Load()
}

func (s *cacheShard) unlink(it *cacheItem) {
	it.prev.next, it.next.prev = it.next, it.prev
}

func (s *cacheShard) pushFront(it *cacheItem) {
	it.prev, it.next = &s.head, s.head.next
	s.head.next.prev = it
	s.head.next = it
}

// CacheStats describe the value cache.
type CacheStats struct {
	Bytes, Entries int64 // what it holds now (bytes include a per-entry overhead)
	Capacity       int64
	Hits, Misses   int64 // lookups since Open
}

// CacheStats returns the value cache's size and hit counts; all zero when
// the cache is disabled.
func (db *DB) CacheStats() CacheStats {
	var s CacheStats
	s.Bytes, s.Entries, s.Hits, s.Misses = db.cache.stats()
	if db.cache != nil {
		s.Capacity = db.opts.ValueCacheBytes
	}
	return s
}
