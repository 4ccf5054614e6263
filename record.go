package holdfast

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A log record's payload (the write-ahead log frames and checksums it; see
// docs/format.md, "Record payload"). Format 2, which this code writes:
//
//	offset  size  field
//	0       1     format version (2)
//	1       1     flags (0, or 0x01 relocated)
//	2       1     request id length R (0: none)
//	3       R     request id
//	3+R     4     op count N, little endian
//	then N ops:
//	        1     kind: 1 put, 2 delete, 3 relocated put
//	        8     version (kind 3 only)
//	        2     key length K
//	        4     value length V (0 for delete)
//	        K     key
//	        V     value
//	        4     CRC-32C of the op's seq (u64) then the op's bytes above
//
// One record is one client write: a single Put or Delete, or an atomic
// Batch. It is applied whole or not at all, and all its ops carry the
// record's sequence number.
//
// Each op carries its own checksum so that a Get can read one op of a
// large batch record from the device and verify it alone, without the
// rest of the record (the log's checksum covers the whole record). The
// checksum covers the op's seq first: the record's seq for kinds 1 and 2,
// the op's version for kind 3. So an op read in place of another one
// (another record, another version of its key) never verifies, and the
// reader, which knows the seq from its index entry, needs nothing but the
// op's own bytes. A relocated put can appear in more than one relocated
// record (compaction may move it again); it verifies in each, with the
// same key, version and value.
//
// With flag 0x01 (relocated) the record was written by compaction: it
// holds only puts, each of kind 3 with the version (the sequence number
// of the write that originally made the value), and it carries no request
// id of its own. Relocated values keep their versions, so compare-and-swap
// is unaffected by compaction. After the ops, a relocated record carries
// the request ids whose original records compaction is about to remove,
// so a retry stays applied once:
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
//
// Format 1, written before format 2 and still read, differs only in its
// ops: no checksum, and kind 1 for relocated puts (the version follows the
// kind in every op of a relocated record).
const (
	recordFormatV1 = 1
	recordFormatV2 = 2
	flagRelocated  = 0x01
	opPut          = 1
	opDelete       = 2
	// opPutVersioned is the kind byte of a relocated put in format 2; in
	// memory it is an opPut with a version.
	opPutVersioned = 3
	recordHeadSize = 3 + 4
	opHeadSize     = 1 + 2 + 4
	versionSize    = 8
	opCRCSize      = 4
	// opFixedSize is what a format 2 op takes besides its key, its value
	// and a relocated op's version.
	opFixedSize = opHeadSize + opCRCSize
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
	// v1 says the payload was decoded from a format 1 record; it encodes
	// as format 1 again (tests and fuzzing). New records are format 2.
	v1        bool
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
	n := r.firstOpOffset()
	for i := range r.ops {
		n += r.opSize(&r.ops[i])
	}
	if r.relocated {
		n += 4
		for _, c := range r.ids {
			n += carriedIDFixedSize + len(c.id)
		}
	}
	return n
}

// firstOpOffset is where the first op starts in the encoded payload.
func (r *recordPayload) firstOpOffset() int { return recordHeadSize + len(r.requestID) }

// opSize is the encoded size of o, one of r's ops: ops follow each other,
// so op i starts at firstOpOffset plus the sizes of the ops before it.
func (r *recordPayload) opSize(o *op) int {
	n := opHeadSize + len(o.key) + len(o.value)
	if r.relocated {
		n += versionSize
	}
	if !r.v1 {
		n += opCRCSize
	}
	return n
}

// encode returns the encoded payload of the record with sequence number
// seq (which the ops' checksums cover).
func (r *recordPayload) encode(seq uint64) []byte {
	return r.appendTo(make([]byte, 0, r.encodedSize()), seq)
}

// appendTo appends the encoded payload of the record with sequence number
// seq to b.
func (r *recordPayload) appendTo(b []byte, seq uint64) []byte {
	format := byte(recordFormatV2)
	if r.v1 {
		format = recordFormatV1
	}
	var flags byte
	if r.relocated {
		flags = flagRelocated
	}
	b = append(b, format, flags, byte(len(r.requestID)))
	b = append(b, r.requestID...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.ops)))
	for _, o := range r.ops {
		start := len(b)
		kind, opSeq := o.kind, seq
		if r.relocated {
			opSeq = o.version
			if !r.v1 {
				kind = opPutVersioned
			}
		}
		b = append(b, kind)
		if r.relocated {
			b = binary.LittleEndian.AppendUint64(b, o.version)
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(len(o.key)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(o.value)))
		b = append(b, o.key...)
		b = append(b, o.value...)
		if !r.v1 {
			b = binary.LittleEndian.AppendUint32(b, opCRC(opSeq, b[start:]))
		}
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

// opCRC is the checksum of a format 2 op: CRC-32C of seq (u64, little
// endian) then the op's bytes from its kind to the end of its value.
func opCRC(seq uint64, opBytes []byte) uint32 {
	return crc32.Update(seqCRC(seq), crc32c, opBytes)
}

// seqCRC is crc32.Checksum of seq's eight little-endian bytes, computed
// byte by byte from the table: handing crc32 an eight-byte array would
// move it to the heap, once for every op written or read.
func seqCRC(seq uint64) uint32 {
	crc := ^uint32(0)
	for i := range 8 {
		crc = crc32c[byte(crc)^byte(seq>>(8*i))] ^ crc>>8
	}
	return ^crc
}

// decodeRecord parses the payload of the record with sequence number seq,
// whose checksum the log has verified. Any inconsistency is still
// reported, never trusted: it means corruption the checksum missed or a
// bug. In format 2 every op's checksum is verified too.
func decodeRecord(b []byte, seq uint64) (recordPayload, error) {
	var r recordPayload
	if len(b) < recordHeadSize {
		return r, fmt.Errorf("record payload of %d bytes is shorter than its %d-byte head", len(b), recordHeadSize)
	}
	switch b[0] {
	case recordFormatV1:
		r.v1 = true
	case recordFormatV2:
	default:
		return r, fmt.Errorf("record format version %d, want %d or %d", b[0], recordFormatV1, recordFormatV2)
	}
	if b[1]&^flagRelocated != 0 {
		return r, fmt.Errorf("record flags %#x has unknown bits", b[1])
	}
	r.relocated = b[1]&flagRelocated != 0
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
	// Each op takes at least its head: bound n before allocating.
	minOp := opHeadSize
	if r.relocated {
		minOp += versionSize
	}
	if !r.v1 {
		minOp += opCRCSize
	}
	if uint64(n)*uint64(minOp) > uint64(len(b)-p) {
		return r, fmt.Errorf("record claims %d ops in %d bytes", n, len(b)-p)
	}
	if n == 0 && !r.relocated {
		return r, fmt.Errorf("record holds no ops")
	}
	r.ops = make([]op, 0, n)
	for i := uint32(0); i < n; i++ {
		var o op
		var size int
		var err error
		if r.v1 {
			o, size, err = decodeOpV1(b[p:], r.relocated)
		} else {
			o, size, err = decodeOp(b[p:], seq)
			if err == nil && (o.version != 0) != r.relocated {
				err = fmt.Errorf("a relocated record may hold only relocated puts, and only it (kind %d, version %d)", o.kind, o.version)
			}
		}
		if err != nil {
			return r, fmt.Errorf("op %d at offset %d: %w", i, p, err)
		}
		p += size
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

// decodeOp parses the format 2 op at the start of b (bytes after it are
// ignored) and verifies its checksum: with seq, the sequence number of
// its record, or for a relocated put (kind 3) with its own version. It
// returns the op, whose key and value alias b, and its encoded size. A
// relocated put comes back as an opPut with a non-zero version.
func decodeOp(b []byte, seq uint64) (op, int, error) {
	if len(b) < 1 {
		return op{}, 0, fmt.Errorf("op overruns the payload")
	}
	kind, relocated := b[0], false
	switch kind {
	case opPut, opDelete:
	case opPutVersioned:
		kind, relocated = opPut, true
	default:
		return op{}, 0, fmt.Errorf("unknown kind %d", kind)
	}
	o, size, err := parseOp(b, kind, relocated)
	if err != nil {
		return o, 0, err
	}
	if len(b)-size < opCRCSize {
		return o, 0, fmt.Errorf("op checksum overruns the payload")
	}
	if relocated {
		seq = o.version
	}
	if got, want := opCRC(seq, b[:size]), binary.LittleEndian.Uint32(b[size:]); got != want {
		return o, 0, fmt.Errorf("op checksum %#08x, computed %#08x with seq %d", want, got, seq)
	}
	return o, size + opCRCSize, nil
}

// decodeOpV1 parses the format 1 op at the start of b: kind (1 or 2), the
// version if its record is relocated, key length, value length, key,
// value. It returns the op (key and value alias b) and its size.
func decodeOpV1(b []byte, relocated bool) (op, int, error) {
	if len(b) < 1 {
		return op{}, 0, fmt.Errorf("op overruns the payload")
	}
	if kind := b[0]; kind != opPut && kind != opDelete {
		return op{}, 0, fmt.Errorf("unknown kind %d", kind)
	}
	return parseOp(b, b[0], relocated)
}

// parseOp parses an op from its kind byte to the end of its value; kind
// (opPut or opDelete) is what the kind byte means, and hasVersion says
// whether the version follows it.
func parseOp(b []byte, kind byte, hasVersion bool) (op, int, error) {
	head := opHeadSize
	if hasVersion {
		head += versionSize
	}
	if len(b) < head {
		return op{}, 0, fmt.Errorf("op head overruns the payload")
	}
	p := 1
	var version uint64
	if hasVersion {
		version = binary.LittleEndian.Uint64(b[p:])
		p += versionSize
	}
	k := int(binary.LittleEndian.Uint16(b[p:]))
	v := int(binary.LittleEndian.Uint32(b[p+2:]))
	p += 6
	if hasVersion && (kind != opPut || version == 0) {
		return op{}, 0, fmt.Errorf("relocated op: kind %d version %d (want a put with a version)", kind, version)
	}
	if k == 0 {
		return op{}, 0, fmt.Errorf("empty key")
	}
	if kind == opDelete && v != 0 {
		return op{}, 0, fmt.Errorf("delete carries a %d-byte value", v)
	}
	if len(b)-p < k+v {
		return op{}, 0, fmt.Errorf("key and value (%d+%d bytes) overrun the payload", k, v)
	}
	o := op{kind: kind, version: version, key: b[p : p+k : p+k]}
	if kind == opPut {
		o.value = b[p+k : p+k+v : p+k+v]
	}
	return o, p + k + v, nil
}
