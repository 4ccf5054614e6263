package vfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type testManifest struct {
	Dataspaces []string          `json:"dataspaces"`
	Sequence   uint64            `json:"sequence"`
	Labels     map[string]string `json:"labels,omitempty"`
}

var sampleManifest = testManifest{
	Dataspaces: []string{"default", "orders"},
	Sequence:   42,
	Labels:     map[string]string{"note": "a <b> & c"},
}

func mustEncode(t testing.TB, kind string, body any) []byte {
	t.Helper()
	data, err := EncodeMeta(kind, body)
	if err != nil {
		t.Fatalf("EncodeMeta: %v", err)
	}
	return data
}

// TestEncodeMetaGolden pins the format byte for byte, so a change to the
// encoder cannot silently change what is on disk. The checksum was computed
// independently (a bitwise CRC-32C in Python, which gives e3069283 for
// "123456789", the standard check value).
func TestEncodeMetaGolden(t *testing.T) {
	got := mustEncode(t, "manifest", map[string]int{"a": 1})
	want := `{"holdfast_meta":1,"kind":"manifest","length":7,"crc32c":"cff7d56a","body":{"a":1}}` + "\n"
	if string(got) != want {
		t.Fatalf("EncodeMeta:\n got %q\nwant %q", got, want)
	}
	var v struct {
		HoldfastMeta int             `json:"holdfast_meta"`
		Kind         string          `json:"kind"`
		Length       int             `json:"length"`
		CRC32C       string          `json:"crc32c"`
		Body         json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("envelope is not valid JSON: %v", err)
	}
	if v.HoldfastMeta != 1 || v.Kind != "manifest" || v.Length != len(v.Body) {
		t.Fatalf("envelope fields: %+v", v)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	data := mustEncode(t, "manifest", sampleManifest)
	var got testManifest
	if err := DecodeMeta(data, "manifest", &got); err != nil {
		t.Fatalf("DecodeMeta: %v", err)
	}
	if got.Sequence != 42 || len(got.Dataspaces) != 2 || got.Labels["note"] != "a <b> & c" {
		t.Fatalf("round trip: got %+v", got)
	}
	if err := DecodeMeta(data, "manifest", nil); err != nil {
		t.Fatalf("DecodeMeta with nil body: %v", err)
	}
}

func TestEncodeMetaRejectsBadKind(t *testing.T) {
	for _, kind := range []string{"", "Manifest", "a b", `a"b`, strings.Repeat("k", MaxMetaKindBytes+1)} {
		if _, err := EncodeMeta(kind, 1); err == nil {
			t.Errorf("EncodeMeta(%q) succeeded, want error", kind)
		}
	}
	if _, err := EncodeMeta(strings.Repeat("k", MaxMetaKindBytes), 1); err != nil {
		t.Errorf("EncodeMeta with a kind of MaxMetaKindBytes: %v", err)
	}
}

func TestDecodeMetaErrors(t *testing.T) {
	valid := mustEncode(t, "snapshot", sampleManifest)
	replace := func(old, new string) []byte {
		if !bytes.Contains(valid, []byte(old)) {
			t.Fatalf("sample does not contain %q", old)
		}
		return bytes.Replace(valid, []byte(old), []byte(new), 1)
	}
	withLength := func(n string) []byte {
		return regexp.MustCompile(`"length":[0-9]+`).ReplaceAll(valid, []byte(`"length":`+n))
	}
	withCRC := func(crc string) []byte {
		return regexp.MustCompile(`"crc32c":"[0-9a-f]{8}"`).ReplaceAll(valid, []byte(`"crc32c":"`+crc+`"`))
	}
	nulTail := append([]byte(nil), valid...)
	for i := len(nulTail) / 2; i < len(nulTail); i++ {
		nulTail[i] = 0
	}
	cases := []struct {
		name string
		data []byte
		kind string
		want error
	}{
		{"empty", nil, "snapshot", ErrMetaEmpty},
		{"all NUL (size persisted, data not)", make([]byte, len(valid)), "snapshot", ErrMetaCorrupt},
		{"NUL tail", nulTail, "snapshot", ErrMetaCorrupt},
		{"NUL appended", append(append([]byte(nil), valid...), 0, 0, 0, 0), "snapshot", ErrMetaCorrupt},
		{"kind mismatch", valid, "manifest", ErrMetaKind},
		{"wrong version", replace(`"holdfast_meta":1`, `"holdfast_meta":2`), "snapshot", ErrMetaCorrupt},
		{"leading zero version", replace(`"holdfast_meta":1`, `"holdfast_meta":01`), "snapshot", ErrMetaCorrupt},
		{"envelope keys in upper case", bytes.ToUpper(valid), "SNAPSHOT", ErrMetaCorrupt},
		{"checksum mismatch", withCRC(crcNot(valid)), "snapshot", ErrMetaCorrupt},
		{"checksum not hex", withCRC("zzzzzzzz"), "snapshot", ErrMetaCorrupt},
		{"trailing garbage", append(append([]byte(nil), valid...), "x"...), "snapshot", ErrMetaCorrupt},
		{"second newline", append(append([]byte(nil), valid...), '\n'), "snapshot", ErrMetaCorrupt},
		{"no newline", valid[:len(valid)-1], "snapshot", ErrMetaTruncated},
		{"declared length over MaxMetaBodyBytes", withLength("67108865"), "snapshot", ErrMetaCorrupt},
		{"declared length with too many digits", withLength("1000000000000"), "snapshot", ErrMetaCorrupt},
		{"declared length with leading zero", withLength("096"), "snapshot", ErrMetaCorrupt},
		{"declared length beyond data", withLength("5000"), "snapshot", ErrMetaTruncated},
		{"declared length short of body", withLength("10"), "snapshot", ErrMetaCorrupt},
		{"not JSON", []byte("hello world\n"), "snapshot", ErrMetaCorrupt},
		{"plain JSON without envelope", []byte(`{"dataspaces":["default"]}` + "\n"), "snapshot", ErrMetaCorrupt},
		{"pretty-printed envelope", replace(`"kind":`, `"kind": `), "snapshot", ErrMetaCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got testManifest
			err := DecodeMeta(c.data, c.kind, &got)
			if !errors.Is(err, c.want) {
				t.Fatalf("DecodeMeta: err = %v, want %v", err, c.want)
			}
		})
	}
}

// A body with a valid checksum that is not in canonical form (here: with a
// space) is rejected, so that every accepted file re-encodes identically.
func TestDecodeMetaRejectsNonCanonicalBody(t *testing.T) {
	body := []byte(`{"a": 1}`)
	data := []byte(`{"holdfast_meta":1,"kind":"k","length":8,"crc32c":"` +
		crcHex(body) + `","body":` + string(body) + "}\n")
	if err := DecodeMeta(data, "k", nil); !errors.Is(err, ErrMetaCorrupt) {
		t.Fatalf("DecodeMeta: err = %v, want ErrMetaCorrupt", err)
	}
}

// crcNot returns a valid hex checksum different from the one in data.
func crcNot(data []byte) string {
	if bytes.Contains(data, []byte(`"crc32c":"00000000"`)) {
		return "00000001"
	}
	return "00000000"
}

func crcHex(b []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// Every proper prefix of a valid file is rejected as empty or truncated,
// never accepted and never mistaken for corruption.
func TestDecodeMetaEveryTruncation(t *testing.T) {
	valid := mustEncode(t, "manifest", sampleManifest)
	for n := 0; n < len(valid); n++ {
		err := DecodeMeta(valid[:n], "manifest", nil)
		want := ErrMetaTruncated
		if n == 0 {
			want = ErrMetaEmpty
		}
		if !errors.Is(err, want) {
			t.Fatalf("prefix of %d of %d bytes: err = %v, want %v", n, len(valid), err, want)
		}
	}
}

// Changing any single byte of a valid file, to any other value, is never
// accepted. (It may look truncated, for example when a length digit grows.)
func TestDecodeMetaEverySingleByteChange(t *testing.T) {
	valid := mustEncode(t, "manifest", sampleManifest)
	data := make([]byte, len(valid))
	for pos := range valid {
		for v := 0; v < 256; v++ {
			if byte(v) == valid[pos] {
				continue
			}
			copy(data, valid)
			data[pos] = byte(v)
			err := DecodeMeta(data, "manifest", nil)
			if err == nil {
				t.Fatalf("byte %d changed from %q to %q: accepted", pos, valid[pos], byte(v))
			}
			if !errors.Is(err, ErrMetaCorrupt) && !errors.Is(err, ErrMetaTruncated) && !errors.Is(err, ErrMetaKind) {
				t.Fatalf("byte %d changed from %q to %q: err = %v, want a metadata sentinel", pos, valid[pos], byte(v), err)
			}
		}
	}
}

// A body that is intact but of another shape is a plain decode error (a
// version skew), not corruption.
func TestDecodeMetaTypeMismatch(t *testing.T) {
	data := mustEncode(t, "manifest", []int{1, 2})
	var got testManifest
	err := DecodeMeta(data, "manifest", &got)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		t.Fatalf("err = %v, want *json.UnmarshalTypeError", err)
	}
	if errors.Is(err, ErrMetaCorrupt) {
		t.Fatalf("err = %v: a type mismatch must not be reported as corruption", err)
	}
}

func TestMetaFileErrorsNameTheFile(t *testing.T) {
	fsys := Default()
	dir := t.TempDir()
	name := filepath.Join(dir, "snapshot.json")
	if err := WriteFileUnsafe(fsys, name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := ReadMetaFile(fsys, name, "snapshot", nil)
	if !errors.Is(err, ErrMetaEmpty) {
		t.Fatalf("ReadMetaFile of empty file: err = %v, want ErrMetaEmpty", err)
	}
	for _, want := range []string{name, "holdfast check"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	err = ReadMetaFile(fsys, filepath.Join(dir, "missing.json"), "snapshot", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadMetaFile of missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestWriteReadMetaFile(t *testing.T) {
	fsys := Default()
	name := filepath.Join(t.TempDir(), "MANIFEST")
	if err := WriteMetaFile(fsys, name, "manifest", sampleManifest); err != nil {
		t.Fatalf("WriteMetaFile: %v", err)
	}
	var got testManifest
	if err := ReadMetaFile(fsys, name, "manifest", &got); err != nil {
		t.Fatalf("ReadMetaFile: %v", err)
	}
	if got.Sequence != sampleManifest.Sequence {
		t.Fatalf("ReadMetaFile: got %+v", got)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	valid, err := EncodeMeta("manifest", sampleManifest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, "manifest")
	f.Add(valid[:len(valid)/2], "manifest")
	f.Add([]byte{}, "manifest")
	f.Add(make([]byte, 64), "snapshot")
	small, _ := EncodeMeta("k", nil)
	f.Add(small, "k")
	f.Fuzz(func(t *testing.T, data []byte, kind string) {
		var body json.RawMessage
		err := DecodeMeta(data, kind, &body)
		if err != nil {
			if !errors.Is(err, ErrMetaEmpty) && !errors.Is(err, ErrMetaTruncated) &&
				!errors.Is(err, ErrMetaCorrupt) && !errors.Is(err, ErrMetaKind) {
				t.Fatalf("DecodeMeta: error %v matches no metadata sentinel", err)
			}
			return
		}
		again, err := EncodeMeta(kind, body)
		if err != nil {
			t.Fatalf("accepted file does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted file re-encodes differently:\n  in %q\n out %q", data, again)
		}
	})
}
