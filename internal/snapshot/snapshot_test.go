package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// sample writes a two-dataspace stream.
func sample(t testing.TB) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Created: time.Unix(1700000000, 0).UTC(), HoldfastVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"alpha", "beta"} {
		if err := w.BeginDataspace(Dataspace{Name: ds, Sync: "always", LastSeq: 42}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if err := w.Put([]byte(fmt.Sprintf("%s-%03d", ds, i)), bytes.Repeat([]byte{byte(i)}, i*11)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.EndDataspace(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := sample(t)
	s, err := Verify(bytes.NewReader(data), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Dataspaces) != 2 || s.Dataspaces[1].Name != "beta" || s.Dataspaces[1].Keys != 20 || s.SizeBytes != int64(len(data)) {
		t.Fatalf("summary %+v", s)
	}
	h := NewHasher()
	for i := 0; i < 20; i++ {
		h.Add([]byte(fmt.Sprintf("alpha-%03d", i)), bytes.Repeat([]byte{byte(i)}, i*11))
	}
	if s.Dataspaces[0].ContentHash != h.Sum() {
		t.Fatalf("content hash %s, want %s", s.Dataspaces[0].ContentHash, h.Sum())
	}
}

// Every truncation and every single-byte change is rejected.
func TestDamageRejected(t *testing.T) {
	data := sample(t)
	for n := 0; n < len(data); n++ {
		if _, err := Verify(bytes.NewReader(data[:n]), false); !errors.Is(err, ErrInvalid) {
			t.Fatalf("truncated to %d of %d bytes: %v, want ErrInvalid", n, len(data), err)
		}
	}
	for i := 0; i < len(data); i++ {
		d := bytes.Clone(data)
		d[i] ^= 0x01
		if _, err := Verify(bytes.NewReader(d), false); !errors.Is(err, ErrInvalid) {
			t.Fatalf("byte %d flipped: %v, want ErrInvalid", i, err)
		}
	}
	if _, err := Verify(bytes.NewReader(append(bytes.Clone(data), 0)), false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("trailing byte: %v", err)
	}
	// A flipped value byte with the hash check skipped: accepted, with
	// the mismatch reported.
	d := bytes.Clone(data)
	i := bytes.Index(d, []byte("alpha-005")) + len("alpha-005") + 2
	d[i] ^= 0xff
	s, err := Verify(bytes.NewReader(d), true)
	if err != nil || len(s.Mismatches) == 0 {
		t.Fatalf("skip hash check: %v, mismatches %v", err, s.Mismatches)
	}
}

func TestWriterRejectsMisuse(t *testing.T) {
	w, _ := NewWriter(io.Discard, Header{})
	if err := w.Put([]byte("k"), nil); err == nil {
		t.Fatal("Put outside a dataspace accepted")
	}
	w.BeginDataspace(Dataspace{Name: "d"})
	w.Put([]byte("b"), nil)
	if err := w.Put([]byte("a"), nil); err == nil || !strings.Contains(err.Error(), "not after") {
		t.Fatalf("out of order Put: %v", err)
	}
	if _, err := w.Close(); err == nil {
		t.Fatal("Close inside a dataspace accepted")
	}
}

func FuzzReader(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte(Magic))
	f.Add([]byte(Magic + "H\x02\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Verify(bytes.NewReader(data), false)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		// Whatever verifies re-encodes to a stream with the same contents.
		var buf bytes.Buffer
		r, _ := NewReader(bytes.NewReader(data))
		w, _ := NewWriter(&buf, r.Header())
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case ev.Dataspace != nil:
				w.BeginDataspace(*ev.Dataspace)
			case ev.End != nil:
				w.EndDataspace()
			default:
				if err := w.Put(ev.Key, ev.Value); err != nil {
					t.Fatalf("verified stream has a key the writer refuses: %v", err)
				}
			}
		}
		w.Close()
		s2, err := Verify(bytes.NewReader(buf.Bytes()), false)
		if err != nil {
			t.Fatalf("re-encoded stream does not verify: %v", err)
		}
		if len(s2.Dataspaces) != len(s.Dataspaces) {
			t.Fatalf("re-encoded: %d dataspaces, want %d", len(s2.Dataspaces), len(s.Dataspaces))
		}
		for i := range s.Dataspaces {
			if s2.Dataspaces[i] != s.Dataspaces[i] {
				t.Fatalf("re-encoded dataspace %d: %+v, want %+v", i, s2.Dataspaces[i], s.Dataspaces[i])
			}
		}
	})
}
