package httpapi

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzKeyPath checks the key codec and the route it travels: decoding any
// path never panics; DecodeKeyPath(EncodeKeyPath(k)) == k; and a request
// for EncodeKeyPath(k), parsed as the server parses it and routed by the
// same patterns, yields exactly k with no redirect.
func FuzzKeyPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "%", "%2F", "\x00", "\xff", ".", "..", "a//b", "/x/", " +?#&=", "ключ", "%zz", "a%2", "~"} {
		f.Add([]byte(s))
	}
	var got []byte
	var gotErr error
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+patKey, func(w http.ResponseWriter, r *http.Request) { got, gotErr = requestKey(r) })

	f.Fuzz(func(t *testing.T, k []byte) {
		// Any input as an escaped path, decoded directly and through the
		// server's parser and router: no panic, and a decoded key encodes
		// back to a path that decodes to it again.
		if dec, err := DecodeKeyPath(string(k)); err == nil {
			if again, err := DecodeKeyPath(EncodeKeyPath(dec)); err != nil || !bytes.Equal(again, dec) {
				t.Fatalf("re-encoding %q: %q, %v", dec, again, err)
			}
		}
		if req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET /v1/dataspaces/d/keys/" + string(k) + " HTTP/1.1\r\nHost: x\r\n\r\n"))); err == nil {
			mux.ServeHTTP(httptest.NewRecorder(), req)
		}

		enc := EncodeKeyPath(k)
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; c != '%' && !isUnreserved(c) {
				t.Fatalf("EncodeKeyPath(%q) = %q has the unescaped byte %q", k, enc, c)
			}
		}
		dec, err := DecodeKeyPath(enc)
		if err != nil || !bytes.Equal(dec, k) {
			t.Fatalf("DecodeKeyPath(EncodeKeyPath(%q)) = %q, %v", k, dec, err)
		}
		if len(k) == 0 {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET /v1/dataspaces/d/keys/" + enc + " HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			t.Fatalf("server would reject the path for %q: %v", k, err)
		}
		got, gotErr = nil, nil
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("key %q (path %q): routed to status %d %v", k, enc, rec.Code, rec.Header())
		}
		if gotErr != nil || !bytes.Equal(got, k) {
			t.Fatalf("key %q (path %q): requestKey = %q, %v", k, enc, got, gotErr)
		}
	})
}
