package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
)

// newServer runs the real HTTP API over a real database in a temporary
// directory.
func newServer(t *testing.T, token string) *Client {
	t.Helper()
	db, err := holdfast.Open(t.TempDir(), holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateDataspace("default", holdfast.DataspaceOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(db, httpapi.Config{Token: token}))
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	c, err := New(srv.URL, Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeysRoundTrip(t *testing.T) {
	c := newServer(t, "")
	ctx := context.Background()
	// Keys that need encoding: slashes, dots, NUL, 0xff, percent, space.
	keys := [][]byte{[]byte("plain"), []byte("a/b//c"), []byte(".."), []byte("."), {0, 0xff, '%', ' ', '+'}, []byte("ü/ключ")}
	for i, k := range keys {
		val := []byte(fmt.Sprintf("value-%d\x00\n", i))
		seq, err := c.Put(ctx, "default", k, val)
		if err != nil || seq == 0 {
			t.Fatalf("Put(%q): seq %d, %v", k, seq, err)
		}
		got, err := c.Get(ctx, "default", k)
		if err != nil || !bytes.Equal(got.Data, val) || got.Seq != seq {
			t.Fatalf("Get(%q) = %q seq %d, %v; want %q seq %d", k, got.Data, got.Seq, err, val, seq)
		}
	}
	page, err := c.Scan(ctx, "default", ScanOptions{Limit: 2})
	if err != nil || len(page.Items) != 2 || page.Next == nil {
		t.Fatalf("Scan page 1: %+v, %v", page, err)
	}
	n := len(page.Items)
	for page.Next != nil {
		if page, err = c.Scan(ctx, "default", ScanOptions{Limit: 2, After: page.Next}); err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
	}
	if n != len(keys) {
		t.Fatalf("scan saw %d keys, want %d", n, len(keys))
	}
	page, err = c.Scan(ctx, "default", ScanOptions{Prefix: []byte("a/")})
	if err != nil || len(page.Items) != 1 || string(page.Items[0].Key) != "a/b//c" {
		t.Fatalf("prefix scan: %+v, %v", page, err)
	}

	existed, _, err := c.Delete(ctx, "default", []byte("plain"))
	if err != nil || !existed {
		t.Fatalf("Delete: %v %v", existed, err)
	}
	if _, err := c.Get(ctx, "default", []byte("plain")); !errors.Is(err, holdfast.ErrNotFound) {
		t.Fatalf("Get after delete: %v, want ErrNotFound", err)
	}
	v, _, err := c.Incr(ctx, "default", []byte("n"), 41)
	if err != nil || v != 41 {
		t.Fatalf("Incr: %d %v", v, err)
	}
	v, _, err = c.Incr(ctx, "default", []byte("n"), 1, WithRequestID("r1"))
	if err != nil || v != 42 {
		t.Fatalf("Incr: %d %v", v, err)
	}
	v, _, err = c.Incr(ctx, "default", []byte("n"), 1, WithRequestID("r1"))
	if err != nil || v != 42 {
		t.Fatalf("retried Incr with the same request id: %d %v, want 42 (applied once)", v, err)
	}
	var b Batch
	b.Put([]byte("x"), []byte("1"))
	b.Put([]byte("y"), nil)
	b.Delete([]byte("n"))
	if _, err := c.Apply(ctx, "default", &b); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "default", []byte("y")); err != nil || len(got.Data) != 0 {
		t.Fatalf("empty value from batch: %q %v", got.Data, err)
	}
}

// TestErrorsMatchEngine: every error answer matches the engine's sentinel
// for its code, and carries status, code and message.
func TestErrorsMatchEngine(t *testing.T) {
	c := newServer(t, "")
	ctx := context.Background()
	seq, err := c.Put(ctx, "default", []byte("k"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	c.Put(ctx, "default", []byte("text"), []byte("abc"))
	_, err1 := c.Get(ctx, "default", []byte("missing"))
	_, err2 := c.Get(ctx, "nope", []byte("k"))
	_, err3 := c.CreateDataspace(ctx, "default", "")
	_, err4 := c.CreateDataspace(ctx, "../x", "")
	_, err5 := c.Put(ctx, "default", []byte("k"), []byte("w"), IfVersion(seq+100))
	_, err6 := c.Put(ctx, "default", []byte("k"), []byte("w"), IfAbsent())
	_, _, err7 := c.Incr(ctx, "default", []byte("text"), 1)
	_, err8 := c.Put(ctx, "default", bytes.Repeat([]byte("k"), 5000), nil)
	_, err9 := c.CreateDataspace(ctx, "good", "sometimes")
	for _, tc := range []struct {
		err    error
		target error
		code   string
		status int
	}{
		{err1, holdfast.ErrNotFound, "not_found", 404},
		{err2, holdfast.ErrNoDataspace, "no_dataspace", 404},
		{err3, holdfast.ErrExists, "exists", 409},
		{err4, holdfast.ErrInvalidName, "invalid_name", 400},
		{err5, holdfast.ErrVersionMismatch, "version_mismatch", 412},
		{err6, holdfast.ErrVersionMismatch, "version_mismatch", 412},
		{err7, holdfast.ErrNotInteger, "not_integer", 409},
		{err8, holdfast.ErrKeyTooLarge, "key_too_large", 413},
		{err9, ErrBadRequest, "bad_request", 400},
	} {
		if !errors.Is(tc.err, tc.target) {
			t.Errorf("%v: does not match %v", tc.err, tc.target)
		}
		var e *Error
		if !errors.As(tc.err, &e) || e.Code != tc.code || e.Status != tc.status || e.Message == "" {
			t.Errorf("%v: want *Error with code %s status %d", tc.err, tc.code, tc.status)
		}
		if errors.Is(tc.err, holdfast.ErrOutcomeUnknown) {
			t.Errorf("%v matches ErrOutcomeUnknown", tc.err)
		}
	}
	if got, _ := c.Get(ctx, "default", []byte("k")); string(got.Data) != "v" {
		t.Errorf("a failed conditional put changed the value to %q", got.Data)
	}
}

func TestToken(t *testing.T) {
	c := newServer(t, "s3cret")
	ctx := context.Background()
	if _, err := c.Dataspaces(ctx); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	bad, _ := New(c.Addr(), Options{Token: "wrong"})
	if _, err := bad.Dataspaces(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong token: %v, want ErrUnauthorized", err)
	}
	// Probes need no token.
	if r, err := bad.Ready(ctx); err != nil || !r.Ready {
		t.Fatalf("Ready without a token: %+v %v", r, err)
	}
}

// TestTransportErrorOnWriteIsOutcomeUnknown: a connection that breaks
// after the request was sent leaves a write's outcome unknown; a failed
// dial does not.
func TestTransportErrorOnWriteIsOutcomeUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the request arrived; no answer
		}
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Options{})
	ctx := context.Background()
	_, err := c.Put(ctx, "default", []byte("k"), []byte("v"))
	if !errors.Is(err, holdfast.ErrOutcomeUnknown) {
		t.Fatalf("put over a broken connection: %v, want ErrOutcomeUnknown", err)
	}
	_, err = c.Get(ctx, "default", []byte("k"))
	if err == nil || errors.Is(err, holdfast.ErrOutcomeUnknown) {
		t.Fatalf("get over a broken connection: %v, want a plain transport error", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, _ = New(addr, Options{})
	_, err = c.Put(ctx, "default", []byte("k"), []byte("v"))
	if err == nil || errors.Is(err, holdfast.ErrOutcomeUnknown) {
		t.Fatalf("put to a closed port: %v, want a dial error that is not outcome-unknown", err)
	}
}

func TestNewRejectsBadAddresses(t *testing.T) {
	for _, a := range []string{"ftp://x:1", "http://", "http://h:1/path", "http://h:1?q=1", "::bad"} {
		if _, err := New(a, Options{}); err == nil {
			t.Errorf("New(%q) accepted", a)
		}
	}
	for _, a := range []string{"127.0.0.1:7070", "http://127.0.0.1:7070", "https://h:1/"} {
		if _, err := New(a, Options{}); err != nil {
			t.Errorf("New(%q): %v", a, err)
		}
	}
}

// TestEveryServerCodeHasASentinel: each error code the server can send
// maps to a sentinel, so errors.Is works for all of them; a code added to
// the server without one here fails this test.
func TestEveryServerCodeHasASentinel(t *testing.T) {
	for code := range httpapi.Codes() {
		if codeErrors[code] == nil {
			t.Errorf("server code %q has no sentinel in client.codeErrors", code)
		}
	}
	for code := range codeErrors {
		if _, ok := httpapi.Codes()[code]; !ok {
			t.Errorf("client maps %q, which the server never sends", code)
		}
	}
}

// TestRecovering: while the server opens its database, reads fail with
// ErrRecovering and Ready reports the reason without an error.
func TestRecovering(t *testing.T) {
	srv := httptest.NewServer(httpapi.Starting("recovering: opening the data directory"))
	defer srv.Close()
	c, _ := New(srv.URL, Options{})
	ctx := context.Background()
	if _, err := c.Get(ctx, "default", []byte("k")); !errors.Is(err, ErrRecovering) {
		t.Fatalf("Get while recovering: %v, want ErrRecovering", err)
	}
	r, err := c.Ready(ctx)
	if err != nil || r.Ready || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "recovering") {
		t.Fatalf("Ready while recovering: %+v, %v", r, err)
	}
}
