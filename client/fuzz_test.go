package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzAnswers serves arbitrary status codes, headers and bodies to every
// client method: the client must never panic, every error status must come
// back as an error, and every 4xx/5xx as an *Error (switchable on Code).
func FuzzAnswers(f *testing.F) {
	f.Add(200, "", []byte(`{"seq":3}`))
	f.Add(200, "7", []byte(`hello`))
	f.Add(404, "", []byte(`{"error":{"code":"not_found","message":"m"}}`))
	f.Add(503, "", []byte(`{"ready":false,"reasons":["recovering"]}`))
	f.Add(200, "", []byte(`{"items":[{"key_b64":"YQ==","value_b64":"!!","seq":1}],"next":"YQ=="}`))
	f.Add(500, "x", []byte("\x00\xff<html>"))
	f.Add(200, "", []byte(`{"dataspaces":[{"name":"a","stopped":"why"}]}`))
	f.Fuzz(func(t *testing.T, status int, seqHeader string, body []byte) {
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		// A header net/http cannot send is a transport fault, not an
		// answer to decode: keep the header printable.
		seqHeader = strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, seqHeader)
		var st atomic.Int64
		st.Store(int64(status))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if seqHeader != "" {
				w.Header()["X-Holdfast-Seq"] = []string{seqHeader}
			}
			w.WriteHeader(int(st.Load()))
			w.Write(body)
		}))
		defer srv.Close()
		c, err := New(srv.URL, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var e *Error
		check := func(what string, err error) {
			t.Helper()
			if status >= 300 && status != 304 && err == nil && what != "ready" {
				t.Errorf("%s: status %d answered without an error", what, status)
			}
			if err != nil && status >= 400 && !errors.As(err, &e) && what != "ready" {
				t.Errorf("%s: status %d gave %v, not an *Error", what, status, err)
			}
		}
		_, err = c.Get(ctx, "d", []byte("k"))
		check("get", err)
		_, err = c.Put(ctx, "d", []byte("k"), []byte("v"))
		check("put", err)
		_, _, err = c.Delete(ctx, "d", []byte("k"))
		check("delete", err)
		_, _, err = c.Incr(ctx, "d", []byte("k"), 1)
		check("incr", err)
		_, err = c.Scan(ctx, "d", ScanOptions{Prefix: []byte("p")})
		check("scan", err)
		_, err = c.Dataspaces(ctx)
		check("dataspaces", err)
		var b Batch
		b.Put([]byte("k"), nil)
		_, err = c.Apply(ctx, "d", &b)
		check("apply", err)
		_, err = c.Ready(ctx)
		check("ready", err)
	})
}
