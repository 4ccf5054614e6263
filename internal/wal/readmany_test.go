package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// ReadRecords returns, in any order of positions, exactly what ReadRecord
// returns, across segments, and reports damage as ReadRecord does.
func TestReadRecordsMatchesReadRecord(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	w, _, err := Recover(fsys, "/log", Options{SegmentSizeBytes: 16 << 10}, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var pos []RecordPos
	var want [][]byte
	seq := uint64(1)
	for g := 0; g < 40; g++ {
		var recs []Record
		for i := 0; i < 1+g%4; i++ {
			p := bytes.Repeat([]byte{byte(seq)}, int(seq*37%900))
			recs = append(recs, Record{Seq: seq, Payload: p})
			want = append(want, p)
			seq++
		}
		ps, err := w.AppendGroup(recs, true)
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, ps...)
	}
	if len(w.Segments()) < 2 {
		t.Fatalf("%d segments; the test wants the log to roll", len(w.Segments()))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(pos))
	shuffled := make([]RecordPos, len(pos))
	for i, j := range order {
		shuffled[i] = pos[j]
	}
	seen := 0
	err = w.ReadRecords(shuffled, func(i int, rec Record) error {
		j := order[i]
		if rec.Seq != uint64(j+1) || !bytes.Equal(rec.Payload, want[j]) {
			return fmt.Errorf("position %d: seq %d, %d bytes; want seq %d, %d bytes", i, rec.Seq, len(rec.Payload), j+1, len(want[j]))
		}
		one, err := w.ReadRecord(shuffled[i])
		if err != nil || !bytes.Equal(one.Payload, rec.Payload) {
			return fmt.Errorf("ReadRecord disagrees at %d: %v", i, err)
		}
		seen++
		return nil
	})
	if err != nil || seen != len(pos) {
		t.Fatalf("ReadRecords: %v after %d of %d", err, seen, len(pos))
	}
	// Damage in one record's sector is reported with its file.
	p := pos[len(pos)/2]
	l := p.Logical + 10 // a byte of the record's frame, in its group's logical stream
	phys := p.GroupOffset + l/sectorPayloadBytes*sectorBytes + stampBytes + l%sectorPayloadBytes
	if err := fsys.FlipBit(w.segPath(p.Segment), phys, 3); err != nil {
		t.Fatal(err)
	}
	err = w.ReadRecords(pos, func(int, Record) error { return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != w.segPath(p.Segment) {
		t.Fatalf("ReadRecords over a flipped bit: %v, want a CorruptError in %s", err, w.segPath(p.Segment))
	}
}
