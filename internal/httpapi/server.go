// Package httpapi serves a holdfast database over HTTP/JSON: the /v1 data
// and admin API, the /livez and /readyz probes, and a hook for /metrics.
//
// The wire contract (endpoints, encodings, error codes and their statuses)
// is documented in docs/http-api.md; this package is its implementation.
// Handlers are thin: they decode the request, call one engine method, and
// encode its result or its error. Every decision about durability stays in
// the engine, so a response is sent only after the engine has answered
// (under sync=always, after the write is on stable storage).
//
// Wiring notes for the server (cmd/holdfast serve): header sizes are the
// http.Server's job (set MaxHeaderBytes, e.g. 64 KiB, and ReadHeaderTimeout);
// this handler bounds request bodies with Config.MaxRequestBytes.
package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast"
)

// DefaultMaxRequestBytes bounds a request body when Config.MaxRequestBytes
// is zero. A maximal batch (holdfast.DefaultMaxBatchSizeBytes, 64 MiB of
// keys and values) grows by a third in base64, to 85.3 MiB, plus a few
// dozen bytes of JSON per operation: 96 MiB carries a maximal batch of
// large values. A batch of very many tiny operations is bounded by its JSON
// size first; raise the limit or split the batch.
const DefaultMaxRequestBytes = 96 << 20

// Config configures the handler New returns.
type Config struct {
	// Token, if set, is the bearer token every /v1 request must carry
	// (Authorization: Bearer <token>). Empty disables authentication.
	// /livez, /readyz and /metrics stay open.
	Token string
	// MaxRequestBytes bounds a request body; larger bodies get 413
	// too_large. Zero means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Logger receives one event per failed request (5xx at Warn, others
	// at Debug); nil means slog.Default().
	Logger *slog.Logger
	// Ready, if set, is consulted by /readyz besides the dataspaces'
	// state: the server reports here that it is recovering or quiesced.
	// It returns whether it is ready and, if not, why.
	Ready func() (ready bool, reasons []string)
	// Observe, if set, is called once per finished request; it is the
	// hook for request metrics (count and latency by operation).
	Observe func(RequestInfo)
	// Metrics, if set, is served at GET /metrics (e.g. a Prometheus
	// handler); without it /metrics is 404 no_route.
	Metrics http.Handler
	// Overloaded, if set, is asked before each request; when it returns
	// true the request is answered 503 too_many_connections and its
	// connection closed. The server uses it for its connection limit
	// (it counts connections; the handler only sees requests).
	Overloaded func() bool
}

// RequestInfo describes one finished request, for Config.Observe.
type RequestInfo struct {
	// Op names the route ("key_get", "batch", ... as in docs/http-api.md);
	// "no_route" when nothing matched, "unauthorized" when the token was
	// missing or wrong.
	Op string
	// Dataspace is the {name} of the path, if any.
	Dataspace string
	// Status is the HTTP status sent; Code the error code, "" on success.
	Status   int
	Code     string
	Duration time.Duration
	// RequestBytes is what the handler read of the body; ResponseBytes
	// what it wrote.
	RequestBytes, ResponseBytes int64
}

// server holds the handler's state; one per New.
type server struct {
	db        *holdfast.DB
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	tokenHash [sha256.Size]byte
}

// Route patterns. The key routes end in {key...}; the handlers read the key
// from the escaped path themselves (see requestKey), never from PathValue,
// so '/' and arbitrary bytes survive.
const (
	patKey  = "/v1/dataspaces/{name}/keys/{key...}"
	patIncr = "/v1/dataspaces/{name}/incr/{key...}"
)

// New returns the HTTP handler for db. The handler does not own db:
// closing db is the caller's business, after the HTTP server has stopped.
func New(db *holdfast.DB, cfg Config) http.Handler {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &server{db: db, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if cfg.Token != "" {
		s.tokenHash = sha256.Sum256([]byte(cfg.Token))
	}
	s.routes()
	return s
}

func (s *server) routes() {
	s.handle("GET /livez", "livez", s.livez)
	s.handle("GET /readyz", "readyz", s.readyz)
	if s.cfg.Metrics != nil {
		m := s.cfg.Metrics
		s.handle("GET /metrics", "metrics", func(w http.ResponseWriter, r *http.Request) error {
			m.ServeHTTP(w, r)
			return nil
		})
	}
	s.handle("GET /v1/dataspaces", "dataspace_list", s.listDataspaces)
	s.handle("POST /v1/dataspaces", "dataspace_create", s.createDataspace)
	s.handle("GET /v1/dataspaces/{name}", "dataspace_get", s.getDataspace)
	s.handle("DELETE /v1/dataspaces/{name}", "dataspace_drop", s.dropDataspace)
	s.handle("POST /v1/dataspaces/{name}/reopen", "dataspace_reopen", s.reopenDataspace)
	s.handle("POST /v1/dataspaces/{name}/compact", "dataspace_compact", s.compactDataspace)
	s.handle("GET /v1/dataspaces/{name}/keys", "scan", s.scan)
	s.handle("GET "+patKey, "key_get", s.getKey)
	s.handle("PUT "+patKey, "key_put", s.putKey)
	s.handle("DELETE "+patKey, "key_delete", s.deleteKey)
	s.handle("POST "+patIncr, "incr", s.incr)
	s.handle("POST /v1/dataspaces/{name}/batch", "batch", s.batch)
	s.quiesceRoutes() // quiesce.go
}

// handlerFunc is a route's handler: it writes a success response itself,
// or returns an error that handle turns into the JSON error response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers a route with its operation name for logs and metrics.
func (s *server) handle(pattern, op string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(w)
		st.op = op
		st.dataspace = r.PathValue("name")
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// ServeHTTP authenticates /v1 requests, bounds the body, dispatches, and
// reports the finished request to Config.Observe.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)}
	r.Body = body
	sw := &statusWriter{ResponseWriter: w, op: "no_route"}
	defer func() {
		if s.cfg.Observe != nil {
			s.cfg.Observe(RequestInfo{Op: sw.op, Dataspace: sw.dataspace, Status: sw.statusOr200(), Code: sw.code,
				Duration: time.Since(start), RequestBytes: body.n, ResponseBytes: sw.bytes})
		}
	}()
	if s.cfg.Overloaded != nil && s.cfg.Overloaded() {
		sw.op = "overloaded"
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		s.writeError(sw, r, apiErrorf(codeTooManyConns, "too many connections: the server's limit (max-conns) is reached; retry later"))
		return
	}
	if s.cfg.Token != "" && (r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/")) && !s.authorized(r) {
		sw.op = "unauthorized"
		w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast"`)
		s.writeError(sw, r, apiErrorf(codeUnauthorized, "missing or wrong bearer token (Authorization: Bearer <token>)"))
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// No route: the mux answers 404 or 405 (with Allow) in plain
		// text; give the same statuses with a JSON error body.
		s.mux.ServeHTTP(&fallbackWriter{statusWriter: sw, s: s, r: r}, r)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// authorized compares the bearer token in constant time. Both sides are
// hashed first so the comparison does not leak the token's length either.
func (s *server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

// statusWriter records what was sent, for Observe and logs.
type statusWriter struct {
	http.ResponseWriter
	status    int
	bytes     int64
	op        string
	dataspace string
	code      string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// stateOf finds the statusWriter under w (handlers see it directly).
func stateOf(w http.ResponseWriter) *statusWriter {
	for {
		switch t := w.(type) {
		case *statusWriter:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return &statusWriter{ResponseWriter: w} // not reached through ServeHTTP
		}
	}
}

// fallbackWriter replaces the mux's plain-text 404 and 405 bodies with
// JSON errors; redirects (path cleaning) pass through unchanged.
type fallbackWriter struct {
	*statusWriter
	s        *server
	r        *http.Request
	replaced bool
}

func (f *fallbackWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		f.replaced = true
		f.s.writeError(f.statusWriter, f.r, apiErrorf(codeNoRoute, "no route for %s %s", f.r.Method, f.r.URL.Path))
	case http.StatusMethodNotAllowed:
		f.replaced = true
		f.s.writeError(f.statusWriter, f.r, apiErrorf(codeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)",
			f.r.Method, f.r.URL.Path, f.Header().Get("Allow")))
	default:
		f.statusWriter.WriteHeader(code)
	}
}

func (f *fallbackWriter) Write(p []byte) (int, error) {
	if f.replaced {
		return len(p), nil
	}
	return f.statusWriter.Write(p)
}

// countingReader counts body bytes read, for RequestInfo.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
