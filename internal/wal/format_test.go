package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

var update = flag.Bool("update", false, "rewrite testdata/0000000000000001.seg from the encoder")

const (
	sampleFile             = "testdata/0000000000000001.seg"
	sampleSegmentSizeBytes = 24 << 10
)

// sampleGroups are the records of the checked-in sample segment, one
// slice per group. docs/format.md walks through this file.
func sampleGroups() [][]Record {
	big := make([]byte, 4100) // spans 9 sectors: the group takes two pages
	for i := range big {
		big[i] = byte(i * 7)
	}
	return [][]Record{
		{{Seq: 1, Payload: []byte("hello, holdfast")}},
		{{Seq: 2, Payload: []byte{}}, {Seq: 3, Payload: big}},
		{{Seq: 4, Payload: []byte("the end")}},
	}
}

// sampleExtents are the sample groups' offsets and durable promises.
var sampleExtents = []struct{ off, extent, durable int64 }{
	{4096, 4096, 4096},
	{8192, 8192, 8192},
	{16384, 4096, 16384},
}

// generateSample writes the sample log on faultfs through the Writer and
// returns the segment's durable bytes.
func generateSample(t testing.TB) []byte {
	fsys := faultfs.New(faultfs.Options{})
	w := mustRecover(t, fsys, testDir, quietOpts(sampleSegmentSizeBytes), Position{}).w
	for _, g := range sampleGroups() {
		if _, err := w.AppendGroup(g, true); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	b, err := fsys.DurableContent(segFile(1))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSampleSegment decodes the checked-in sample segment, checks every
// record and field, and checks that the encoder still produces it byte for
// byte (a format change must be deliberate: rerun with -update and update
// docs/format.md).
func TestSampleSegment(t *testing.T) {
	if *update {
		if err := os.WriteFile(sampleFile, generateSample(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sample, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sample, generateSample(t)) {
		t.Fatalf("the encoder no longer produces %s: the on-disk format changed", sampleFile)
	}
	if len(sample) != sampleSegmentSizeBytes {
		t.Fatalf("sample is %d bytes", len(sample))
	}

	// Field by field, as docs/format.md describes them.
	firstSeq, err := decodeHeaderBlock(sample, 1)
	if err != nil || firstSeq != 1 {
		t.Fatalf("header block: first seq %d, %v", firstSeq, err)
	}
	// Known answers, computed independently: SplitMix64's first output
	// for seed 0, and the stamps of sectors 0 and 8 of segment 1.
	if got := splitmix64(0); got != 0xe220a8397b1dcdaf {
		t.Fatalf("splitmix64(0) = %#x", got)
	}
	if got := binary.LittleEndian.Uint64(sample); got != 0x9fdd7128f310c389 {
		t.Fatalf("stamp of sector 0 is %#x", got)
	}
	if got := binary.LittleEndian.Uint64(sample[HeaderBlockBytes:]); got != 0x83c5386b89d08798 {
		t.Fatalf("stamp of sector 8 is %#x", got)
	}
	if string(sample[stampBytes:stampBytes+8]) != headerMagic {
		t.Fatalf("magic %q", sample[8:16])
	}
	groups := sampleGroups()
	for i, e := range sampleExtents {
		g, _, err := decodeGroup(sample[e.off:], 1, e.off)
		if err != nil {
			t.Fatalf("group %d: %v", i, err)
		}
		if g.extentBytes() != e.extent || g.Durable != e.durable || g.FirstSeq != groups[i][0].Seq || int(g.Count) != len(groups[i]) {
			t.Fatalf("group %d: %+v", i, g.groupHeader)
		}
		for j, r := range g.Records {
			if r.Seq != groups[i][j].Seq || !bytes.Equal(r.Payload, groups[i][j].Payload) {
				t.Fatalf("group %d record %d differs", i, j)
			}
		}
	}
	if !allZero(sample[20480:]) {
		t.Fatal("the page after the last group is not zero")
	}

	// And through Recover, on a file system holding only this file.
	fsys := faultfs.New(faultfs.Options{})
	if err := fsys.MkdirAll(testDir, 0o755); err != nil {
		t.Fatal(err)
	}
	overwriteNew(t, fsys, segFile(1), sample)
	r := mustRecover(t, fsys, testDir, quietOpts(sampleSegmentSizeBytes), Position{})
	defer r.w.Close()
	checkPrefix(t, r.recs, groups, len(groups))
	if r.info.LastSeq != 4 || r.w.Position() != (Position{Segment: 1, Offset: 20480, NextSeq: 5}) {
		t.Fatalf("info %+v position %+v", r.info, r.w.Position())
	}
	for i, p := range r.pos {
		rec, err := r.w.ReadRecord(p)
		if err != nil || rec.Seq != r.recs[i].Seq {
			t.Fatalf("ReadRecord(%+v): %v", p, err)
		}
	}
}

// overwriteNew creates name holding b, durably.
func overwriteNew(t testing.TB, fsys vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate|vfs.OTrunc, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := vfs.SyncDir(fsys, filepath.Dir(name)); err != nil {
		t.Fatal(err)
	}
}

// TestStampsDiffer: stamps are never zero and differ between neighbouring
// sectors and between segments at the same sector.
func TestStampsDiffer(t *testing.T) {
	seen := make(map[uint64]bool)
	for seg := uint64(1); seg <= 64; seg++ {
		for sec := uint64(0); sec < 4096; sec++ {
			s := sectorStamp(seg, sec)
			if s == 0 || s>>63 != 1 || seen[s] {
				t.Fatalf("stamp(%d, %d) = %#x: zero, top bit clear, or repeated", seg, sec, s)
			}
			seen[s] = true
		}
	}
}

// TestEncodeDecodeGroup round-trips groups through the reference encoder
// and the decoder, and checks that the physical size rounds to pages.
func TestEncodeDecodeGroup(t *testing.T) {
	for _, sizes := range [][]int{{0}, {1}, {455}, {456}, {457}, {4000, 0, 12}, {MaxRecordBytes}} {
		var recs []Record
		for i, n := range sizes {
			recs = append(recs, Record{Seq: 10 + uint64(i), Payload: payload(uint64(i), n)})
		}
		phys, offs := encodeGroup(7, 3*pageBytes, 2*pageBytes, recs)
		if len(phys)%pageBytes != 0 {
			t.Fatalf("%v: %d bytes is not whole pages", sizes, len(phys))
		}
		g, _, err := decodeGroup(phys, 7, 3*pageBytes)
		if err != nil {
			t.Fatalf("%v: %v", sizes, err)
		}
		for i := range recs {
			if g.Records[i].Seq != recs[i].Seq || !bytes.Equal(g.Records[i].Payload, recs[i].Payload) || g.Offs[i] != offs[i] {
				t.Fatalf("%v: record %d differs", sizes, i)
			}
		}
		// Wrong place or wrong segment: the stamps say so.
		if _, _, err := decodeGroup(phys, 8, 3*pageBytes); !errors.Is(err, errBadStamp) {
			t.Fatalf("decoded as another segment: %v", err)
		}
		if _, _, err := decodeGroup(phys, 7, 4*pageBytes); !errors.Is(err, errBadStamp) {
			t.Fatalf("decoded at another offset: %v", err)
		}
	}
	// 48-byte header + one 16-byte frame + 440 payload bytes = 504: one sector.
	if got := physicalBytes(groupHeaderBytes + recordHeaderBytes + 440); got != pageBytes {
		t.Fatalf("physicalBytes = %d", got)
	}
	if got := physicalBytes(8*sectorPayloadBytes + 1); got != 2*pageBytes {
		t.Fatalf("physicalBytes = %d", got)
	}
}

// FuzzDecodeGroup feeds arbitrary bytes to the group and header-block
// decoders. They must not panic, and whatever they accept must re-encode to
// exactly the bytes they accepted.
func FuzzDecodeGroup(f *testing.F) {
	for i, g := range sampleGroups() {
		off := sampleExtents[i].off
		phys, _ := encodeGroup(1, off, sampleExtents[i].durable, g)
		f.Add(phys, uint64(1), uint16(off/pageBytes-1))
	}
	hb := make([]byte, HeaderBlockBytes)
	encodeHeaderBlock(hb, 3, 42)
	f.Add(hb, uint64(3), uint16(0))
	f.Add([]byte{}, uint64(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, segmentID uint64, page uint16) {
		off := HeaderBlockBytes + int64(page%1024)*pageBytes
		if g, _, err := decodeGroup(data, segmentID, off); err == nil {
			again, _ := encodeGroup(segmentID, off, g.Durable, g.Records)
			if !bytes.Equal(again, data[:g.extentBytes()]) {
				t.Fatalf("accepted a group that re-encodes differently")
			}
		}
		if firstSeq, err := decodeHeaderBlock(data, segmentID); err == nil {
			again := make([]byte, HeaderBlockBytes)
			encodeHeaderBlock(again, segmentID, firstSeq)
			if !bytes.Equal(again, data[:HeaderBlockBytes]) {
				t.Fatalf("accepted a header block that re-encodes differently")
			}
		}
	})
}

// FuzzRecoverSegment damages the sample segment (bytes set, sectors
// zeroed, bits flipped) and recovers it: Recover must not panic, and must
// either return a prefix of the sample's groups or report ErrCorrupt.
func FuzzRecoverSegment(f *testing.F) {
	sample, err := os.ReadFile(sampleFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0x10, 0x10, 0x55}) // a byte of the first group
	f.Add([]byte{1, 0x40, 0x00, 0x00}) // zero the last group's first sector
	f.Add([]byte{2, 0x20, 0x04, 0x03}) // flip a bit in the second group
	f.Add([]byte{1, 0x00, 0x02, 0x00}) // zero a header-block sector
	f.Add([]byte{0, 0x50, 0x10, 0xff}) // junk after the end
	groups := sampleGroups()
	f.Fuzz(func(t *testing.T, ops []byte) {
		seg := bytes.Clone(sample)
		for ; len(ops) >= 4; ops = ops[4:] {
			off := int(binary.BigEndian.Uint16(ops[1:3])) % len(seg)
			switch ops[0] % 3 {
			case 0:
				seg[off] = ops[3]
			case 1:
				s := off / sectorBytes * sectorBytes
				clear(seg[s : s+sectorBytes])
			case 2:
				seg[off] ^= 1 << (ops[3] % 8)
			}
		}
		fsys := faultfs.New(faultfs.Options{})
		if err := fsys.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		overwriteNew(t, fsys, segFile(1), seg)
		r, err := recoverLog(fsys, testDir, quietOpts(sampleSegmentSizeBytes), Position{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Recover failed with something other than ErrCorrupt: %v", err)
			}
			return
		}
		defer r.w.Close()
		checkPrefix(t, r.recs, groups, 0)
	})
}
