package holdfast

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func FuzzDecodeRecord(f *testing.F) {
	for _, v1 := range []bool{false, true} {
		f.Add((&recordPayload{v1: v1, ops: []op{{kind: opPut, key: []byte("k"), value: []byte("v")}}}).encode(3), uint64(3))
		f.Add((&recordPayload{v1: v1, requestID: "req-1", ops: []op{{kind: opDelete, key: []byte("k")}, {kind: opPut, key: []byte("a"), value: nil}}}).encode(9), uint64(9))
		f.Add((&recordPayload{v1: v1, relocated: true, ops: []op{{kind: opPut, version: 7, key: []byte("k"), value: []byte("v")}}}).encode(20), uint64(20))
		f.Add((&recordPayload{v1: v1, relocated: true, ids: []carriedID{{id: "r1", seq: 3, hasInt: true, intValue: -5}, {id: "r2", seq: 9}}}).encode(21), uint64(21))
	}
	f.Add([]byte{1, 0, 0, 255, 255, 255, 255}, uint64(1))
	f.Add([]byte{2, 0, 0, 255, 255, 255, 255}, uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, seq uint64) {
		r, err := decodeRecord(b, seq)
		if err != nil {
			return
		}
		if again := r.encode(seq); !bytes.Equal(again, b) {
			t.Fatalf("accepted payload does not re-encode identically:\n in  %x\n out %x", b, again)
		}
	})
}

func TestRecordRoundTripAndRejects(t *testing.T) {
	const seq = 77
	for _, v1 := range []bool{false, true} {
		r := recordPayload{v1: v1, requestID: "id", ops: []op{
			{kind: opPut, key: []byte("alpha"), value: []byte("one")},
			{kind: opDelete, key: []byte("beta")},
			{kind: opPut, key: []byte("gamma"), value: []byte{}},
		}}
		b := r.encode(seq)
		if len(b) != r.encodedSize() {
			t.Fatalf("v1 %v: encodedSize %d, encoded %d", v1, r.encodedSize(), len(b))
		}
		if want := byte(recordFormatV2); v1 && b[0] != recordFormatV1 || !v1 && b[0] != want {
			t.Fatalf("v1 %v: format byte %d", v1, b[0])
		}
		got, err := decodeRecord(b, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got.v1 != v1 || got.requestID != "id" || len(got.ops) != 3 || string(got.ops[0].value) != "one" || got.ops[1].kind != opDelete {
			t.Fatalf("v1 %v: round trip: %+v", v1, got)
		}
		for i := 0; i < len(b); i++ {
			if _, err := decodeRecord(b[:i], seq); err == nil {
				t.Fatalf("v1 %v: a %d-byte prefix of a %d-byte record was accepted", v1, i, len(b))
			}
		}
		rel := recordPayload{v1: v1, relocated: true, ops: []op{{kind: opPut, version: 42, key: []byte("k"), value: []byte("value")}},
			ids: []carriedID{{id: "req", seq: 40, hasInt: true, intValue: 12}}}
		if got, err := decodeRecord(rel.encode(seq), seq); err != nil || !got.relocated || got.ops[0].version != 42 || string(got.ops[0].value) != "value" ||
			len(got.ids) != 1 || got.ids[0] != rel.ids[0] {
			t.Fatalf("v1 %v: relocated round trip: %+v, %v", v1, got, err)
		}
		for _, bad := range [][]byte{
			append([]byte{3}, b[1:]...),       // version
			append(append([]byte{}, b...), 0), // trailing byte
		} {
			if _, err := decodeRecord(bad, seq); err == nil {
				t.Fatalf("v1 %v: bad record %x accepted", v1, bad)
			}
		}
	}
}

// A format 2 op is bound to its seq: the record's, or a relocated put's
// version. Read with another seq, or with any byte changed, it does not
// verify, alone (decodeOp, as Get reads it) or in its record.
func TestRecordOpChecksum(t *testing.T) {
	const seq = 1000
	r := recordPayload{requestID: "rq", ops: []op{
		{kind: opPut, key: []byte("alpha"), value: bytes.Repeat([]byte("v"), 100)},
		{kind: opDelete, key: []byte("beta")},
		{kind: opPut, key: []byte("gamma"), value: []byte("three")},
	}}
	rel := recordPayload{relocated: true, ops: []op{
		{kind: opPut, version: 17, key: []byte("alpha"), value: []byte("old")},
		{kind: opPut, version: 999, key: []byte("delta"), value: []byte("four")},
	}}
	for _, c := range []struct {
		name string
		p    recordPayload
		seqs []uint64 // each op's seq: what its checksum covers
	}{
		{"client record", r, []uint64{seq, seq, seq}},
		{"relocated record", rel, []uint64{17, 999}},
	} {
		b := c.p.encode(seq)
		off := c.p.firstOpOffset()
		for i := range c.p.ops {
			size := c.p.opSize(&c.p.ops[i])
			opBytes := b[off : off+size]
			o, n, err := decodeOp(opBytes, c.seqs[i])
			if err != nil || n != size || string(o.key) != string(c.p.ops[i].key) || string(o.value) != string(c.p.ops[i].value) || o.version != c.p.ops[i].version {
				t.Fatalf("%s: op %d alone: %+v, %d bytes, %v", c.name, i, o, n, err)
			}
			// Bytes after the op (the next op, or what a reader reads
			// beyond it) are not part of it.
			if _, n, err := decodeOp(b[off:], c.seqs[i]); err != nil || n != size {
				t.Fatalf("%s: op %d with the bytes after it: %d bytes, %v", c.name, i, n, err)
			}
			if !c.p.relocated {
				if _, _, err := decodeOp(opBytes, c.seqs[i]+1); err == nil {
					t.Fatalf("%s: op %d verified with the seq of another record", c.name, i)
				}
			}
			for j := range opBytes {
				for bit := 0; bit < 8; bit++ {
					opBytes[j] ^= 1 << bit
					if _, _, err := decodeOp(opBytes, c.seqs[i]); err == nil {
						t.Fatalf("%s: op %d with bit %d of byte %d flipped verified", c.name, i, bit, j)
					}
					if _, err := decodeRecord(b, seq); err == nil {
						t.Fatalf("%s: record with bit %d of op %d's byte %d flipped decoded", c.name, bit, i, j)
					}
					opBytes[j] ^= 1 << bit
				}
			}
			off += size
		}
	}
	// A relocated put is kind 3 and only a relocated record holds it: a
	// client record with its relocated flag set, or cleared from a
	// relocated record, is rejected.
	for _, p := range []recordPayload{{ops: r.ops[:1]}, rel} {
		b := p.encode(seq)
		b[1] ^= flagRelocated
		if p.relocated {
			b = b[:len(b)-4] // no id count in a client record
		} else {
			b = binary.LittleEndian.AppendUint32(b, 0)
		}
		if _, err := decodeRecord(b, seq); err == nil {
			t.Fatalf("relocated flag flipped: %x accepted", b)
		}
	}
}

// The format 2 layout of docs/format.md, byte by byte, for a relocated
// record (the sample data directory holds client records only).
func TestRecordRelocatedV2Layout(t *testing.T) {
	p := recordPayload{relocated: true, ops: []op{{kind: opPut, version: 5, key: []byte("k"), value: []byte("val")}},
		ids: []carriedID{{id: "r", seq: 4, hasInt: true, intValue: -1}}}
	got := p.encode(123)
	op := []byte{3, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 'k', 'v', 'a', 'l'}
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	crc.Write([]byte{5, 0, 0, 0, 0, 0, 0, 0}) // the version, not the record's seq 123
	crc.Write(op)
	want := []byte{2, flagRelocated, 0, 1, 0, 0, 0}
	want = append(want, op...)
	want = binary.LittleEndian.AppendUint32(want, crc.Sum32())
	want = append(want, 1, 0, 0, 0, 1, 'r', 4, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if !bytes.Equal(got, want) {
		t.Fatalf("relocated record\n got  %x\n want %x", got, want)
	}
}
