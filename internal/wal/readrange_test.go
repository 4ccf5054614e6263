package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// physOf is the file offset of logical byte l of the group at groupOffset.
func physOf(groupOffset, l int64) int64 {
	return groupOffset + l/sectorPayloadBytes*sectorBytes + stampBytes + l%sectorPayloadBytes
}

// ReadRecordRange returns exactly the payload bytes asked for, for ranges
// inside one sector, across sector boundaries (every 504 logical bytes)
// and across page boundaries (every 4096 physical bytes), and reads only
// the aligned blocks that cover them.
func TestReadRecordRange(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 5})
	w := mustRecover(t, fsys, testDir, quietOpts(256<<10), Position{}).w
	defer w.Close()
	recs := []Record{{Seq: 1, Payload: payload(1, 300)}, {Seq: 2, Payload: payload(2, 20000)}, {Seq: 3, Payload: payload(3, 9)}}
	pos, err := w.AppendGroup(recs, true)
	if err != nil {
		t.Fatal(err)
	}
	type rng struct{ rec, off, n int }
	var cases []rng
	for i, r := range recs {
		size := len(r.Payload)
		cases = append(cases, rng{i, 0, size}, rng{i, 0, 1}, rng{i, size - 1, 1})
	}
	// Every range of the big record that starts or ends next to a sector
	// or page boundary (in its group's logical stream or in the file).
	big := pos[1]
	payloadStart := big.Logical + recordHeaderBytes
	for l := int64(0); l < int64(len(recs[1].Payload)); l++ {
		abs := payloadStart + l
		atSector := abs%sectorPayloadBytes == 0
		atPage := physOf(big.GroupOffset, abs)%pageBytes == stampBytes
		if !atSector && !atPage {
			continue
		}
		for _, d := range []int{-3, -1, 0, 1} {
			off := int(l) + d
			for _, n := range []int{1, 2, 5, 503, 504, 505, 4096, 5000} {
				if off >= 0 && off+n <= len(recs[1].Payload) {
					cases = append(cases, rng{1, off, n})
				}
			}
		}
	}
	if len(cases) < 200 {
		t.Fatalf("only %d cases: the record is too small to cross pages", len(cases))
	}
	for _, c := range cases {
		before := w.Stats()
		got, err := w.ReadRecordRange(pos[c.rec], c.off, c.n)
		if err != nil {
			t.Fatalf("record %d: %d bytes at %d: %v", c.rec, c.n, c.off, err)
		}
		if want := recs[c.rec].Payload[c.off : c.off+c.n]; !bytes.Equal(got, want) {
			t.Fatalf("record %d: %d bytes at %d: wrong bytes", c.rec, c.n, c.off)
		}
		// The aligned blocks that cover the range's sectors, no more.
		p := pos[c.rec]
		first := payloadStart - big.Logical + p.Logical + int64(c.off)
		last := first + int64(c.n) - 1
		lo := vfs.AlignDown(p.GroupOffset + first/sectorPayloadBytes*sectorBytes)
		hi := vfs.AlignUp(p.GroupOffset + (last/sectorPayloadBytes+1)*sectorBytes)
		after := w.Stats()
		if after.Reads-before.Reads != 1 || after.ReadBytes-before.ReadBytes != hi-lo {
			t.Fatalf("record %d: %d bytes at %d: %d reads of %d bytes, want 1 of %d", c.rec, c.n, c.off,
				after.Reads-before.Reads, after.ReadBytes-before.ReadBytes, hi-lo)
		}
	}
	for _, bad := range []rng{{1, -1, 2}, {1, 0, 0}, {1, 19999, 2}, {1, 20000, 1}, {0, 0, 301}} {
		if _, err := w.ReadRecordRange(pos[bad.rec], bad.off, bad.n); err == nil {
			t.Fatalf("record %d: %d bytes at %d, outside the payload, accepted", bad.rec, bad.n, bad.off)
		}
	}
}

// ReadRecordRange checks the stamps of the sectors it reads: a flipped
// stamp byte, or a zeroed sector, is a *CorruptError naming the file and
// the sector's offset. A flipped payload byte keeps every stamp right and
// is returned as read: the caller verifies the bytes (ReadRecordRange does
// not check the record's checksum), and the range of the other sectors is
// unaffected.
func TestReadRecordRangeDamage(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 6})
	w := mustRecover(t, fsys, testDir, quietOpts(64<<10), Position{}).w
	defer w.Close()
	rec := Record{Seq: 1, Payload: payload(1, 6000)}
	pos, err := w.AppendGroup([]Record{rec}, true)
	if err != nil {
		t.Fatal(err)
	}
	p := pos[0]
	// The payload bytes [off, off+n) span three sectors and a page boundary.
	off, n := 3500, 1200
	start := p.Logical + recordHeaderBytes + int64(off)
	firstSector := start / sectorPayloadBytes
	lastSector := (start + int64(n) - 1) / sectorPayloadBytes
	if lastSector-firstSector < 2 {
		t.Fatalf("the range covers sectors %d..%d; the test wants three", firstSector, lastSector)
	}
	for s := firstSector; s <= lastSector; s++ {
		sectorOff := p.GroupOffset + s*sectorBytes
		for _, at := range []int64{0, 7} { // the stamp's first and last byte
			if err := fsys.FlipBit(segFile(1), sectorOff+at, 2); err != nil {
				t.Fatal(err)
			}
			_, err := w.ReadRecordRange(p, off, n)
			if ce := asCorrupt(t, err); ce.Path != segFile(1) || ce.Offset != sectorOff {
				t.Fatalf("stamp of sector %d flipped at byte %d: reported %s offset %d, want offset %d", s, at, ce.Path, ce.Offset, sectorOff)
			}
			fsys.FlipBit(segFile(1), sectorOff+at, 2)
		}
	}
	// A zeroed sector.
	sectorOff := p.GroupOffset + (firstSector+1)*sectorBytes
	saved, err := fsys.DurableContent(segFile(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteDurable(segFile(1), sectorOff, make([]byte, sectorBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadRecordRange(p, off, n); asCorrupt(t, err).Offset != sectorOff {
		t.Fatalf("zeroed sector: %v, want offset %d", err, sectorOff)
	}
	if err := fsys.WriteDurable(segFile(1), sectorOff, saved[sectorOff:sectorOff+sectorBytes]); err != nil {
		t.Fatal(err)
	}
	// A payload byte: returned as it is on the device. Locate names it.
	flip := physOf(p.GroupOffset, start+10)
	if name, at := w.Locate(p, off+10); name != segFile(1) || at != flip {
		t.Fatalf("Locate: %s offset %d, want %s offset %d", name, at, segFile(1), flip)
	}
	if p.PayloadBytes() != len(rec.Payload) {
		t.Fatalf("PayloadBytes %d, want %d", p.PayloadBytes(), len(rec.Payload))
	}
	if err := fsys.FlipBit(segFile(1), flip, 0); err != nil {
		t.Fatal(err)
	}
	got, err := w.ReadRecordRange(p, off, n)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(rec.Payload[off : off+n])
	want[10] ^= 1
	if !bytes.Equal(got, want) {
		t.Fatal("a flipped payload byte was not returned as read")
	}
	if _, err := w.ReadRecord(p); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadRecord over the flipped payload byte: %v, want corruption", err)
	}
	// The ranges before and after it do not read its sector.
	if got, err := w.ReadRecordRange(p, 0, 100); err != nil || !bytes.Equal(got, rec.Payload[:100]) {
		t.Fatalf("an undamaged range: %v", err)
	}
}
