package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path"
	"slices"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

const testDir = "/data/wal"

// quietOpts are options for tests: small segments, no log output, and
// spare segments made inline (spare.go), so that a run's file operations
// replay exactly; spare_test.go tests them in the background.
func quietOpts(segmentSizeBytes int64) Options {
	return Options{
		SegmentSizeBytes: segmentSizeBytes,
		InlineSpare:      true,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// payload is a deterministic payload for seq of n bytes.
func payload(seq uint64, n int) []byte {
	b := make([]byte, n)
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seq)
	binary.LittleEndian.PutUint64(key[8:], uint64(n))
	rand.NewChaCha8(key).Read(b)
	return b
}

// makeGroup builds count records from seq with payloads of random sizes up
// to maxBytes.
func makeGroup(rng *rand.Rand, seq uint64, count, maxBytes int) []Record {
	recs := make([]Record, count)
	for i := range recs {
		s := seq + uint64(i)
		recs[i] = Record{Seq: s, Payload: payload(s, rng.IntN(maxBytes+1))}
	}
	return recs
}

// recovered is what a Recover call returned.
type recovered struct {
	w    *Writer
	info RecoverInfo
	recs []Record
	pos  []RecordPos
}

func recoverLog(fsys vfs.FS, dir string, opts Options, start Position) (recovered, error) {
	var r recovered
	w, info, err := Recover(fsys, dir, opts, start, func(rec Record, pos RecordPos) error {
		r.recs = append(r.recs, rec)
		r.pos = append(r.pos, pos)
		return nil
	})
	r.w, r.info = w, info
	return r, err
}

func mustRecover(t testing.TB, fsys vfs.FS, dir string, opts Options, start Position) recovered {
	t.Helper()
	r, err := recoverLog(fsys, dir, opts, start)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return r
}

// flatten lists the records of groups in order.
func flatten(groups [][]Record) []Record {
	var out []Record
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// checkPrefix checks that got is exactly the records of the first k groups
// for some k >= minGroups, and returns k.
func checkPrefix(t testing.TB, got []Record, groups [][]Record, minGroups int) int {
	t.Helper()
	n, k := 0, 0
	for k < len(groups) && n+len(groups[k]) <= len(got) {
		n += len(groups[k])
		k++
	}
	if n != len(got) {
		t.Fatalf("recovered %d records: not a whole number of groups (groups end at %d)", len(got), n)
	}
	want := flatten(groups[:k])
	for i := range got {
		if got[i].Seq != want[i].Seq || !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Fatalf("record %d: got seq %d (%d bytes), want seq %d (%d bytes)", i, got[i].Seq, len(got[i].Payload), want[i].Seq, len(want[i].Payload))
		}
	}
	if k < minGroups {
		t.Fatalf("recovered %d groups, but %d were acknowledged as durable", k, minGroups)
	}
	return k
}

// segFile is the path of segment id in testDir.
func segFile(id uint64) string { return path.Join(testDir, segmentName(id)) }

// asCorrupt checks that err is a *CorruptError and returns it.
func asCorrupt(t testing.TB, err error) *CorruptError {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want a *CorruptError matching ErrCorrupt, got %v", err)
	}
	return ce
}

// fsysCase is a file system to run a test on.
type fsysCase struct {
	name string
	new  func(t testing.TB, seed uint64) (vfs.FS, string)
}

// allFS is every faultfs profile plus the operating system in a temporary
// directory (the O_DIRECT path).
func allFS() []fsysCase {
	var cases []fsysCase
	for _, p := range faultfs.Profiles {
		cases = append(cases, fsysCase{name: string(p), new: func(t testing.TB, seed uint64) (vfs.FS, string) {
			return faultfs.New(faultfs.Options{Profile: p, Seed: seed}), testDir
		}})
	}
	cases = append(cases, fsysCase{name: "os", new: func(t testing.TB, seed uint64) (vfs.FS, string) {
		return vfs.Default(), path.Join(t.TempDir(), "wal")
	}})
	return cases
}

// noDirectFS refuses O_DIRECT as tmpfs once did.
type noDirectFS struct{ vfs.FS }

func (n noDirectFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&vfs.ODirect != 0 {
		return nil, fmt.Errorf("open %s: %w", name, vfs.ErrDirectIOUnsupported)
	}
	return n.FS.OpenFile(name, flag, perm)
}

// overwrite changes bytes of a file on the device, as damage would: a
// buffered write and a sync.
func overwrite(t testing.TB, fsys vfs.FS, name string, off int64, b []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, vfs.ORdWr, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readDevice(t testing.TB, fsys vfs.FS, name string, off int64, n int) []byte {
	t.Helper()
	f, err := fsys.OpenFile(name, vfs.ORdOnly|vfs.ODirect, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lo := vfs.AlignDown(off)
	buf := vfs.AlignedBuffer(int(vfs.AlignUp(off+int64(n)) - lo))
	if _, err := f.ReadAt(buf, lo); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return slices.Clone(buf[off-lo : off-lo+int64(n)])
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// appendUntilSegments appends synced groups of count records of up to
// maxBytes each, from seq on, until the log has segments segments; it
// returns the seq of the next record.
func appendUntilSegments(t *testing.T, w *Writer, rng *rand.Rand, seq uint64, segments, count, maxBytes int) uint64 {
	t.Helper()
	for len(w.Segments()) < segments {
		recs := makeGroup(rng, seq, count, maxBytes)
		if _, err := w.AppendGroup(recs, true); err != nil {
			t.Fatal(err)
		}
		seq += uint64(len(recs))
	}
	return seq
}
