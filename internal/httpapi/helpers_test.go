package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// harness is an engine on faultfs behind the handler.
type harness struct {
	t    *testing.T
	fsys *faultfs.FS
	db   *holdfast.DB
	h    http.Handler
	cfg  Config
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t *testing.T, cfg Config, opts holdfast.Options) *harness {
	t.Helper()
	fsys := faultfs.New(faultfs.Options{})
	opts.FS = fsys
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	db, err := holdfast.Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	return &harness{t: t, fsys: fsys, db: db, h: New(db, cfg), cfg: cfg}
}

// withDataspace creates dataspace "d" through the API.
func (h *harness) withDataspace() *harness {
	h.t.Helper()
	rec := h.do("POST", "/v1/dataspaces", `{"name":"d"}`)
	h.status(rec, http.StatusCreated)
	return h
}

// do sends a request; headers come in name, value pairs.
func (h *harness) do(method, target, body string, headers ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if h.cfg.Token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

func (h *harness) status(rec *httptest.ResponseRecorder, want int) {
	h.t.Helper()
	if rec.Code != want {
		h.t.Fatalf("status %d, want %d; body %s", rec.Code, want, rec.Body.String())
	}
}

// wantError checks an error response's status, content type and code.
func (h *harness) wantError(rec *httptest.ResponseRecorder, status int, code string) errorDetail {
	h.t.Helper()
	if rec.Code != status {
		h.t.Fatalf("status %d, want %d (%s); body %s", rec.Code, status, code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		h.t.Fatalf("error Content-Type %q, want application/json; body %s", ct, rec.Body.String())
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		h.t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		h.t.Fatalf("error %+v, want code %q with a message", body.Error, code)
	}
	return body.Error
}

// decode unmarshals a JSON success body.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return v
}

func std64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
