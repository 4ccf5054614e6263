// Package snapshot is holdfast's logical snapshot format: a self-verifying
// stream of one or more dataspaces' keys and values, written by
// `holdfast snapshot save` (GET /v1/snapshot) and read by `snapshot status`
// and `snapshot restore`. The format is specified in docs/format.md,
// "Logical snapshot"; in short:
//
//	magic "HFSNAP01" (8 bytes)
//	frames: type (1 byte), body length (u32 little endian), body
//	  'H' header     JSON {"format_version":1,"created":...,"holdfast_version":...}
//	  'D' dataspace  JSON {"name":...,"sync":...,"last_seq":N}
//	  'K' key/value  u32 key length, key, value (the rest of the body)
//	  'E' end        JSON {"keys":N,"bytes":N,"content_hash":"sha256:..."}
//	  'T' trailer    32 bytes: SHA-256 of every byte of the stream before
//	                 this frame (magic included)
//
// One header first, then for each dataspace a 'D', its keys in strictly
// ascending order, and an 'E' whose counts and content hash (Hasher) must
// match the keys; then one 'T' and the end of the stream. A stream that
// stops early has no trailer and is rejected, as is any byte that differs
// (the trailer hash), so a restore can verify the whole file before it
// writes anything.
package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Format constants and limits.
const (
	Magic         = "HFSNAP01"
	FormatVersion = 1
	// MaxKeyBytes and MaxValueBytes bound a key/value frame; they match
	// the engine's format limits (u16 key length, 64 MiB batches).
	MaxKeyBytes   = 1<<16 - 1
	MaxValueBytes = 64 << 20
	// MaxMetaFrameBytes bounds the JSON frames.
	MaxMetaFrameBytes = 1 << 20
	frameHeadBytes    = 5
)

// Frame types.
const (
	frameHeader    = 'H'
	frameDataspace = 'D'
	frameKV        = 'K'
	frameEnd       = 'E'
	frameTrailer   = 'T'
)

// ErrInvalid: the stream is not a valid snapshot (damaged, truncated, or
// not a snapshot at all). Errors wrap it with the byte offset.
var ErrInvalid = errors.New("snapshot: invalid")

// Header is the stream's first frame.
type Header struct {
	FormatVersion   int       `json:"format_version"`
	Created         time.Time `json:"created"`
	HoldfastVersion string    `json:"holdfast_version"`
}

// Dataspace opens a dataspace's section.
type Dataspace struct {
	Name    string `json:"name"`
	Sync    string `json:"sync"`
	LastSeq uint64 `json:"last_seq"`
}

// End closes a dataspace's section with what it held.
type End struct {
	Keys        int    `json:"keys"`
	Bytes       int64  `json:"bytes"`
	ContentHash string `json:"content_hash"`
}

// Writer writes a snapshot stream.
type Writer struct {
	w      *bufio.Writer
	h      hash.Hash
	hasher *Hasher
	inDS   bool
	prev   []byte
	first  bool
	done   bool
	err    error
}

// NewWriter writes the magic and the header to w.
func NewWriter(w io.Writer, hdr Header) (*Writer, error) {
	sw := &Writer{w: bufio.NewWriterSize(w, 64<<10), h: sha256.New()}
	hdr.FormatVersion = FormatVersion
	sw.write([]byte(Magic))
	sw.frameJSON(frameHeader, hdr)
	return sw, sw.err
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	w.h.Write(b)
	_, w.err = w.w.Write(b)
}

func (w *Writer) frame(typ byte, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var head [frameHeadBytes]byte
	head[0] = typ
	binary.LittleEndian.PutUint32(head[1:], uint32(n))
	w.write(head[:])
	for _, p := range parts {
		w.write(p)
	}
}

func (w *Writer) frameJSON(typ byte, v any) {
	b, err := json.Marshal(v)
	if err != nil && w.err == nil {
		w.err = err
	}
	w.frame(typ, b)
}

// BeginDataspace starts a dataspace's section.
func (w *Writer) BeginDataspace(d Dataspace) error {
	if w.inDS || w.done {
		return errors.New("snapshot: BeginDataspace inside a dataspace or after Close")
	}
	w.inDS, w.first, w.prev, w.hasher = true, true, w.prev[:0], NewHasher()
	w.frameJSON(frameDataspace, d)
	return w.err
}

// Put adds a key and its value; keys must be strictly ascending.
func (w *Writer) Put(key, value []byte) error {
	if !w.inDS {
		return errors.New("snapshot: Put outside a dataspace")
	}
	if len(key) == 0 || len(key) > MaxKeyBytes || len(value) > MaxValueBytes {
		return fmt.Errorf("snapshot: key of %d bytes or value of %d bytes out of bounds", len(key), len(value))
	}
	if !w.first && bytes.Compare(key, w.prev) <= 0 {
		return fmt.Errorf("snapshot: key %q not after %q", key, w.prev)
	}
	w.first, w.prev = false, append(w.prev[:0], key...)
	var kl [4]byte
	binary.LittleEndian.PutUint32(kl[:], uint32(len(key)))
	w.frame(frameKV, kl[:], key, value)
	w.hasher.Add(key, value)
	return w.err
}

// EndDataspace closes the section and returns what it held.
func (w *Writer) EndDataspace() (End, error) {
	if !w.inDS {
		return End{}, errors.New("snapshot: EndDataspace outside a dataspace")
	}
	w.inDS = false
	e := End{Keys: w.hasher.Keys(), Bytes: w.hasher.Bytes(), ContentHash: w.hasher.Sum()}
	w.frameJSON(frameEnd, e)
	return e, w.err
}

// Close writes the trailer and flushes; it returns the stream's hash.
func (w *Writer) Close() ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if w.inDS {
		return sum, errors.New("snapshot: Close inside a dataspace")
	}
	if w.done {
		return sum, errors.New("snapshot: closed twice")
	}
	w.done = true
	copy(sum[:], w.h.Sum(nil))
	w.frame(frameTrailer, sum[:])
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return sum, w.err
}

// Reader decodes a snapshot stream, verifying it as it goes.
type Reader struct {
	r      *bufio.Reader
	h      hash.Hash
	off    int64
	hdr    Header
	hasher *Hasher
	cur    *Dataspace
	prev   []byte
	first  bool
	// SkipHashCheck: a trailer or section hash that does not match is
	// not an error (holdfast snapshot restore --skip-hash-check). The
	// structure is still checked.
	SkipHashCheck bool
	// Mismatches lists the hash mismatches skipped.
	Mismatches []string
	sum        [sha256.Size]byte
	done       bool
	buf        []byte
}

// NewReader reads the magic and header.
func NewReader(r io.Reader) (*Reader, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 64<<10), h: sha256.New()}
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(sr.r, magic); err != nil {
		return nil, sr.invalid("reading the magic: %v", eofToTrunc(err))
	}
	if string(magic) != Magic {
		return nil, sr.invalid("magic %q, want %q: not a holdfast snapshot", magic, Magic)
	}
	sr.h.Write(magic)
	sr.off = int64(len(Magic))
	typ, body, err := sr.readFrame()
	if err != nil {
		return nil, err
	}
	if typ != frameHeader {
		return nil, sr.invalid("first frame is %q, want a header", typ)
	}
	if err := decodeJSON(body, &sr.hdr); err != nil {
		return nil, sr.invalid("header: %v", err)
	}
	if sr.hdr.FormatVersion != FormatVersion {
		return nil, sr.invalid("format version %d, this build reads %d", sr.hdr.FormatVersion, FormatVersion)
	}
	return sr, nil
}

// Header returns the stream's header.
func (r *Reader) Header() Header { return r.hdr }

// Offset is how many bytes have been read.
func (r *Reader) Offset() int64 { return r.off }

// Sum is the verified stream hash, valid once Next returned io.EOF.
func (r *Reader) Sum() [sha256.Size]byte { return r.sum }

func (r *Reader) invalid(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrInvalid, r.off, fmt.Sprintf(format, args...))
}

func eofToTrunc(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the stream ends early (truncated)")
	}
	return err
}

// readFrame reads one frame (not hashing the trailer's own bytes).
func (r *Reader) readFrame() (byte, []byte, error) {
	var head [frameHeadBytes]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return 0, nil, r.invalid("frame head: %v", eofToTrunc(err))
	}
	typ := head[0]
	n := int64(binary.LittleEndian.Uint32(head[1:]))
	limit := int64(MaxMetaFrameBytes)
	switch typ {
	case frameKV:
		limit = 4 + MaxKeyBytes + MaxValueBytes
	case frameTrailer:
		limit = sha256.Size
	case frameHeader, frameDataspace, frameEnd:
	default:
		return 0, nil, r.invalid("unknown frame type %q", typ)
	}
	if n > limit {
		return 0, nil, r.invalid("frame %q of %d bytes exceeds its limit %d", typ, n, limit)
	}
	if typ != frameTrailer {
		r.h.Write(head[:])
	}
	// readN grows the buffer as the bytes arrive, so a forged length
	// cannot make the reader allocate much more than the stream holds.
	body, err := readN(r.r, r.buf[:0], n)
	r.buf = body
	if err != nil {
		return 0, nil, r.invalid("frame %q body: %v", typ, eofToTrunc(err))
	}
	if typ != frameTrailer {
		r.h.Write(body)
	}
	r.off += frameHeadBytes + n
	return typ, body, nil
}

// readN reads exactly n bytes into dst, growing it by at most 1 MiB at a
// time.
func readN(rd io.Reader, dst []byte, n int64) ([]byte, error) {
	for int64(len(dst)) < n {
		step := min(n-int64(len(dst)), 1<<20)
		start := len(dst)
		dst = append(dst, make([]byte, step)...)
		if _, err := io.ReadFull(rd, dst[start:]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Event is one step of the stream.
type Event struct {
	// Dataspace is set at the start of a section.
	Dataspace *Dataspace
	// Key and Value for a key/value (valid until the next call).
	Key, Value []byte
	// End is set at the end of a section, verified against its keys.
	End *End
}

// Next returns the next event, or io.EOF after a verified trailer. Any
// other error wraps ErrInvalid (or a read error).
func (r *Reader) Next() (Event, error) {
	if r.done {
		return Event{}, io.EOF
	}
	typ, body, err := r.readFrame()
	if err != nil {
		return Event{}, err
	}
	switch typ {
	case frameDataspace:
		if r.cur != nil {
			return Event{}, r.invalid("dataspace %q begins inside dataspace %q", body, r.cur.Name)
		}
		var d Dataspace
		if err := decodeJSON(body, &d); err != nil || d.Name == "" {
			return Event{}, r.invalid("dataspace frame: %v (name %q)", err, d.Name)
		}
		r.cur, r.hasher, r.first = &d, NewHasher(), true
		return Event{Dataspace: &d}, nil
	case frameKV:
		if r.cur == nil {
			return Event{}, r.invalid("key/value outside a dataspace")
		}
		if len(body) < 4 {
			return Event{}, r.invalid("key/value frame of %d bytes", len(body))
		}
		kl := int(binary.LittleEndian.Uint32(body))
		if kl == 0 || kl > MaxKeyBytes || kl > len(body)-4 || len(body)-4-kl > MaxValueBytes {
			return Event{}, r.invalid("key length %d in a frame of %d bytes", kl, len(body))
		}
		key, value := body[4:4+kl], body[4+kl:]
		if !r.first && bytes.Compare(key, r.prev) <= 0 {
			return Event{}, r.invalid("key %q does not follow %q in order", key, r.prev)
		}
		r.first, r.prev = false, append(r.prev[:0], key...)
		r.hasher.Add(key, value)
		return Event{Key: key, Value: value}, nil
	case frameEnd:
		if r.cur == nil {
			return Event{}, r.invalid("end frame outside a dataspace")
		}
		var e End
		if err := decodeJSON(body, &e); err != nil {
			return Event{}, r.invalid("end frame: %v", err)
		}
		if e.Keys != r.hasher.Keys() || e.Bytes != r.hasher.Bytes() || e.ContentHash != r.hasher.Sum() {
			msg := fmt.Sprintf("dataspace %q holds %d keys, %d bytes, %s; its end frame says %d keys, %d bytes, %s",
				r.cur.Name, r.hasher.Keys(), r.hasher.Bytes(), r.hasher.Sum(), e.Keys, e.Bytes, e.ContentHash)
			if !r.SkipHashCheck {
				return Event{}, r.invalid("%s", msg)
			}
			r.Mismatches = append(r.Mismatches, msg)
		}
		r.cur = nil
		return Event{End: &e}, nil
	case frameTrailer:
		if r.cur != nil {
			return Event{}, r.invalid("trailer inside dataspace %q", r.cur.Name)
		}
		copy(r.sum[:], r.h.Sum(nil))
		if !bytes.Equal(body, r.sum[:]) {
			msg := fmt.Sprintf("stream hash %x, trailer says %x: the file differs from what was saved", r.sum, body)
			if !r.SkipHashCheck {
				return Event{}, r.invalid("%s", msg)
			}
			r.Mismatches = append(r.Mismatches, msg)
		}
		var extra [1]byte
		if n, _ := r.r.Read(extra[:]); n > 0 {
			return Event{}, r.invalid("data after the trailer")
		}
		r.done = true
		return Event{}, io.EOF
	}
	return Event{}, r.invalid("unexpected %q frame", typ)
}

// Summary is what Verify found in a stream.
type Summary struct {
	Header     Header           `json:"header"`
	Dataspaces []DataspaceStats `json:"dataspaces"`
	SizeBytes  int64            `json:"size_bytes"`
	Hash       string           `json:"sha256"`
	Mismatches []string         `json:"mismatches,omitempty"`
}

// DataspaceStats describes one section.
type DataspaceStats struct {
	Dataspace
	End
}

// Verify reads a whole stream and returns its summary; any damage is an
// error wrapping ErrInvalid.
func Verify(r io.Reader, skipHashCheck bool) (Summary, error) {
	sr, err := NewReader(r)
	if err != nil {
		return Summary{}, err
	}
	sr.SkipHashCheck = skipHashCheck
	s := Summary{Header: sr.Header(), Dataspaces: []DataspaceStats{}}
	for {
		ev, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
		switch {
		case ev.Dataspace != nil:
			s.Dataspaces = append(s.Dataspaces, DataspaceStats{Dataspace: *ev.Dataspace})
		case ev.End != nil:
			s.Dataspaces[len(s.Dataspaces)-1].End = *ev.End
		}
	}
	sum := sr.Sum()
	s.SizeBytes = sr.Offset()
	s.Hash = fmt.Sprintf("%x", sum)
	s.Mismatches = sr.Mismatches
	return s, nil
}
