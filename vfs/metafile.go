package vfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// Metadata files (manifests, snapshot.json, options) are small JSON
// documents wrapped in a checksummed envelope. One file is one line:
//
//	{"holdfast_meta":1,"kind":"<kind>","length":<N>,"crc32c":"<8 hex>","body":<BODY>}\n
//
//   - holdfast_meta is the envelope version, 1.
//   - kind names what the body is ("manifest", "snapshot", ...): 1 to
//     MaxMetaKindBytes bytes of [a-z0-9._-], so it needs no JSON escaping.
//   - length is N, the size of BODY in bytes, in decimal without leading
//     zeros, at most MaxMetaBodyBytes.
//   - crc32c is CRC-32C (Castagnoli) of the N bytes of BODY, as exactly 8
//     lowercase hex digits.
//   - BODY is a JSON value written verbatim, exactly as encoding/json's
//     Marshal produces it (compact, HTML characters escaped), so that
//     decoding and encoding again gives the same bytes.
//
// The whole file is valid JSON, so jq can read it. The decoder does not
// use a JSON parser to find the body: it matches the header byte by byte,
// which tells a file that stops early (truncated: every byte present is
// right, some are missing) from one with wrong bytes (corrupt). A file
// whose size reached the device before its data did reads back with NUL
// bytes in place of the data; JSON text never contains a NUL, so any NUL
// makes the file corrupt.

// Limits of the metadata envelope.
const (
	MetaVersion      = 1
	MaxMetaKindBytes = 64
	MaxMetaBodyBytes = 64 << 20
)

// Errors from DecodeMeta and ReadMetaFile. Each is returned wrapped with
// the file name, the byte offset where the problem was found, and a hint.
var (
	// ErrMetaEmpty: the file has zero length, which is what an un-synced
	// write leaves after a crash or volume snapshot (seed 000).
	ErrMetaEmpty = errors.New("vfs: metadata file is empty")
	// ErrMetaTruncated: every byte present is right but the file ends
	// before the envelope and body are complete.
	ErrMetaTruncated = errors.New("vfs: metadata file is truncated")
	// ErrMetaCorrupt: bad envelope, wrong version, checksum mismatch, NUL
	// bytes, or bytes after the end of the envelope.
	ErrMetaCorrupt = errors.New("vfs: metadata file is corrupt")
	// ErrMetaKind: the file is intact but holds a different kind.
	ErrMetaKind = errors.New("vfs: metadata file has the wrong kind")
)

const metaHint = "restore it from a snapshot or run holdfast check"

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// EncodeMeta returns the envelope for body (marshalled with encoding/json)
// under kind, newline included.
func EncodeMeta(kind string, body any) ([]byte, error) {
	if err := checkMetaKind(kind); err != nil {
		return nil, err
	}
	bodyBytes, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("vfs: encode %s metadata: %w", kind, err)
	}
	if len(bodyBytes) > MaxMetaBodyBytes {
		return nil, fmt.Errorf("vfs: encode %s metadata: body is %d bytes, limit MaxMetaBodyBytes is %d",
			kind, len(bodyBytes), MaxMetaBodyBytes)
	}
	var b bytes.Buffer
	b.Grow(len(bodyBytes) + 96)
	fmt.Fprintf(&b, `{"holdfast_meta":%d,"kind":"%s","length":%d,"crc32c":"%08x","body":`,
		MetaVersion, kind, len(bodyBytes), crc32.Checksum(bodyBytes, crc32cTable))
	b.Write(bodyBytes)
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func checkMetaKind(kind string) error {
	if len(kind) == 0 || len(kind) > MaxMetaKindBytes {
		return fmt.Errorf("vfs: metadata kind %q: length must be 1 to %d bytes", kind, MaxMetaKindBytes)
	}
	for i := 0; i < len(kind); i++ {
		if !isMetaKindByte(kind[i]) {
			return fmt.Errorf("vfs: metadata kind %q: byte %d is not one of [a-z0-9._-]", kind, i)
		}
	}
	return nil
}

func isMetaKindByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// WriteMetaFile encodes body under kind and writes it to name with
// WriteFileAtomic (temp file, fsync, rename, directory fsync). See
// WriteFileAtomic for what an error after the rename means.
func WriteMetaFile(fsys FS, name, kind string, body any) error {
	data, err := EncodeMeta(kind, body)
	if err != nil {
		return fmt.Errorf("vfs: write metadata file %s: %w", name, err)
	}
	return WriteFileAtomic(fsys, name, data, 0o644)
}

// ReadMetaFile reads name and decodes it as DecodeMeta does. Errors from
// reading the file (fs.ErrNotExist and so on) are returned wrapped.
func ReadMetaFile(fsys FS, name, kind string, body any) error {
	data, err := ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("vfs: read metadata file: %w", err)
	}
	return decodeMeta(name, data, kind, body)
}

// DecodeMeta checks the envelope in data, that it holds kind, and then
// unmarshals the body into body with encoding/json (body may be nil to
// only check). Integrity problems are reported as ErrMetaEmpty,
// ErrMetaTruncated or ErrMetaCorrupt, then a kind mismatch as ErrMetaKind.
// A body that is intact but does not fit body's type is returned as the
// encoding/json error, wrapped: that is a version skew, not damage.
func DecodeMeta(data []byte, kind string, body any) error {
	return decodeMeta("", data, kind, body)
}

func decodeMeta(name string, data []byte, kind string, body any) error {
	where := ""
	if name != "" {
		where = name + ": "
	}
	gotKind, bodyBytes, err := parseMeta(data)
	if err != nil {
		var pe *metaParseError
		if errors.As(err, &pe) && pe.kind == ErrMetaEmpty {
			return fmt.Errorf("%w: %szero length; %s", pe.kind, where, pe.hint())
		}
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: %s%s at byte %d of %d; %s",
				pe.kind, where, pe.detail, pe.offset, len(data), pe.hint())
		}
		return err
	}
	if gotKind != kind {
		return fmt.Errorf("%w: %sholds kind %q, expected %q; check that the path is right",
			ErrMetaKind, where, gotKind, kind)
	}
	if body == nil {
		return nil
	}
	if err := json.Unmarshal(bodyBytes, body); err != nil {
		return fmt.Errorf("vfs: metadata file %s(kind %q, intact) does not decode into %T: %w",
			where, kind, body, err)
	}
	return nil
}

// metaParseError is an integrity problem found by parseMeta.
type metaParseError struct {
	kind   error // ErrMetaEmpty, ErrMetaTruncated or ErrMetaCorrupt
	offset int
	detail string
}

func (e *metaParseError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d", e.kind, e.detail, e.offset)
}

func (e *metaParseError) Unwrap() error { return e.kind }

func (e *metaParseError) hint() string {
	switch e.kind {
	case ErrMetaEmpty:
		return "its data never reached the device (written without fsync before a crash or volume snapshot); " + metaHint
	case ErrMetaTruncated:
		return "the write was interrupted; " + metaHint
	}
	return metaHint
}

// metaParser matches the envelope grammar byte by byte.
type metaParser struct {
	data []byte
	pos  int
}

func (p *metaParser) truncated(detail string) error {
	return &metaParseError{kind: ErrMetaTruncated, offset: len(p.data), detail: "file ends " + detail}
}

func (p *metaParser) corrupt(detail string) error {
	return &metaParseError{kind: ErrMetaCorrupt, offset: p.pos, detail: detail}
}

// literal consumes lit: truncated if the data ends while every byte
// present matches, corrupt at the first byte that differs.
func (p *metaParser) literal(lit, where string) error {
	for i := 0; i < len(lit); i++ {
		if p.pos >= len(p.data) {
			return p.truncated("in " + where)
		}
		if p.data[p.pos] != lit[i] {
			return p.corrupt(fmt.Sprintf("expected %q in %s, found %q", lit[i], where, p.data[p.pos]))
		}
		p.pos++
	}
	return nil
}

// number consumes a decimal number of at most maxDigits digits with no
// leading zeros. It must be followed by a non-digit.
func (p *metaParser) number(where string, maxDigits int) (int, error) {
	start := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		if p.pos-start == maxDigits {
			return 0, p.corrupt(where + " has too many digits")
		}
		p.pos++
	}
	if p.pos >= len(p.data) {
		return 0, p.truncated("in " + where)
	}
	if p.pos == start {
		return 0, p.corrupt(fmt.Sprintf("expected a digit in %s, found %q", where, p.data[p.pos]))
	}
	if p.data[start] == '0' && p.pos-start > 1 {
		p.pos = start
		return 0, p.corrupt(where + " has a leading zero")
	}
	n, err := strconv.Atoi(string(p.data[start:p.pos]))
	if err != nil {
		return 0, p.corrupt(where + " is not a number")
	}
	return n, nil
}

// parseMeta checks data against the envelope grammar and checksum and
// returns the kind and the body bytes (a sub-slice of data).
func parseMeta(data []byte) (kind string, body []byte, err error) {
	if len(data) == 0 {
		return "", nil, &metaParseError{kind: ErrMetaEmpty, detail: "file has zero length"}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		// JSON never contains a raw NUL. This is the signature of a
		// file whose size was persisted while its data was not.
		return "", nil, &metaParseError{kind: ErrMetaCorrupt, offset: i,
			detail: fmt.Sprintf("NUL byte where data should be (%d NUL bytes in all; "+
				"the size reached the device but the data did not)", bytes.Count(data, []byte{0}))}
	}
	p := &metaParser{data: data}
	if err := p.literal(`{"holdfast_meta":`, "envelope header"); err != nil {
		return "", nil, err
	}
	versionPos := p.pos
	version, err := p.number("envelope version", 4)
	if err != nil {
		return "", nil, err
	}
	if version != MetaVersion {
		p.pos = versionPos
		return "", nil, p.corrupt(fmt.Sprintf("unsupported envelope version %d (this build reads %d)", version, MetaVersion))
	}
	if err := p.literal(`,"kind":"`, "envelope header"); err != nil {
		return "", nil, err
	}
	kindStart := p.pos
	for {
		if p.pos >= len(data) {
			return "", nil, p.truncated("in kind")
		}
		c := data[p.pos]
		if c == '"' {
			break
		}
		if !isMetaKindByte(c) {
			return "", nil, p.corrupt(fmt.Sprintf("byte %q is not allowed in kind", c))
		}
		if p.pos-kindStart == MaxMetaKindBytes {
			return "", nil, p.corrupt("kind is longer than MaxMetaKindBytes")
		}
		p.pos++
	}
	if p.pos == kindStart {
		return "", nil, p.corrupt("kind is empty")
	}
	kind = string(data[kindStart:p.pos])
	if err := p.literal(`","length":`, "envelope header"); err != nil {
		return "", nil, err
	}
	lengthPos := p.pos
	length, err := p.number("body length", len(strconv.Itoa(MaxMetaBodyBytes)))
	if err != nil {
		return "", nil, err
	}
	if length > MaxMetaBodyBytes {
		p.pos = lengthPos
		return "", nil, p.corrupt(fmt.Sprintf("body length %d exceeds MaxMetaBodyBytes %d", length, MaxMetaBodyBytes))
	}
	if err := p.literal(`,"crc32c":"`, "envelope header"); err != nil {
		return "", nil, err
	}
	crcPos := p.pos
	var want uint32
	for i := 0; i < 8; i++ {
		if p.pos >= len(data) {
			return "", nil, p.truncated("in checksum")
		}
		c := data[p.pos]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return "", nil, p.corrupt(fmt.Sprintf("byte %q in checksum is not a lowercase hex digit", c))
		}
		want = want<<4 | uint32(v)
		p.pos++
	}
	if err := p.literal(`","body":`, "envelope header"); err != nil {
		return "", nil, err
	}
	bodyStart := p.pos
	if present := len(data) - bodyStart; present < length {
		return "", nil, p.truncated(fmt.Sprintf("inside the body: declared length %d, %d bytes present", length, present))
	}
	body = data[bodyStart : bodyStart+length]
	if got := crc32.Checksum(body, crc32cTable); got != want {
		p.pos = crcPos
		return "", nil, p.corrupt(fmt.Sprintf("checksum mismatch: body of %d bytes at byte %d has crc32c %08x, envelope says %08x",
			length, bodyStart, got, want))
	}
	p.pos = bodyStart + length
	if err := p.literal("}\n", "envelope trailer"); err != nil {
		return "", nil, err
	}
	if p.pos != len(data) {
		return "", nil, p.corrupt(fmt.Sprintf("%d bytes of trailing garbage after the envelope", len(data)-p.pos))
	}
	// The checksum matched, so these only fail for a file crafted with a
	// valid checksum over a bad body; rejecting it keeps the format
	// canonical (decode then encode gives the same bytes).
	canonical, err := json.Marshal(json.RawMessage(body))
	if err != nil {
		p.pos = bodyStart
		return "", nil, p.corrupt("body is not valid JSON")
	}
	if !bytes.Equal(canonical, body) {
		p.pos = bodyStart
		return "", nil, p.corrupt("body is not in the canonical compact form")
	}
	return kind, body, nil
}
