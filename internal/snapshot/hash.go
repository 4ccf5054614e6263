package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// HashPrefix names the content hash's algorithm in its text form.
const HashPrefix = "sha256:"

// Hasher computes a dataspace's content hash, the one snapshot.json,
// holdfast check and logical snapshots record: SHA-256 over every live key
// in ascending bytewise order, each as u32 key length, key, u64 value
// length, SHA-256 of the value (lengths little endian). Versions are not
// included, so a logical restore of the same data has the same hash.
// Hashing each value on its own lets the engine remember digests of values
// it has read once.
type Hasher struct {
	h     hash.Hash
	keys  int
	bytes int64
	// buf gathers small writes: one large Write hashes faster than many
	// small ones.
	buf []byte
}

// hasherBufBytes is how much Hasher gathers before hashing.
const hasherBufBytes = 64 << 10

// NewHasher returns an empty Hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New(), buf: make([]byte, 0, hasherBufBytes)} }

// Add adds one key and its value; keys must come in ascending order.
func (c *Hasher) Add(key, value []byte) { c.AddDigest(key, len(value), sha256.Sum256(value)) }

// AddDigest adds a key whose value has length valueLen and SHA-256 digest.
func (c *Hasher) AddDigest(key []byte, valueLen int, digest [sha256.Size]byte) {
	if len(c.buf)+4+len(key)+8+sha256.Size > cap(c.buf) {
		c.h.Write(c.buf)
		c.buf = c.buf[:0]
	}
	c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(len(key)))
	c.buf = append(c.buf, key...)
	c.buf = binary.LittleEndian.AppendUint64(c.buf, uint64(valueLen))
	c.buf = append(c.buf, digest[:]...)
	c.keys++
	c.bytes += int64(len(key) + valueLen)
}

// Keys and Bytes (keys and values) added so far.
func (c *Hasher) Keys() int    { return c.keys }
func (c *Hasher) Bytes() int64 { return c.bytes }

// Sum returns the hash as "sha256:<64 hex digits>".
func (c *Hasher) Sum() string {
	c.h.Write(c.buf)
	c.buf = c.buf[:0]
	return HashPrefix + hex.EncodeToString(c.h.Sum(nil))
}
