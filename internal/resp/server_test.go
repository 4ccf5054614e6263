package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testServer is a Server bound to an engine on faultfs, listening on a
// loopback port.
type testServer struct {
	addr  string
	db    *holdfast.DB
	fs    *faultfs.FS
	srv   *Server
	serve chan error // Serve's result
}

// startServer opens an engine with dataspaces "default" and "other" and
// serves it. cfg's Handler and NewConn are filled in.
func startServer(t *testing.T, cfg Config, hopts HandlerOptions) *testServer {
	t.Helper()
	fs := faultfs.New(faultfs.Options{})
	db, err := holdfast.Open("/data", holdfast.Options{FS: fs, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "other"} {
		if _, err := db.CreateDataspace(name, holdfast.DataspaceOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Handler == nil {
		h := NewDBHandler(db, hopts)
		cfg.Handler, cfg.NewConn = h, h.NewConn
	}
	cfg.Logger = quietLog
	ts := &testServer{db: db, fs: fs, srv: NewServer(cfg), serve: make(chan error, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	go func() { ts.serve <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ts.srv.Close()
		db.Close()
	})
	return ts
}

// client is a minimal RESP client for tests.
type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// errReply is an error reply's text.
type errReply string

// mapReply is a RESP3 map, as alternating keys and values.
type mapReply []any

// send writes commands as arrays of bulk strings without reading.
func (c *client) send(cmds ...[]string) {
	c.t.Helper()
	var buf []byte
	for _, cmd := range cmds {
		args := make([][]byte, len(cmd))
		for i, a := range cmd {
			args[i] = []byte(a)
		}
		buf = AppendCommand(buf, args...)
	}
	if _, err := c.nc.Write(buf); err != nil {
		c.t.Fatal(err)
	}
}

// do sends one command and reads its reply.
func (c *client) do(args ...string) any {
	c.t.Helper()
	c.send(args)
	return c.read()
}

// read reads one reply: string (simple), errReply, int64, []byte (bulk),
// nil (null), []any (array, set), mapReply, float64, bool.
func (c *client) read() any {
	c.t.Helper()
	v, err := readReply(c.br)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return v
}

// expectClosed checks the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	if v, err := readReply(c.br); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("after the reply: got %#v, %v; want the connection closed", v, err)
	}
}

func readReply(br *bufio.Reader) (any, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	count := func() (int, error) { return strconv.Atoi(body) }
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return errReply(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case ',':
		return strconv.ParseFloat(body, 64)
	case '#':
		return body == "t", nil
	case '_':
		return nil, nil
	case '$', '=':
		n, err := count()
		if err != nil || n < 0 {
			return nil, err // "$-1": null
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		return b[:n], nil
	case '*', '~', '%':
		n, err := count()
		if err != nil || n < 0 {
			return nil, err
		}
		if line[0] == '%' {
			n *= 2
		}
		vals := make([]any, n)
		for i := range vals {
			if vals[i], err = readReply(br); err != nil {
				return nil, err
			}
		}
		if line[0] == '%' {
			return mapReply(vals), nil
		}
		return vals, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

func bulk(s string) []byte { return []byte(s) }

// check compares a reply with want, where want is written with the types
// readReply returns.
func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

func TestCommands(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{Version: "test"})
	c := ts.dial(t)
	steps := []struct {
		args []string
		want any
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"ping", "hi"}, bulk("hi")},
		{[]string{"ECHO", "a\r\nb"}, bulk("a\r\nb")},
		{[]string{"GET", "k"}, nil},
		{[]string{"SET", "k", "v1"}, "OK"},
		{[]string{"GET", "k"}, bulk("v1")},
		{[]string{"SET", "k", "v2", "NX"}, nil},
		{[]string{"GET", "k"}, bulk("v1")},
		{[]string{"SET", "k", "v2", "XX"}, "OK"},
		{[]string{"SET", "missing", "v", "XX"}, nil},
		{[]string{"GET", "missing"}, nil},
		{[]string{"SET", "k", "v3", "GET"}, bulk("v2")},
		{[]string{"SET", "new", "n1", "GET"}, nil},
		{[]string{"GET", "new"}, bulk("n1")},
		{[]string{"SET", "new", "n2", "NX", "GET"}, bulk("n1")},
		{[]string{"GET", "new"}, bulk("n1")},
		{[]string{"SET", "k", "v", "NX", "XX"}, errReply("ERR syntax error")},
		{[]string{"SET", "k", "v", "BOGUS"}, errReply("ERR syntax error")},
		{[]string{"SET", "k", "v", "EX", "10"}, errReply(errNoExpiry)},
		{[]string{"SET", "k", "v4", "KEEPTTL"}, "OK"},
		{[]string{"SET", "", "v"}, errReply("ERR holdfast: empty key")},
		{[]string{"EXISTS", "k", "k", "nope"}, int64(2)},
		{[]string{"DBSIZE"}, int64(2)},
		{[]string{"DEL", "k", "new", "nope", "k"}, int64(2)},
		{[]string{"DEL", "k"}, int64(0)},
		{[]string{"DBSIZE"}, int64(0)},
		{[]string{"MSET", "a", "1", "b", "2"}, "OK"},
		{[]string{"MGET", "a", "x", "b"}, []any{bulk("1"), nil, bulk("2")}},
		{[]string{"MSET", "a", "1", "b"}, errReply("ERR wrong number of arguments for 'mset' command")},
		{[]string{"GET"}, errReply("ERR wrong number of arguments for 'get' command")},
		{[]string{"get", "a", "b"}, errReply("ERR wrong number of arguments for 'get' command")},
		{[]string{"NOPE", "a", "b"}, errReply("ERR unknown command 'NOPE', with args beginning with: 'a' 'b' ")},
		{[]string{"NOPE"}, errReply("ERR unknown command 'NOPE', with args beginning with: ")},
		{[]string{"CONFIG", "GET", "save"}, []any{bulk("save"), bulk("")}},
		{[]string{"CONFIG", "GET", "appendonly"}, []any{bulk("appendonly"), bulk("yes")}},
		{[]string{"CONFIG", "GET", "APPENDFSYNC"}, []any{bulk("appendfsync"), bulk("always")}},
		{[]string{"CONFIG", "GET", "nothing*"}, []any{}},
		{[]string{"CONFIG", "SET", "save", ""}, errReply("ERR unknown subcommand 'SET'. Try CONFIG HELP.")},
		{[]string{"CONFIG", "GET"}, errReply("ERR wrong number of arguments for 'config|get' command")},
		{[]string{"CLIENT", "GETNAME"}, nil},
		{[]string{"CLIENT", "SETNAME", "worker-1"}, "OK"},
		{[]string{"CLIENT", "GETNAME"}, bulk("worker-1")},
		{[]string{"CLIENT", "SETNAME", "a b"}, errReply(errBadClientName)},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "test"}, "OK"},
		{[]string{"CLIENT", "KILL"}, errReply("ERR unknown subcommand 'KILL'. Try CLIENT HELP.")},
		{[]string{"COMMAND"}, []any{}},
		{[]string{"COMMAND", "COUNT"}, int64(len(commands))},
		{[]string{"COMMAND", "DOCS"}, []any{}},
		{[]string{"AUTH", "x"}, errReply(errNoPassword)},
		{[]string{"INCR", "ctr"}, int64(1)},
		{[]string{"INCRBY", "ctr", "41"}, int64(42)},
		{[]string{"DECR", "ctr"}, int64(41)},
		{[]string{"DECRBY", "ctr", "50"}, int64(-9)},
		{[]string{"GET", "ctr"}, bulk("-9")},
	}
	for i, s := range steps {
		check(t, fmt.Sprintf("step %d %q", i, s.args), c.do(s.args...), s.want)
	}
	// INFO has the sections clients parse.
	info := string(c.do("INFO").([]byte))
	for _, want := range []string{"# Server\r\n", "redis_version:" + RedisCompatVersion, "holdfast_version:test", "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n", "dataspace_other:index=1,keys=0"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if ks := string(c.do("INFO", "keyspace").([]byte)); strings.Contains(ks, "# Server") || !strings.Contains(ks, "db0:") {
		t.Errorf("INFO keyspace = %q", ks)
	}
	// RESP3: maps, nulls.
	hello := c.do("HELLO", "3")
	m, ok := hello.(mapReply)
	if !ok || len(m) != 14 || string(m[0].([]byte)) != "server" || m[5] != int64(3) {
		t.Fatalf("HELLO 3 = %#v", hello)
	}
	check(t, "RESP3 null", c.do("GET", "missing"), nil)
	check(t, "RESP3 CONFIG GET", c.do("CONFIG", "GET", "save"), mapReply{bulk("save"), bulk("")})
	check(t, "HELLO 4", c.do("HELLO", "4"), errReply(errNoProto))
	check(t, "HELLO 2", c.do("HELLO", "2").([]any)[5], int64(2))
	check(t, "QUIT", c.do("QUIT"), "OK")
	c.expectClosed()
}

// RESP3 null is "_", not "$-1": check the bytes, since readReply maps
// both to nil.
func TestRESP3NullBytes(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	c.do("HELLO", "3")
	c.send([]string{"GET", "missing"})
	line, err := c.br.ReadString('\n')
	if err != nil || line != "_\r\n" {
		t.Fatalf("RESP3 GET missing = %q, %v; want \"_\\r\\n\"", line, err)
	}
}

func TestPipeline(t *testing.T) {
	ts := startServer(t, Config{MaxPendingReplies: 100}, HandlerOptions{})
	c := ts.dial(t)
	const n = 1000
	var sets, gets [][]string
	for i := range n {
		sets = append(sets, []string{"SET", fmt.Sprintf("key:%04d", i), fmt.Sprintf("value-%d", i)})
		gets = append(gets, []string{"GET", fmt.Sprintf("key:%04d", i)})
	}
	c.send(sets...)
	for i := range n {
		check(t, fmt.Sprintf("SET %d", i), c.read(), "OK")
	}
	c.send(gets...)
	for i := range n {
		check(t, fmt.Sprintf("GET %d", i), c.read(), bulk(fmt.Sprintf("value-%d", i)))
	}
	check(t, "DBSIZE", c.do("DBSIZE"), int64(n))
	// The pipelined SETs were durable when acknowledged: a power cut
	// now, with the engine still open, loses none of them.
	ts.srv.Close()
	if err := ts.fs.PowerCut(faultfs.CrashOptions{}, func() { ts.db.Close() }); err != nil {
		t.Fatal(err)
	}
	db, err := holdfast.Open("/data", holdfast.Options{FS: ts.fs, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.Dataspace("default")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != n {
		t.Fatalf("%d keys after a crash, want %d acknowledged", ds.Len(), n)
	}
}

// Malformed frames get Redis's error, then the connection closes; the
// server stays up and the data is intact.
func TestMalformedFramesCloseConnection(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	good := ts.dial(t)
	check(t, "SET", good.do("SET", "kept", "intact"), "OK")
	tests := []struct {
		name, in, want string
	}{
		{"negative bulk length", "*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
		{"oversize bulk", "*2\r\n$3\r\nSET\r\n$999999999\r\n", "ERR Protocol error: invalid bulk length"},
		{"bad multibulk", "*x\r\n", "ERR Protocol error: invalid multibulk length"},
		{"huge multibulk", "*2000000\r\n", "ERR Protocol error: invalid multibulk length"},
		{"not a bulk", "*2\r\n$3\r\nGET\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"},
		{"unbalanced quotes", "SET \"kept oops\r\n", "ERR Protocol error: unbalanced quotes in request"},
		{"missing CRLF", "*1\r\n$4\r\nPINGXX", `ERR Protocol error: expected '\r\n' after bulk string of 4 bytes`},
		{"inline too long", strings.Repeat("a", DefaultMaxInlineBytes+10), "ERR Protocol error: too big inline request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			check(t, "PING first", c.do("PING"), "PONG")
			if _, err := io.WriteString(c.nc, tt.in); err != nil {
				t.Fatal(err)
			}
			check(t, "reply", c.read(), errReply(tt.want))
			c.expectClosed()
		})
	}
	check(t, "server still up, data intact", ts.dial(t).do("GET", "kept"), bulk("intact"))
	check(t, "first connection unaffected", good.do("GET", "kept"), bulk("intact"))
}

// A client that sends a huge declared length and then stalls holds no
// large buffer, and other clients are served meanwhile.
func TestStalledHugeBulkDoesNotBlockOthers(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	stalled := ts.dial(t)
	if _, err := io.WriteString(stalled.nc, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$30000000\r\nabc"); err != nil {
		t.Fatal(err)
	}
	check(t, "other client", ts.dial(t).do("SET", "x", "y"), "OK")
	stalled.nc.Close()
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, Config{MaxConns: 2}, HandlerOptions{})
	a, b := ts.dial(t), ts.dial(t)
	check(t, "a", a.do("PING"), "PONG")
	check(t, "b", b.do("PING"), "PONG")
	c := ts.dial(t)
	check(t, "third client", c.read(), errReply("ERR max number of clients reached"))
	c.expectClosed()
	a.nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.NumConns() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after one closed", ts.srv.NumConns())
		}
		time.Sleep(5 * time.Millisecond)
	}
	check(t, "after one left", ts.dial(t).do("PING"), "PONG")
	check(t, "b unaffected", b.do("PING"), "PONG")
}

func TestAuth(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{Password: "s3cret"})
	c := ts.dial(t)
	check(t, "GET before AUTH", c.do("GET", "k"), errReply(errNoAuth))
	check(t, "PING before AUTH", c.do("PING"), errReply(errNoAuth))
	check(t, "unknown before AUTH", c.do("NOPE"), errReply("ERR unknown command 'NOPE', with args beginning with: "))
	check(t, "HELLO without AUTH", c.do("HELLO", "3"), errReply(errHelloNoAuth))
	check(t, "wrong password", c.do("AUTH", "guess"), errReply(errWrongPass))
	check(t, "wrong user", c.do("AUTH", "admin", "s3cret"), errReply(errWrongPass))
	check(t, "too many args", c.do("AUTH", "a", "b", "c"), errReply(errSyntax))
	check(t, "still locked", c.do("GET", "k"), errReply(errNoAuth))
	check(t, "AUTH", c.do("AUTH", "s3cret"), "OK")
	check(t, "GET after AUTH", c.do("GET", "k"), nil)
	check(t, "AUTH default user", ts.dial(t).do("AUTH", "default", "s3cret"), "OK")

	h := ts.dial(t)
	check(t, "HELLO bad AUTH", h.do("HELLO", "3", "AUTH", "default", "nope"), errReply(errWrongPass))
	if _, ok := h.do("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "n1").(mapReply); !ok {
		t.Fatal("HELLO 3 AUTH did not reply with a map")
	}
	check(t, "after HELLO AUTH", h.do("CLIENT", "GETNAME"), bulk("n1"))
	check(t, "QUIT before AUTH", ts.dial(t).do("QUIT"), "OK")
}

func TestSelect(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	check(t, "SET in default", c.do("SET", "k", "in-default"), "OK")
	check(t, "SELECT 1", c.do("SELECT", "1"), "OK") // sorted: default, other
	check(t, "GET in other", c.do("GET", "k"), nil)
	check(t, "SET in other", c.do("SET", "k", "in-other"), "OK")
	check(t, "SELECT default", c.do("SELECT", "default"), "OK")
	check(t, "GET in default", c.do("GET", "k"), bulk("in-default"))
	check(t, "SELECT other", c.do("SELECT", "other"), "OK")
	check(t, "GET in other", c.do("GET", "k"), bulk("in-other"))
	check(t, "SELECT 0", c.do("SELECT", "0"), "OK")
	check(t, "GET in 0", c.do("GET", "k"), bulk("in-default"))
	check(t, "SELECT 2", c.do("SELECT", "2"), errReply(errIndexRange))
	check(t, "SELECT -1", c.do("SELECT", "-1"), errReply(errIndexRange))
	check(t, "SELECT nosuch", c.do("SELECT", "nosuch"), errReply("ERR no such dataspace 'nosuch'"))
	check(t, "still in default", c.do("GET", "k"), bulk("in-default"))
	// A dataspace whose name is a number is selected by name first.
	if _, err := ts.db.CreateDataspace("5", holdfast.DataspaceOptions{}); err != nil {
		t.Fatal(err)
	}
	check(t, "SELECT 5 by name", c.do("SELECT", "5"), "OK")
	check(t, "SET in 5", c.do("SET", "k", "in-5"), "OK")
	check(t, "SELECT 0 by index", c.do("SELECT", "0"), "OK") // sorted: 5, default, other
	check(t, "GET in index 0", c.do("GET", "k"), bulk("in-5"))
	// A dropped dataspace is reported, not silently replaced.
	check(t, "SELECT other", c.do("SELECT", "other"), "OK")
	if err := ts.db.DropDataspace("other"); err != nil {
		t.Fatal(err)
	}
	check(t, "GET in dropped", c.do("GET", "k"), errReply("ERR no such dataspace 'other'; SELECT an existing one"))
	// The default dataspace of a new connection is "default".
	check(t, "new connection", ts.dial(t).do("GET", "k"), bulk("in-default"))
}

func TestMSetIsAtomic(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	tooLong := strings.Repeat("k", holdfast.DefaultMaxKeySizeBytes+1)
	got := c.do("MSET", "a", "1", tooLong, "2", "b", "3")
	if e, ok := got.(errReply); !ok || !strings.Contains(string(e), "key too large") {
		t.Fatalf("MSET with an oversize key = %#v, want a key-too-large error", got)
	}
	check(t, "nothing written", c.do("MGET", "a", "b"), []any{nil, nil})
	check(t, "MSET", c.do("MSET", "a", "1", "b", "2", "a", "3"), "OK")
	check(t, "last write of a key wins", c.do("MGET", "a", "b"), []any{bulk("3"), bulk("2")})

	// Concurrent readers never see half of an MSET.
	ctx := context.Background()
	ds, _ := ts.db.Dataspace("default")
	stop := make(chan struct{})
	var torn error
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			page, err := ds.Scan(ctx, holdfast.ScanOptions{Prefix: []byte("pair:")})
			if err != nil {
				torn = err
				return
			}
			if len(page.KVs) == 2 && string(page.KVs[0].Value.Data) != string(page.KVs[1].Value.Data) {
				torn = fmt.Errorf("torn MSET: %q != %q", page.KVs[0].Value.Data, page.KVs[1].Value.Data)
				return
			}
		}
	})
	for i := range 50 {
		v := strconv.Itoa(i)
		check(t, "MSET pair", c.do("MSET", "pair:a", v, "pair:b", v), "OK")
	}
	close(stop)
	wg.Wait()
	if torn != nil {
		t.Fatal(torn)
	}
}

func TestIncrErrors(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	steps := []struct {
		args []string
		want any
	}{
		{[]string{"SET", "s", "abc"}, "OK"},
		{[]string{"INCR", "s"}, errReply(errNotInteger)},
		{[]string{"DECR", "s"}, errReply(errNotInteger)},
		{[]string{"GET", "s"}, bulk("abc")},
		{[]string{"INCRBY", "n", "x"}, errReply(errNotInteger)},
		{[]string{"INCRBY", "n", "1.5"}, errReply(errNotInteger)},
		{[]string{"INCRBY", "n", "99999999999999999999"}, errReply(errNotInteger)},
		{[]string{"GET", "n"}, nil},
		{[]string{"SET", "max", "9223372036854775807"}, "OK"},
		{[]string{"INCR", "max"}, errReply("ERR increment or decrement would overflow")}, // as Redis says it
		{[]string{"GET", "max"}, bulk("9223372036854775807")},
		{[]string{"DECRBY", "max", "-9223372036854775808"}, errReply(errDecrOverflow)},
		{[]string{"SET", "sp", " 1"}, "OK"},
		{[]string{"INCR", "sp"}, errReply(errNotInteger)},
		{[]string{"INCR", "fresh"}, int64(1)},
		{[]string{"DECRBY", "fresh", "-9"}, int64(10)},
		{[]string{"INCR"}, errReply("ERR wrong number of arguments for 'incr' command")},
		{[]string{"INCRBY", "fresh"}, errReply("ERR wrong number of arguments for 'incrby' command")},
	}
	for i, s := range steps {
		check(t, fmt.Sprintf("step %d %q", i, s.args), c.do(s.args...), s.want)
	}
}

func TestScan(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	const n = 250
	var cmds [][]string
	for i := range n {
		cmds = append(cmds, []string{"SET", fmt.Sprintf("user:%03d", i), "v"})
	}
	cmds = append(cmds, []string{"SET", "zzz", "v"}, []string{"SET", "aaa", "v"})
	c.send(cmds...)
	for range cmds {
		check(t, "SET", c.read(), "OK")
	}
	scanAll := func(extra ...string) []string {
		var keys []string
		cursor := "0"
		for pages := 0; ; pages++ {
			if pages > 2*n {
				t.Fatal("SCAN does not end")
			}
			r, ok := c.do(append([]string{"SCAN", cursor}, extra...)...).([]any)
			if !ok || len(r) != 2 {
				t.Fatalf("SCAN reply %#v", r)
			}
			for _, k := range r[1].([]any) {
				keys = append(keys, string(k.([]byte)))
			}
			cursor = string(r[0].([]byte))
			if cursor == "0" {
				return keys
			}
		}
	}
	all := scanAll("COUNT", "7")
	if len(all) != n+2 || all[0] != "aaa" || all[len(all)-1] != "zzz" {
		t.Fatalf("SCAN returned %d keys (%q ... %q), want %d, each once, in order", len(all), all[0], all[len(all)-1], n+2)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1] >= all[i] {
			t.Fatalf("SCAN order: %q then %q", all[i-1], all[i])
		}
	}
	if got := scanAll("MATCH", "user:1?5", "COUNT", "3"); !reflect.DeepEqual(got, []string{"user:105", "user:115", "user:125", "user:135", "user:145", "user:155", "user:165", "user:175", "user:185", "user:195"}) {
		t.Fatalf("SCAN MATCH user:1?5 = %q", got)
	}
	if got := scanAll("MATCH", "*z"); !reflect.DeepEqual(got, []string{"zzz"}) {
		t.Fatalf("SCAN MATCH *z = %q", got)
	}
	if got := scanAll("TYPE", "hash"); len(got) != 0 {
		t.Fatalf("SCAN TYPE hash = %q", got)
	}
	check(t, "default COUNT", len(c.do("SCAN", "0").([]any)[1].([]any)), DefaultScanCount)
	check(t, "bad cursor", c.do("SCAN", "nothex"), errReply(errInvalidCursor))
	check(t, "bad COUNT", c.do("SCAN", "0", "COUNT", "0"), errReply(errSyntax))
	check(t, "dangling option", c.do("SCAN", "0", "MATCH"), errReply(errSyntax))
}

// An I/O error fail-stops the dataspace: the write gets an error that says
// its outcome is unknown, later commands say the dataspace stopped.
func TestEngineErrors(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	check(t, "SET", c.do("SET", "k", "v"), "OK")
	ts.fs.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData), 1, syscall.EIO))
	got := c.do("SET", "k", "v2")
	if e, ok := got.(errReply); !ok || !strings.HasPrefix(string(e), "OUTCOMEUNKNOWN the write may or may not have been applied: ") {
		t.Fatalf("SET during a failed sync = %#v, want OUTCOMEUNKNOWN", got)
	}
	got = c.do("GET", "k")
	if e, ok := got.(errReply); !ok || !strings.HasPrefix(string(e), "IOERR ") {
		t.Fatalf("GET after fail-stop = %#v, want IOERR", got)
	}
	if info := string(c.do("INFO", "dataspaces").([]byte)); !strings.Contains(info, "dataspace_default:index=0,") || !strings.Contains(info, "state=stopped: ") {
		t.Fatalf("INFO dataspaces after fail-stop:\n%s", info)
	}
	// Other dataspaces still serve.
	check(t, "SELECT other", c.do("SELECT", "other"), "OK")
	check(t, "SET in other", c.do("SET", "k", "v"), "OK")
}

// Shutdown lets the command in flight finish and reply, then closes.
func TestShutdownGraceful(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
		if strings.EqualFold(string(args[0]), "slow") {
			close(entered)
			<-release
		}
		w.WriteOK()
	})
	ts := startServer(t, Config{Handler: h}, HandlerOptions{})
	idle := ts.dial(t)
	check(t, "idle PING", idle.do("PING"), "OK")
	busy := ts.dial(t)
	busy.send([]string{"SLOW"}, []string{"NEVER-RUN"})
	<-entered
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	idle.expectClosed()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a command was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	check(t, "in-flight reply", busy.read(), "OK")
	busy.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := <-ts.serve; err != ErrServerClosed {
		t.Fatalf("Serve = %v, want ErrServerClosed", err)
	}
	if nc, err := net.Dial("tcp", ts.addr); err == nil {
		nc.Close()
		t.Fatal("listener still accepting after Shutdown")
	}
}

// A shutdown that cuts a long pipeline delivers the replies of every
// command it executed, even though the client's later commands are still
// unread: the connection sends FIN and drains instead of closing with
// unread input, which would send RST and can destroy the replies in the
// client's receive queue (replies to applied writes).
func TestShutdownDeliversRepliesToPipeline(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
		if strings.EqualFold(string(args[0]), "slow") {
			close(entered)
			<-release
		}
		w.WriteOK()
	})
	ts := startServer(t, Config{Handler: h}, HandlerOptions{})
	c := ts.dial(t)
	cmds := [][]string{{"SET", "a", "1"}, {"SLOW"}}
	for i := 0; i < 4000; i++ { // ~100 KB: more than the server reads ahead
		cmds = append(cmds, []string{"SET", fmt.Sprintf("key-%04d", i), "value"})
	}
	go c.nc.Write(func() []byte {
		var buf []byte
		for _, cmd := range cmds {
			args := make([][]byte, len(cmd))
			for i, a := range cmd {
				args[i] = []byte(a)
			}
			buf = AppendCommand(buf, args...)
		}
		return buf
	}())
	<-entered
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	// Only now read: the server has closed its side.
	check(t, "reply to SET a", c.read(), "OK")
	check(t, "reply to SLOW (in flight at shutdown)", c.read(), "OK")
	if v, err := readReply(c.br); err != io.EOF {
		t.Fatalf("after the executed commands: %#v, %v; want EOF (FIN, not RST, and no more commands executed)", v, err)
	}
}

// Shutdown gives up at its context's deadline and closes connections hard.
func TestShutdownDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := HandlerFunc(func(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		w.WriteOK()
	})
	ts := startServer(t, Config{Handler: h}, HandlerOptions{})
	c := ts.dial(t)
	c.send([]string{"SLOW"})
	for ts.srv.NumConns() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the command start
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if n := ts.srv.NumConns(); n != 0 {
		t.Fatalf("%d connections after a hard close", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: 100 * time.Millisecond}, HandlerOptions{})
	c := ts.dial(t)
	check(t, "PING", c.do("PING"), "PONG")
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

// A panicking handler loses its own connection, not the server.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	h := HandlerFunc(func(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
		if strings.EqualFold(string(args[0]), "boom") {
			panic("broken invariant")
		}
		w.WriteOK()
	})
	ts := startServer(t, Config{Handler: h}, HandlerOptions{})
	bystander := ts.dial(t)
	check(t, "bystander", bystander.do("PING"), "OK")
	c := ts.dial(t)
	c.send([]string{"BOOM"})
	c.expectClosed()
	check(t, "bystander after the panic", bystander.do("PING"), "OK")
	check(t, "new connection", ts.dial(t).do("PING"), "OK")
}
