package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Keys and values are arbitrary bytes. On the wire (docs/http-api.md,
// "Encoding"):
//
//   - A key in a path (/keys/{key}, /incr/{key}) is its bytes
//     percent-encoded (RFC 3986). The whole rest of the path after
//     /keys/ is the key, '/' included; the handler decodes it from the
//     escaped path with url.PathUnescape, so %2F, %25, %00 and %FF are
//     the bytes '/', '%', NUL and 0xff. EncodeKeyPath produces the
//     canonical form. Path cleaning by the router means literal "//",
//     "." and ".." segments are redirected, so '/' should be sent as %2F.
//   - Any key may instead be given as the query parameter key_b64 (with
//     an empty path key): base64 (RFC 4648) in the URL-safe or standard
//     alphabet, padding optional.
//   - In JSON, bytes are standard base64 with padding (the *_b64 fields).
//   - A value in a PUT body is the raw bytes; a GET returns them raw
//     unless the client asks for application/json.

// EncodeKeyPath returns the canonical path form of key: every byte
// outside the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~) as %XX, and
// the dots of the keys "." and ".." too, so that path cleaning never
// touches a key. DecodeKeyPath(EncodeKeyPath(k)) == k for every k.
func EncodeKeyPath(key []byte) string {
	const hex = "0123456789ABCDEF"
	dots := string(key) == "." || string(key) == ".."
	var b strings.Builder
	b.Grow(len(key))
	for _, c := range key {
		if isUnreserved(c) && !(dots && c == '.') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// DecodeKeyPath decodes the escaped path form of a key (what follows
// /keys/ in r.URL.EscapedPath()). It accepts any valid percent-encoding,
// not only EncodeKeyPath's: bytes that need no escaping may be sent as
// they are. '+' is a plus sign, not a space.
func DecodeKeyPath(escaped string) ([]byte, error) {
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, fmt.Errorf("key in path: %w", err)
	}
	return []byte(s), nil
}

// decodeB64Param decodes a *_b64 query parameter. The URL-safe and the
// standard alphabet are both accepted, with or without padding; a space
// is read as '+', since form decoding turns an unescaped '+' into one and
// base64 has no spaces.
func decodeB64Param(name, s string) ([]byte, error) {
	s = strings.TrimRight(strings.ReplaceAll(s, " ", "+"), "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, apiErrorf(codeBadRequest, "%s: %v", name, err)
	}
	return b, nil
}

// decodeB64Field decodes a *_b64 JSON field: standard base64 with
// padding, as encoding/json writes []byte.
func decodeB64Field(name, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, apiErrorf(codeBadRequest, "%s: %v (want standard base64 with padding)", name, err)
	}
	return b, nil
}

// b64 encodes bytes for a JSON *_b64 field.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// queryBytes returns the query parameter name (percent-decoded bytes) or
// name_b64 (base64); both at once is an error. ok is false when neither
// is present.
func queryBytes(q url.Values, name string) (b []byte, ok bool, err error) {
	_, plain := q[name]
	_, enc := q[name+"_b64"]
	switch {
	case plain && enc:
		return nil, false, apiErrorf(codeBadRequest, "give %s or %s_b64, not both", name, name)
	case plain:
		return []byte(q.Get(name)), true, nil
	case enc:
		b, err := decodeB64Param(name+"_b64", q.Get(name+"_b64"))
		return b, err == nil, err
	}
	return nil, false, nil
}

// requestKey returns the key of a /keys/{key...} or /incr/{key...}
// request: the escaped path after the fifth '/', percent-decoded, or the
// key_b64 query parameter when the path key is empty.
func requestKey(r *http.Request) ([]byte, error) {
	// "", "v1", "dataspaces", name, "keys" or "incr", key
	parts := strings.SplitN(r.URL.EscapedPath(), "/", 6)
	raw := ""
	if len(parts) == 6 {
		raw = parts[5]
	}
	q := r.URL.Query()
	if _, ok := q["key_b64"]; ok {
		if raw != "" {
			return nil, apiErrorf(codeBadRequest, "give the key in the path or as key_b64, not both")
		}
		return decodeB64Param("key_b64", q.Get("key_b64"))
	}
	key, err := DecodeKeyPath(raw)
	if err != nil {
		return nil, apiErrorf(codeBadRequest, "%v", err)
	}
	return key, nil
}

// decodeJSON reads one JSON value from the body into v, rejecting unknown
// fields and trailing data. An empty body is allowed only when
// emptyOK; then v is left as it is.
func decodeJSON(r *http.Request, v any, emptyOK bool) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			if emptyOK {
				return nil
			}
			return apiErrorf(codeBadRequest, "request body: empty, want a JSON object")
		}
		return apiErrorf(codeBadRequest, "request body: %v", err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return apiErrorf(codeBadRequest, "request body: data after the JSON object")
	}
	return nil
}
