package holdfast

import (
	"encoding/binary"
	"fmt"
)

// A log record's payload (the write-ahead log frames and checksums it; see
// docs/format.md, "Record payload"):
//
//	offset  size  field
//	0       1     format version (1)
//	1       1     flags (0)
//	2       1     request id length R (0: none)
//	3       R     request id
//	3+R     4     op count N, little endian
//	then N ops:
//	        1     kind: 1 put, 2 delete
//	        2     key length K
//	        4     value length V (0 for delete)
//	        K     key
//	        V     value
//
// One record is one client write: a single Put or Delete, or an atomic
// Batch. It is applied whole or not at all, and all its ops carry the
// record's sequence number.
//
// With flag 0x01 (relocated) the record was written by compaction: it
// holds only puts, each op head carries 8 more bytes, the version (the
// sequence number of the write that originally made the value), after the
// kind, and the record carries no request id of its own. Relocated values
// keep their versions, so compare-and-swap is unaffected by compaction.
// After the ops, a relocated record carries the request ids whose original
// records compaction is about to remove, so a retry stays applied once:
//
//	        4     id count M
//	then M entries:
//	        1     id length L (1..255)
//	        L     request id
//	        8     sequence number of the write that applied it
//	        1     flags: 0x01 the write stored an integer (an increment)
//	        8     that integer (int64; 0 without the flag)
//
// A relocated record holds at least one op or one id.
const (
	recordFormatV1 = 1
	flagRelocated  = 0x01
	opPut          = 1
	opDelete       = 2
	recordHeadSize = 3 + 4
	opHeadSize     = 1 + 2 + 4
	versionSize    = 8
)

type op struct {
	kind    uint8
	version uint64 // relocated records only
	key     []byte
	value   []byte
	// str is key as a string, once the writer has made it (the overlay
	// and the index share it); empty otherwise.
	str string
}

type recordPayload struct {
	relocated bool
	requestID string
	ops       []op
	ids       []carriedID // relocated records only
}

// carriedID is a request id that compaction carries forward.
type carriedID struct {
	id       string
	seq      uint64
	hasInt   bool
	intValue int64
}

const carriedIDFixedSize = 1 + 8 + 1 + 8

func (r *recordPayload) encodedSize() int {
	n := recordHeadSize + len(r.requestID)
	for _, o := range r.ops {
		n += opHeadSize + len(o.key) + len(o.value)
		if r.relocated {
			n += versionSize
		}
	}
	if r.relocated {
		n += 4
		for _, c := range r.ids {
			n += carriedIDFixedSize + len(c.id)
		}
	}
	return n
}

func (r *recordPayload) encode() []byte { return r.appendTo(make([]byte, 0, r.encodedSize())) }

// appendTo appends the encoded payload to b.
func (r *recordPayload) appendTo(b []byte) []byte {
	var flags byte
	if r.relocated {
		flags = flagRelocated
	}
	b = append(b, recordFormatV1, flags, byte(len(r.requestID)))
	b = append(b, r.requestID...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.ops)))
	for _, o := range r.ops {
		b = append(b, o.kind)
		if r.relocated {
			b = binary.LittleEndian.AppendUint64(b, o.version)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(o.key)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(o.value)))
		b = append(b, o.key...)
		b = append(b, o.value...)
	}
	if r.relocated {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.ids)))
		for _, c := range r.ids {
			b = append(b, byte(len(c.id)))
			b = append(b, c.id...)
			b = binary.LittleEndian.AppendUint64(b, c.seq)
			var flags byte
			if c.hasInt {
				flags = 1
			}
			b = append(b, flags)
			b = binary.LittleEndian.AppendUint64(b, uint64(c.intValue))
		}
	}
	return b
}

// decodeRecord parses a payload whose checksum the log has verified. Any
// inconsistency is still reported, never trusted: it means corruption the
// checksum missed or a bug.
func decodeRecord(b []byte) (recordPayload, error) {
	var r recordPayload
	if len(b) < recordHeadSize {
		return r, fmt.Errorf("record payload of %d bytes is shorter than its %d-byte head", len(b), recordHeadSize)
	}
	if b[0] != recordFormatV1 {
		return r, fmt.Errorf("record format version %d, want %d", b[0], recordFormatV1)
	}
	if b[1]&^flagRelocated != 0 {
		return r, fmt.Errorf("record flags %#x has unknown bits", b[1])
	}
	r.relocated = b[1]&flagRelocated != 0
	head := opHeadSize
	if r.relocated {
		head += versionSize
	}
	idLen := int(b[2])
	if r.relocated && idLen != 0 {
		return r, fmt.Errorf("relocated record carries a request id")
	}
	if len(b) < recordHeadSize+idLen {
		return r, fmt.Errorf("record request id of %d bytes overruns the payload", idLen)
	}
	r.requestID = string(b[3 : 3+idLen])
	p := 3 + idLen
	n := binary.LittleEndian.Uint32(b[p:])
	p += 4
	// Each op takes at least opHeadSize bytes: bound n before allocating.
	if uint64(n)*uint64(head) > uint64(len(b)-p) {
		return r, fmt.Errorf("record claims %d ops in %d bytes", n, len(b)-p)
	}
	if n == 0 && !r.relocated {
		return r, fmt.Errorf("record holds no ops")
	}
	r.ops = make([]op, 0, n)
	for i := uint32(0); i < n; i++ {
		if len(b)-p < head {
			return r, fmt.Errorf("op %d head overruns the payload", i)
		}
		kind := b[p]
		p++
		var version uint64
		if r.relocated {
			version = binary.LittleEndian.Uint64(b[p:])
			p += versionSize
		}
		k := int(binary.LittleEndian.Uint16(b[p:]))
		v := int(binary.LittleEndian.Uint32(b[p+2:]))
		p += opHeadSize - 1
		if kind != opPut && kind != opDelete {
			return r, fmt.Errorf("op %d has unknown kind %d", i, kind)
		}
		if r.relocated && (kind != opPut || version == 0) {
			return r, fmt.Errorf("relocated op %d: kind %d version %d (want a put with a version)", i, kind, version)
		}
		if k == 0 {
			return r, fmt.Errorf("op %d has an empty key", i)
		}
		if kind == opDelete && v != 0 {
			return r, fmt.Errorf("delete op %d carries a %d-byte value", i, v)
		}
		if len(b)-p < k+v {
			return r, fmt.Errorf("op %d key and value (%d+%d bytes) overrun the payload", i, k, v)
		}
		o := op{kind: kind, version: version, key: b[p : p+k : p+k]}
		if kind == opPut {
			o.value = b[p+k : p+k+v : p+k+v]
		}
		p += k + v
		r.ops = append(r.ops, o)
	}
	if r.relocated {
		if len(b)-p < 4 {
			return r, fmt.Errorf("relocated record lacks its id count")
		}
		m := binary.LittleEndian.Uint32(b[p:])
		p += 4
		if uint64(m)*(carriedIDFixedSize+1) > uint64(len(b)-p) {
			return r, fmt.Errorf("relocated record claims %d ids in %d bytes", m, len(b)-p)
		}
		if n == 0 && m == 0 {
			return r, fmt.Errorf("relocated record holds neither ops nor ids")
		}
		for i := uint32(0); i < m; i++ {
			if len(b)-p < 1 {
				return r, fmt.Errorf("carried id %d overruns the payload", i)
			}
			l := int(b[p])
			p++
			if l == 0 || len(b)-p < l+carriedIDFixedSize-1 {
				return r, fmt.Errorf("carried id %d (length %d) overruns the payload", i, l)
			}
			c := carriedID{id: string(b[p : p+l])}
			p += l
			c.seq = binary.LittleEndian.Uint64(b[p:])
			flags := b[p+8]
			c.intValue = int64(binary.LittleEndian.Uint64(b[p+9:]))
			p += carriedIDFixedSize - 1
			if flags&^1 != 0 || c.seq == 0 || (flags == 0 && c.intValue != 0) {
				return r, fmt.Errorf("carried id %d: flags %#x seq %d value %d", i, flags, c.seq, c.intValue)
			}
			c.hasInt = flags == 1
			r.ids = append(r.ids, c)
		}
	}
	if p != len(b) {
		return r, fmt.Errorf("%d trailing bytes after the last op", len(b)-p)
	}
	return r, nil
}
