package vfstest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// randomCases run seeded sequences of file operations against the FS and a
// plain []byte model and compare them after every step.
var randomCases = []testCase{
	{"RandomOpsAgainstModel", testRandomOps},
}

// Limits of the random-operation test.
const (
	randomSeeds        = 4
	randomStepsPerSeed = 300
	randomMaxSizeBytes = 1 << 17
	randomMaxOpBytes   = 3 * 4096
)

// fileModel is what a file and one descriptor on it should hold.
type fileModel struct {
	data   []byte
	offset int64
}

// writeAt writes p at off, zero-filling any gap, as the FS must.
func (m *fileModel) writeAt(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(m.data)) {
		m.data = append(m.data, make([]byte, end-int64(len(m.data)))...)
	}
	copy(m.data[off:], p)
}

// resize truncates or zero-extends the data to size.
func (m *fileModel) resize(size int64) {
	if size <= int64(len(m.data)) {
		m.data = m.data[:size]
		return
	}
	m.data = append(m.data, make([]byte, size-int64(len(m.data)))...)
}

func testRandomOps(t *testing.T, fsys vfs.FS, dir string) {
	for seed := uint64(1); seed <= randomSeeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runRandomOps(t, fsys, join(dir, fmt.Sprintf("random-%d", seed)), seed)
		})
	}
}

func runRandomOps(t *testing.T, fsys vfs.FS, name string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x686f6c6466617374)) // "holdfast"
	f := mustOpen(t, fsys, name, vfs.ORdWr|vfs.OCreate|vfs.OExcl)
	var m fileModel
	var history []string

	fail := func(format string, args ...any) {
		t.Helper()
		last := history[max(0, len(history)-8):]
		t.Fatalf("seed %d, step %d: %s\nlast operations:\n  %s",
			seed, len(history)-1, fmt.Sprintf(format, args...), strings.Join(last, "\n  "))
	}
	size := func() int64 { return int64(len(m.data)) }
	// upTo returns a number in [0, n].
	upTo := func(n int64) int64 { return rng.Int64N(n + 1) }
	opBytes := func() []byte {
		p := make([]byte, 1+rng.IntN(randomMaxOpBytes))
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	// room bounds offsets so the file stays under randomMaxSizeBytes.
	room := func(extra int64) int64 {
		return min(size()+extra, randomMaxSizeBytes-randomMaxOpBytes)
	}

	for step := 0; step < randomStepsPerSeed; step++ {
		switch op := rng.IntN(9); op {
		case 0, 1: // Write at the descriptor's offset
			if m.offset > randomMaxSizeBytes-randomMaxOpBytes {
				history = append(history, "skip Write: offset too far")
				continue
			}
			p := opBytes()
			history = append(history, fmt.Sprintf("Write(%d bytes) at offset %d", len(p), m.offset))
			if n, err := f.Write(p); n != len(p) || err != nil {
				fail("Write = %d, %v; want %d, nil", n, err, len(p))
			}
			m.writeAt(p, m.offset)
			m.offset += int64(len(p))
		case 2, 3: // WriteAt, possibly past the end
			p, off := opBytes(), upTo(room(8192))
			history = append(history, fmt.Sprintf("WriteAt(%d bytes, %d)", len(p), off))
			if n, err := f.WriteAt(p, off); n != len(p) || err != nil {
				fail("WriteAt = %d, %v; want %d, nil", n, err, len(p))
			}
			m.writeAt(p, off)
		case 4: // Truncate, shrinking or growing
			to := upTo(room(10000))
			history = append(history, fmt.Sprintf("Truncate(%d) of size %d", to, size()))
			if err := f.Truncate(to); err != nil {
				fail("Truncate: %v", err)
			}
			m.resize(to)
		case 5: // Preallocate, inside, across or past the end
			off, length := upTo(room(8192)), 1+rng.Int64N(10000)
			history = append(history, fmt.Sprintf("Preallocate(%d, %d) of size %d", off, length, size()))
			if err := f.Preallocate(off, length); err != nil {
				fail("Preallocate: %v", err)
			}
			if end := off + length; end > size() {
				m.resize(end)
			}
		case 6: // Seek with each whence
			var offset, want int64
			whence := rng.IntN(3)
			switch whence {
			case io.SeekStart:
				offset = upTo(size() + 4096)
				want = offset
			case io.SeekCurrent:
				offset = upTo(m.offset+4096) - m.offset
				want = m.offset + offset
			case io.SeekEnd:
				offset = upTo(size()+4096) - size()
				want = size() + offset
			}
			history = append(history, fmt.Sprintf("Seek(%d, %d) from %d, size %d", offset, whence, m.offset, size()))
			if got, err := f.Seek(offset, whence); got != want || err != nil {
				fail("Seek = %d, %v; want %d, nil", got, err, want)
			}
			m.offset = want
		case 7: // Read at the descriptor's offset
			buf := make([]byte, 1+rng.IntN(randomMaxOpBytes))
			history = append(history, fmt.Sprintf("Read(%d bytes) at offset %d, size %d", len(buf), m.offset, size()))
			n, err := f.Read(buf)
			wantN := int(max(0, min(int64(len(buf)), size()-m.offset)))
			if n != wantN || (wantN == 0 && err != io.EOF) || (wantN > 0 && err != nil && err != io.EOF) {
				fail("Read = %d, %v; want %d and %s", n, err, wantN, map[bool]string{true: "io.EOF", false: "nil or io.EOF"}[wantN == 0])
			}
			if n > 0 && string(buf[:n]) != string(m.data[m.offset:m.offset+int64(n)]) {
				fail("Read returned bytes that differ from the model")
			}
			m.offset += int64(n)
		case 8: // Sync or SyncData
			history = append(history, "Sync and SyncData")
			if err := f.Sync(); err != nil {
				fail("Sync: %v", err)
			}
			if err := f.SyncData(); err != nil {
				fail("SyncData: %v", err)
			}
		}

		// After every step: size, offset and every byte agree.
		fi, err := f.Stat()
		if err != nil {
			fail("File.Stat: %v", err)
		}
		if fi.Size() != size() {
			fail("File.Stat().Size() = %d, model %d", fi.Size(), size())
		}
		if off, err := f.Seek(0, io.SeekCurrent); off != m.offset || err != nil {
			fail("offset = %d, %v; model %d", off, err, m.offset)
		}
		got := make([]byte, size()+1)
		n, err := f.ReadAt(got, 0)
		if int64(n) != size() || err != io.EOF {
			fail("ReadAt(size+1, 0) = %d, %v; want %d, io.EOF", n, err, size())
		}
		if string(got[:n]) != string(m.data) {
			i := 0
			for i < n && got[i] == m.data[i] {
				i++
			}
			fail("content differs from the model at offset %d of %d: got %s, model %s",
				i, size(), excerpt(got[:n], i), excerpt(m.data, i))
		}
	}
	mustClose(t, name, f)
	wantContent(t, fsys, name, m.data)
}
