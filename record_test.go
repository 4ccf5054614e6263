package holdfast

import (
	"bytes"
	"testing"
)

func FuzzDecodeRecord(f *testing.F) {
	f.Add((&recordPayload{ops: []op{{kind: opPut, key: []byte("k"), value: []byte("v")}}}).encode())
	f.Add((&recordPayload{requestID: "req-1", ops: []op{{kind: opDelete, key: []byte("k")}, {kind: opPut, key: []byte("a"), value: nil}}}).encode())
	f.Add([]byte{1, 0, 0, 255, 255, 255, 255})
	f.Add((&recordPayload{relocated: true, ops: []op{{kind: opPut, version: 7, key: []byte("k"), value: []byte("v")}}}).encode())
	f.Add((&recordPayload{relocated: true, ids: []carriedID{{id: "r1", seq: 3, hasInt: true, intValue: -5}, {id: "r2", seq: 9}}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if again := r.encode(); !bytes.Equal(again, b) {
			t.Fatalf("accepted payload does not re-encode identically:\n in  %x\n out %x", b, again)
		}
	})
}

func TestRecordRoundTripAndRejects(t *testing.T) {
	r := recordPayload{requestID: "id", ops: []op{
		{kind: opPut, key: []byte("alpha"), value: []byte("one")},
		{kind: opDelete, key: []byte("beta")},
		{kind: opPut, key: []byte("gamma"), value: []byte{}},
	}}
	b := r.encode()
	if len(b) != r.encodedSize() {
		t.Fatalf("encodedSize %d, encoded %d", r.encodedSize(), len(b))
	}
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.requestID != "id" || len(got.ops) != 3 || string(got.ops[0].value) != "one" || got.ops[1].kind != opDelete {
		t.Fatalf("round trip: %+v", got)
	}
	for i := 0; i < len(b); i++ {
		if _, err := decodeRecord(b[:i]); err == nil {
			t.Fatalf("a %d-byte prefix of a %d-byte record was accepted", i, len(b))
		}
	}
	rel := recordPayload{relocated: true, ops: []op{{kind: opPut, version: 42, key: []byte("k"), value: []byte("value")}},
		ids: []carriedID{{id: "req", seq: 40, hasInt: true, intValue: 12}}}
	if got, err := decodeRecord(rel.encode()); err != nil || !got.relocated || got.ops[0].version != 42 || string(got.ops[0].value) != "value" ||
		len(got.ids) != 1 || got.ids[0] != rel.ids[0] {
		t.Fatalf("relocated round trip: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{
		append([]byte{2}, b[1:]...),       // version
		append(append([]byte{}, b...), 0), // trailing byte
	} {
		if _, err := decodeRecord(bad); err == nil {
			t.Fatalf("bad record %x accepted", bad)
		}
	}
}
