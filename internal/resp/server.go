package resp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Server limits and sizes.
const (
	// DefaultMaxConns bounds concurrent connections (Redis's maxclients
	// default, 10,000). The next client gets "ERR max number of clients
	// reached" and is disconnected, as Redis does.
	DefaultMaxConns = 10_000
	// DefaultMaxPendingReplies bounds the replies a connection buffers
	// before it flushes them. A connection executes its commands one at
	// a time, in order, and reads the next only after writing the reply
	// to the previous, so a client that pipelines without reading is
	// held back by TCP flow control, never by server memory: this limit
	// trades latency for fewer writes, and is never an error.
	DefaultMaxPendingReplies = 1024
	// readBufferBytes and writeBufferBytes size a connection's buffers.
	readBufferBytes  = 16 << 10
	writeBufferBytes = 16 << 10
	// maxClientsReply is Redis's wording, sent before closing a
	// connection over MaxConns.
	maxClientsReply = "-ERR max number of clients reached\r\n"
	// rejectWriteTimeout bounds the write of maxClientsReply.
	rejectWriteTimeout = time.Second
	// lingerTimeout and lingerMaxBytes bound how long, and how much of
	// the client's unread input, a closing connection drains after
	// sending its last replies (see lingerClose).
	lingerTimeout  = 500 * time.Millisecond
	lingerMaxBytes = 1 << 20
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("resp: server closed")

// Handler executes one command. args[0] is the command name as the client
// sent it (any case); args are the reader's, the handler may keep them.
// Exec writes exactly one reply to w and does not flush: the server does.
// Exec is called from the connection's goroutine, one command at a time
// per connection; different connections call it concurrently.
//
// ctx is cancelled when the server is closed hard (Close, or Shutdown's
// deadline passing), never by a graceful Shutdown.
type Handler interface {
	Exec(ctx context.Context, conn *ConnState, args [][]byte, w *Writer)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, conn *ConnState, args [][]byte, w *Writer)

// Exec calls f.
func (f HandlerFunc) Exec(ctx context.Context, conn *ConnState, args [][]byte, w *Writer) {
	f(ctx, conn, args, w)
}

// ConnState is one connection's state, owned by its goroutine: only the
// handler running a command of that connection touches it.
type ConnState struct {
	// ID is unique per server, from 1 (CLIENT ID).
	ID uint64
	// RemoteAddr is the client's address.
	RemoteAddr string
	// Name is set by CLIENT SETNAME or HELLO SETNAME.
	Name string
	// Authenticated is set by a successful AUTH.
	Authenticated bool
	// Dataspace is the selected dataspace's name (SELECT).
	Dataspace string
	// Created is when the connection was accepted.
	Created time.Time

	closeAfterReply bool
}

// CloseAfterReply makes the server close the connection once the reply
// of the current command is flushed (QUIT).
func (c *ConnState) CloseAfterReply() { c.closeAfterReply = true }

// Config configures a Server. Zero fields take the defaults.
type Config struct {
	// Handler executes commands. Required.
	Handler Handler
	// NewConn, if set, initialises a new connection's state (for
	// example its selected dataspace) before its first command.
	NewConn func(*ConnState)
	// Limits bound each request.
	Limits ReaderLimits
	// MaxConns bounds concurrent connections (default DefaultMaxConns).
	MaxConns int
	// MaxPendingReplies is how many replies a connection buffers before
	// flushing while its client keeps pipelining (default
	// DefaultMaxPendingReplies).
	MaxPendingReplies int
	// IdleTimeout closes a connection whose client sends nothing for
	// this long (Redis's "timeout"); zero means never.
	IdleTimeout time.Duration
	// Logger receives connection events; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves the Redis protocol on listeners: one goroutine per
// connection, commands executed in order per connection.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // cancelled by a hard close
	cancel context.CancelFunc

	nextID   atomic.Uint64
	shutting atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // connection goroutines
}

// NewServer returns a Server; call Serve to start it.
func NewServer(cfg Config) *Server {
	if cfg.Handler == nil {
		panic("resp: Config.Handler is nil")
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxPendingReplies <= 0 {
		cfg.MaxPendingReplies = DefaultMaxPendingReplies
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
}

// NumConns returns the number of open connections.
func (s *Server) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Serve accepts connections on ln until Shutdown or Close, and then
// returns ErrServerClosed. It closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				// EMFILE and the like: back off as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("resp: accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		if s.shutting.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if len(s.conns) >= s.cfg.MaxConns {
			s.mu.Unlock()
			s.reject(nc)
			continue
		}
		c := &conn{nc: nc, srv: s, state: ConnState{
			ID: s.nextID.Add(1), RemoteAddr: nc.RemoteAddr().String(), Created: time.Now(),
		}}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// isTemporary reports errors worth retrying an Accept for.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// reject tells a client over MaxConns why, and disconnects it.
func (s *Server) reject(nc net.Conn) {
	s.log.Warn("resp: connection refused: max number of clients reached", "remote", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
	nc.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	io.WriteString(nc, maxClientsReply)
	nc.Close()
}

// Shutdown stops the server gracefully: it closes the listeners, lets
// each connection finish the command it is executing and flush the
// replies it owes, then closes it; pipelined commands not yet started are
// not executed (their clients see the connection close, so none of them
// was acknowledged). It returns when every connection is closed, or,
// when ctx ends first, closes them all hard and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops the server at once: listeners and connections are closed
// and the handlers' context is cancelled. A write the engine already
// holds still completes in the engine, but its reply may be lost.
func (s *Server) Close() error {
	s.beginShutdown()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// beginShutdown closes the listeners and wakes every connection waiting
// for a request, so it sees the shutdown.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.wake()
	}
}

// conn is one client connection.
type conn struct {
	nc    net.Conn
	srv   *Server
	state ConnState

	// deadlineMu orders the connection's own read deadlines against
	// wake's: either the connection sees the shutdown flag before it
	// reads, or wake's deadline comes after its own.
	deadlineMu sync.Mutex
}

// wake interrupts a blocked read so the connection notices the shutdown.
func (c *conn) wake() {
	c.deadlineMu.Lock()
	c.nc.SetReadDeadline(time.Now())
	c.deadlineMu.Unlock()
}

// beforeRead arms the idle timeout; it reports false when the server is
// shutting down and the connection should close instead of reading.
func (c *conn) beforeRead() bool {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.srv.shutting.Load() {
		return false
	}
	if t := c.srv.cfg.IdleTimeout; t > 0 {
		c.nc.SetReadDeadline(time.Now().Add(t))
	}
	return true
}

// lingerClose closes a connection the server decided to close while the
// client may still be sending (shutdown with pipelined commands unread, a
// protocol error, QUIT). Closing a TCP socket with unread input makes the
// kernel send RST instead of FIN, and an RST can destroy the replies the
// client has not yet read — replies to writes that were applied. So: send
// FIN after the replies (CloseWrite), then read and discard what the client
// still sends until it closes or lingerTimeout passes, then close. net/http
// does the same.
func (c *conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.deadlineMu.Lock()
		c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		c.deadlineMu.Unlock()
		io.Copy(io.Discard, io.LimitReader(c.nc, lingerMaxBytes))
	}
	c.nc.Close()
}

func (c *conn) serve() {
	s := c.srv
	// linger is set on the paths where the server closes a connection
	// its client may still be writing to.
	linger := false
	defer func() {
		if v := recover(); v != nil {
			// A panic is a broken invariant in a handler, not bad input:
			// keep the other connections, drop this one. Replies it had
			// buffered are lost with it.
			s.log.Error("resp: handler panicked; closing connection", "remote", c.state.RemoteAddr, "id", c.state.ID, "panic", v, "stack", string(debug.Stack()))
		}
		if linger && s.ctx.Err() == nil {
			c.lingerClose()
		}
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	if s.cfg.NewConn != nil {
		s.cfg.NewConn(&c.state)
	}
	r := NewReader(bufio.NewReaderSize(c.nc, readBufferBytes), s.cfg.Limits)
	w := NewWriter(bufio.NewWriterSize(c.nc, writeBufferBytes))
	bh, _ := s.cfg.Handler.(BatchHandler)
	var ahead [][]byte // a command read ahead that did not join a batch
	var aheadErr error // a read error met while reading ahead
	pending := 0
	for {
		buffered := r.Buffered() > 0 || ahead != nil || aheadErr != nil
		// Flush before blocking for input: the client has sent nothing
		// more, so it is waiting for these replies.
		if pending > 0 && (!buffered || pending >= s.cfg.MaxPendingReplies) {
			if w.Flush() != nil {
				return
			}
			pending = 0
		}
		if !buffered && !c.beforeRead() {
			w.Flush()
			linger = true
			return
		}
		var args [][]byte
		var err error
		switch {
		case ahead != nil:
			args, ahead = ahead, nil
		case aheadErr != nil:
			err, aheadErr = aheadErr, nil
		default:
			args, err = r.ReadCommand()
		}
		if err != nil {
			var pe *ProtocolError
			switch {
			case errors.As(err, &pe):
				s.log.Info("resp: protocol error; closing connection", "remote", c.state.RemoteAddr, "id", c.state.ID, "err", pe.Msg)
				w.WriteError(pe.Error())
				linger = true
			case errors.Is(err, os.ErrDeadlineExceeded) && !s.shutting.Load():
				s.log.Debug("resp: idle timeout; closing connection", "remote", c.state.RemoteAddr, "id", c.state.ID)
			case errors.Is(err, os.ErrDeadlineExceeded):
				linger = true // woken by Shutdown, maybe mid-request
			}
			w.Flush()
			return
		}
		if bh != nil && r.Buffered() > 0 && bh.CanBatch(&c.state, args) {
			// Pipelined: read ahead what is buffered while it can join
			// the batch (see BatchHandler).
			cmds := [][][]byte{args}
			size := batchBytes(args)
			for len(cmds) < s.cfg.MaxPendingReplies && size < maxBatchBytes && r.Buffered() > 0 {
				a, err := r.ReadCommand()
				if err != nil {
					aheadErr = err // reported after the batch's replies
					break
				}
				if !bh.CanBatch(&c.state, a) {
					ahead = a
					break
				}
				cmds = append(cmds, a)
				size += batchBytes(a)
			}
			if len(cmds) > 1 {
				bh.ExecBatch(s.ctx, &c.state, cmds, w)
			} else {
				s.cfg.Handler.Exec(s.ctx, &c.state, args, w)
			}
			pending += len(cmds)
			if c.state.closeAfterReply || s.shutting.Load() {
				w.Flush()
				linger = true
				return
			}
			continue
		}
		s.cfg.Handler.Exec(s.ctx, &c.state, args, w)
		pending++
		if c.state.closeAfterReply || s.shutting.Load() {
			w.Flush()
			linger = true
			return
		}
	}
}
