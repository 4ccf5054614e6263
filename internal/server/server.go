package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
	"github.com/holdfast-db/holdfast/internal/metrics"
	"github.com/holdfast-db/holdfast/internal/resp"
	"github.com/holdfast-db/holdfast/vfs"
)

// Hooks are what a caller of Run can attach besides the Config: where
// logs go, and a report of the addresses actually bound (port 0 in
// tests).
type Hooks struct {
	// LogOutput receives the logs (default os.Stderr).
	LogOutput io.Writer
	// Listening, if set, is called once both listeners are bound, with
	// their addresses ("" for a protocol that is off).
	Listening func(httpAddr, respAddr string)
	// Version is shown by /readyz's neighbours, INFO and the logs.
	Version string
}

// Run opens the database in cfg.DataDir, creates cfg.Dataspace if it does
// not exist, serves HTTP and RESP until ctx ends, then shuts down
// gracefully: the listeners close at once, requests in flight get up to
// cfg.ShutdownGrace to finish and send their replies, connections are
// closed, and the database is closed (every dataspace finishes the writes
// its log holds and syncs). It returns nil after a clean shutdown, even
// when the grace period ran out (that is logged), and an error when the
// server could not start or the database did not close cleanly.
func Run(ctx context.Context, cfg Config, hooks Hooks) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if hooks.LogOutput == nil {
		hooks.LogOutput = os.Stderr
	}
	log := newLogger(cfg, hooks.LogOutput)

	token, err := readToken(cfg.TokenFile, log)
	if err != nil {
		return err
	}
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return err
	}

	// Bind both ports first: a port in use fails fast, before a long
	// recovery, and while the database opens HTTP already answers /livez
	// (ok) and /readyz (503, recovering). RESP clients wait in the accept
	// queue until the database is open.
	m := metrics.New()
	s := &running{cfg: cfg, log: log}
	if err := s.listen(tlsCfg); err != nil {
		s.closeListeners()
		return err
	}
	s.handler.Store(&handlerBox{httpapi.Starting("recovering: opening the data directory " + cfg.DataDir)})
	s.startHTTP()
	log.Info("opening the database; HTTP answers /livez, /readyz is not ready until it is open",
		"data", cfg.DataDir, "http", s.addr(s.httpLn), "resp", s.addr(s.respLn))

	start := time.Now()
	db, err := holdfast.Open(cfg.DataDir, holdfast.Options{
		FS:           m.FS(vfs.Default()),
		Logger:       log,
		Observer:     m,
		ConfirmSyncs: cfg.ConfirmSyncs,
		AutoReopen:   cfg.AutoReopen,
	})
	if err == nil {
		err = ensureDataspace(db, cfg, log)
		if err != nil {
			err = errors.Join(err, db.Close())
		}
	} else {
		err = fmt.Errorf("open %s: %w", cfg.DataDir, err)
	}
	if err != nil {
		return errors.Join(err, s.shutdown())
	}
	s.db = db
	log.Info("database open", "data", cfg.DataDir, "dataspaces", len(db.Dataspaces()), "duration", time.Since(start).Round(time.Millisecond))
	m.WatchDB(db)
	s.handler.Store(s.apiHandler(token, m))
	s.startRESP(token, m, hooks.Version)
	if hooks.Listening != nil {
		hooks.Listening(s.addr(s.httpLn), s.addr(s.respLn))
	}
	log.Info("serving", "http", s.addr(s.httpLn), "resp", s.addr(s.respLn), "tls", tlsCfg != nil,
		"auth", token != "", "version", hooks.Version)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: stopped accepting; finishing requests in flight", "grace", cfg.ShutdownGrace)
	case serveErr = <-s.failed:
		log.Error("a listener failed; shutting down", "err", serveErr)
	}
	return errors.Join(serveErr, s.shutdown())
}

// running is one Run's servers.
type running struct {
	cfg    Config
	log    *slog.Logger
	db     *holdfast.DB
	httpLn net.Listener
	respLn net.Listener

	httpSrv  *http.Server
	handler  atomic.Pointer[handlerBox] // Starting, then the API
	respSrv  *resp.Server
	httpConn atomic.Int64 // open HTTP connections, for the limit
	closing  atomic.Bool
	wg       sync.WaitGroup
	failed   chan error
}

func (s *running) addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

func (s *running) listen(tlsCfg *tls.Config) error {
	s.failed = make(chan error, 2)
	open := func(addr, proto string) (net.Listener, error) {
		if addr == "off" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener: %w", proto, err)
		}
		if !isLoopback(ln.Addr()) {
			s.log.Warn("listening beyond loopback: anyone who can reach this address can use the database unless token-file and TLS are set",
				"proto", proto, "addr", ln.Addr().String(), "auth", s.cfg.TokenFile != "", "tls", tlsCfg != nil)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		return ln, nil
	}
	var err error
	if s.httpLn, err = open(s.cfg.HTTPAddr, "http"); err != nil {
		return err
	}
	s.respLn, err = open(s.cfg.RESPAddr, "resp")
	return err
}

func (s *running) closeListeners() {
	for _, ln := range []net.Listener{s.httpLn, s.respLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// apiHandler is the HTTP API over the open database.
func (s *running) apiHandler(token string, m *metrics.Metrics) *handlerBox {
	max := int64(s.cfg.MaxConns)
	h := httpapi.New(s.db, httpapi.Config{
		Token:           token,
		MaxRequestBytes: s.cfg.MaxRequestBytes,
		Logger:          s.log,
		Ready: func() (bool, []string) {
			if s.closing.Load() {
				return false, []string{"shutting down"}
			}
			return true, nil
		},
		Observe:    m.ObserveHTTP,
		Metrics:    m.Handler(),
		Overloaded: func() bool { return s.httpConn.Load() > max },
	})
	return &handlerBox{h}
}

// handlerBox lets an http.Handler live in an atomic.Pointer.
type handlerBox struct{ http.Handler }

// startHTTP serves whatever s.handler holds.
func (s *running) startHTTP() {
	if s.httpLn == nil {
		return
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.Load().ServeHTTP(w, r) })
	s.httpSrv = &http.Server{
		Handler:           h,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.httpConn.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.httpConn.Add(-1)
			}
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.failed <- fmt.Errorf("http: %w", err)
		}
	}()
}

func (s *running) startRESP(token string, m *metrics.Metrics, version string) {
	if s.respLn == nil {
		return
	}
	var srv *resp.Server
	h := resp.NewDBHandler(s.db, resp.HandlerOptions{
		Password:         token,
		DefaultDataspace: s.cfg.Dataspace,
		Version:          version,
		ConnCount:        func() int { return srv.NumConns() },
	})
	srv = resp.NewServer(resp.Config{
		Handler:           observed(h, m),
		NewConn:           h.NewConn,
		Limits:            resp.ReaderLimits{MaxBulkBytes: s.cfg.MaxBulkBytes},
		MaxConns:          s.cfg.MaxConns,
		MaxPendingReplies: s.cfg.MaxPipeline,
		IdleTimeout:       s.cfg.IdleTimeout,
		Logger:            s.log,
	})
	s.respSrv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(s.respLn); err != nil && !errors.Is(err, resp.ErrServerClosed) {
			s.failed <- fmt.Errorf("resp: %w", err)
		}
	}()
}

// observed times each command into m, labelled by its lower-case name
// (or "unknown": labels come from a bounded set). It keeps the handler's
// batching of pipelined writes (resp.BatchHandler): each command of a
// batch is counted, with the batch's duration.
func observed(h *resp.DBHandler, m *metrics.Metrics) resp.Handler {
	return &observedHandler{h: h, m: m}
}

type observedHandler struct {
	h *resp.DBHandler
	m *metrics.Metrics
}

func (o *observedHandler) Exec(ctx context.Context, c *resp.ConnState, args [][]byte, w *resp.Writer) {
	start := time.Now()
	errs := w.Errors()
	o.h.Exec(ctx, c, args, w)
	o.m.ObserveRESP(opName(args), time.Since(start), w.Errors() > errs)
}

func (o *observedHandler) CanBatch(c *resp.ConnState, args [][]byte) bool {
	return o.h.CanBatch(c, args)
}

func (o *observedHandler) ExecBatch(ctx context.Context, c *resp.ConnState, cmds [][][]byte, w *resp.Writer) {
	start := time.Now()
	errs := w.Errors()
	o.h.ExecBatch(ctx, c, cmds, w)
	d, failed := time.Since(start), w.Errors() > errs
	for _, args := range cmds {
		// A batch fails or succeeds as a whole, except when it fell back
		// to one by one; then "failed" marks all (a rare, bounded error).
		o.m.ObserveRESP(opName(args), d, failed)
	}
}

func opName(args [][]byte) string {
	if resp.KnownCommand(string(args[0])) {
		return strings.ToLower(string(args[0]))
	}
	return "unknown"
}

// shutdown stops both servers within the grace period, then closes the
// database.
func (s *running) shutdown() error {
	s.closing.Store(true)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	var httpErr, respErr error
	if s.httpSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if httpErr = s.httpSrv.Shutdown(ctx); httpErr != nil {
				s.httpSrv.Close()
			}
		}()
	}
	if s.respSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			respErr = s.respSrv.Shutdown(ctx)
		}()
	}
	if s.respSrv == nil && s.respLn != nil {
		s.respLn.Close() // bound, never served: the database did not open
	}
	wg.Wait()
	s.wg.Wait()
	if httpErr != nil || respErr != nil {
		s.log.Warn("grace period over: closed connections whose requests had not finished; "+
			"their writes may or may not be applied (their clients got no reply)", "grace", s.cfg.ShutdownGrace)
	}
	if s.db == nil {
		return nil // the database never opened
	}
	// Every reply sent was for a write the engine had made durable (or,
	// under an interval policy, logged); Close finishes what the logs
	// hold and syncs them.
	if err := s.db.Close(); err != nil {
		s.log.Error("database did not close cleanly", "err", err)
		return fmt.Errorf("close database: %w", err)
	}
	s.log.Info("shut down", "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// ensureDataspace creates cfg.Dataspace on first start.
func ensureDataspace(db *holdfast.DB, cfg Config, log *slog.Logger) error {
	_, err := db.Dataspace(cfg.Dataspace)
	if !errors.Is(err, holdfast.ErrNoDataspace) {
		// Present (a stopped one is reported by /readyz, not fatal).
		return nil
	}
	if _, err := db.CreateDataspace(cfg.Dataspace, holdfast.DataspaceOptions{Sync: cfg.Sync}); err != nil && !errors.Is(err, holdfast.ErrExists) {
		return fmt.Errorf("create dataspace %q: %w", cfg.Dataspace, err)
	}
	log.Info("created dataspace", "dataspace", cfg.Dataspace, "sync", cfg.Sync.String())
	return nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
