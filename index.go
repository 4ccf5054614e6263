package holdfast

import (
	"sync"

	"github.com/tidwall/btree"
)

// keyIndex is a dataspace's ordered in-memory index: a B-tree of live keys
// (tidwall/btree, copy-on-write copies for checkpoints, Views and
// compaction). An item carries the first eight bytes of its key beside the
// entry pointer, so most comparisons on the way down the tree compare two
// integers in the node's own memory instead of following two pointers to
// the keys' bytes: a lookup or insert into a large index costs a few
// cache misses, not dozens.
type keyIndex struct {
	t *btree.BTreeG[indexItem]
}

type indexItem struct {
	prefix uint64 // the key's first 8 bytes, big-endian, zero-padded
	e      *entry
}

// keyPrefix orders like the key: for keys a < b (bytewise), keyPrefix(a) <=
// keyPrefix(b); equal prefixes (a tie) are ordered by the whole keys.
func keyPrefix(key string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(key) {
			p |= uint64(key[i])
		}
	}
	return p
}

func itemLess(a, b indexItem) bool {
	if a.prefix != b.prefix {
		return a.prefix < b.prefix
	}
	return a.e.key < b.e.key
}

func newKeyIndex() *keyIndex {
	return &keyIndex{t: btree.NewBTreeGOptions(itemLess, btree.Options{NoLocks: true})}
}

// probes recycles the entries lookups compare against: the tree's
// comparisons would otherwise move each to the heap (96 bytes a lookup).
var probes = sync.Pool{New: func() any { return new(entry) }}

func probe(key string) indexItem {
	e := probes.Get().(*entry)
	e.key = key
	return indexItem{prefix: keyPrefix(key), e: e}
}

func release(it indexItem) {
	it.e.key = ""
	probes.Put(it.e)
}

// Get returns key's entry.
func (x *keyIndex) Get(key string) (*entry, bool) {
	p := probe(key)
	it, ok := x.t.Get(p)
	release(p)
	return it.e, ok
}

// Set inserts or replaces e, and returns the entry it replaced.
func (x *keyIndex) Set(e *entry) (*entry, bool) {
	it, ok := x.t.Set(indexItem{prefix: keyPrefix(e.key), e: e})
	return it.e, ok
}

// Load appends e, whose key must be greater than every key in the index
// (the fast path for sorted input); otherwise it inserts it.
func (x *keyIndex) Load(e *entry) {
	x.t.Load(indexItem{prefix: keyPrefix(e.key), e: e})
}

// Delete removes key and returns its entry.
func (x *keyIndex) Delete(key string) (*entry, bool) {
	p := probe(key)
	it, ok := x.t.Delete(p)
	release(p)
	return it.e, ok
}

// Len returns the number of keys.
func (x *keyIndex) Len() int { return x.t.Len() }

// Copy returns a copy-on-write copy. It marks the tree shared, so no one
// may read or copy it meanwhile: callers hold the dataspace's write lock.
func (x *keyIndex) Copy() *keyIndex { return &keyIndex{t: x.t.Copy()} }

// Scan calls fn for every entry in key order until it returns false.
func (x *keyIndex) Scan(fn func(*entry) bool) {
	x.t.Scan(func(it indexItem) bool { return fn(it.e) })
}

// Ascend calls fn for every entry from start (inclusive) in key order
// until it returns false.
func (x *keyIndex) Ascend(start string, fn func(*entry) bool) {
	p := probe(start)
	defer release(p)
	x.t.Ascend(p, func(it indexItem) bool { return fn(it.e) })
}
