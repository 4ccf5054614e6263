package resp

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast"
)

// Error replies. Redis's wording is kept wherever Redis has one, so
// clients that match on it behave the same. The codes holdfast adds:
//
//	IOERR           the dataspace fail-stopped after an I/O error (I5); it
//	                serves nothing until reopened. The engine's message
//	                follows, naming the dataspace and the cause.
//	CORRUPT         stored data failed verification (I4); the message names
//	                the file and offset.
//	OUTCOMEUNKNOWN  the write reached the log but the log failed before it
//	                was known durable: it may or may not be applied after
//	                recovery (I3). Read the key back before retrying a
//	                non-idempotent write (INCR).
//	TRYAGAIN        the database is quiesced for a volume snapshot; the
//	                write was not applied. Redis clients retry TRYAGAIN.
//
// A write that gets any other error was not applied.
const (
	errSyntax         = "ERR syntax error"
	errNotInteger     = "ERR value is not an integer or out of range"
	errNoAuth         = "NOAUTH Authentication required."
	errWrongPass      = "WRONGPASS invalid username-password pair or user is disabled."
	errIndexRange     = "ERR DB index is out of range"
	errInvalidCursor  = "ERR invalid cursor"
	errNoExpiry       = "ERR holdfast does not support key expiry (EX, PX, EXAT, PXAT); keys never expire"
	errNoPassword     = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errHelloNoAuth    = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	errNoProto        = "NOPROTO unsupported protocol version"
	errBadClientName  = "ERR Client names cannot contain spaces, newlines or special characters."
	errDecrOverflow   = "ERR decrement would overflow"
	errTooMuchContend = "ERR SET ... GET: the key kept changing; try again"
)

// Reply limits of the binding.
const (
	// DefaultScanCount is SCAN's COUNT when none is given (Redis's 10).
	DefaultScanCount = 10
	// maxUnknownArgsChars bounds the arguments quoted in an unknown
	// command's error, as Redis does (128 characters).
	maxUnknownArgsChars = 128
	// maxSetGetAttempts bounds SET ... GET's compare-and-swap retries.
	maxSetGetAttempts = 100
	// RedisCompatVersion is the Redis version whose replies this binding
	// follows; it is what INFO's redis_version and HELLO's version say,
	// since clients use it to decide which commands to send.
	RedisCompatVersion = "7.0.0"
	// DefaultDataspace is the dataspace a new connection uses.
	DefaultDataspace = "default"
)

// HandlerOptions configure the engine binding.
type HandlerOptions struct {
	// Password, when not empty, is required by AUTH (or HELLO ... AUTH)
	// before any command other than AUTH, HELLO and QUIT. The user name,
	// if given, must be "default".
	Password string
	// DefaultDataspace is selected on a new connection (default
	// "default"). It need not exist: commands then report that it does
	// not until SELECT picks one that does.
	DefaultDataspace string
	// Version is holdfast's version, shown by INFO.
	Version string
	// ConnCount, if set, reports the open connections for INFO.
	ConnCount func() int
}

// DBHandler binds the Redis commands to a holdfast.DB. Each connection
// works on one dataspace at a time, chosen with SELECT by name or by its
// index in the sorted list of names.
//
// Durability: a write command replies only after the engine's write
// returns, so under sync=always its reply means the write is on stable
// storage.
type DBHandler struct {
	db    *holdfast.DB
	opts  HandlerOptions
	start time.Time
}

// NewDBHandler returns the binding for db.
func NewDBHandler(db *holdfast.DB, opts HandlerOptions) *DBHandler {
	if opts.DefaultDataspace == "" {
		opts.DefaultDataspace = DefaultDataspace
	}
	return &DBHandler{db: db, opts: opts, start: time.Now()}
}

// NewConn initialises a connection: it selects the default dataspace. Set
// it as Config.NewConn.
func (h *DBHandler) NewConn(c *ConnState) { c.Dataspace = h.opts.DefaultDataspace }

// command is one entry of the command table.
type command struct {
	// arity follows Redis: n > 0 means exactly n arguments including the
	// name; n < 0 means at least -n.
	arity int
	// noAuth commands run before AUTH.
	noAuth bool
	run    func(h *DBHandler, ctx context.Context, c *ConnState, args [][]byte, w *Writer)
	// submit, set for writes instead of run, queues the write without
	// waiting and returns what writes the reply (waiting for the
	// outcome). Pipelined writes are submitted one after another and
	// answered in order, so they share the engine's commit groups.
	submit submitFunc
}

type submitFunc func(h *DBHandler, ctx context.Context, c *ConnState, args [][]byte) func(w *Writer)

// commands is the command table, by lower-case name.
var commands map[string]command

func init() {
	commands = map[string]command{
		"ping":    {-1, false, (*DBHandler).ping, nil},
		"echo":    {2, false, (*DBHandler).echo, nil},
		"hello":   {-1, true, (*DBHandler).hello, nil},
		"auth":    {-2, true, (*DBHandler).auth, nil},
		"quit":    {-1, true, (*DBHandler).quit, nil},
		"select":  {2, false, (*DBHandler).selectDS, nil},
		"get":     {2, false, (*DBHandler).get, nil},
		"set":     {-3, false, nil, (*DBHandler).submitSet},
		"del":     {-2, false, nil, (*DBHandler).submitDel},
		"exists":  {-2, false, (*DBHandler).exists, nil},
		"mget":    {-2, false, (*DBHandler).mget, nil},
		"mset":    {-3, false, nil, (*DBHandler).submitMSet},
		"incr":    {2, false, nil, submitIncrBy(1)},
		"decr":    {2, false, nil, submitIncrBy(-1)},
		"incrby":  {3, false, nil, submitIncrBy(0)},
		"decrby":  {3, false, nil, submitIncrBy(0)},
		"scan":    {-2, false, (*DBHandler).scan, nil},
		"dbsize":  {1, false, (*DBHandler).dbsize, nil},
		"info":    {-1, false, (*DBHandler).info, nil},
		"config":  {-2, false, (*DBHandler).config, nil},
		"client":  {-2, false, (*DBHandler).client, nil},
		"command": {-1, false, (*DBHandler).command, nil},
	}
}

// KnownCommand reports whether name (any case) is in DBHandler's command
// table. Metrics use it to label commands from a bounded set.
func KnownCommand(name string) bool {
	_, ok := commands[strings.ToLower(name)]
	return ok
}

// Exec runs one command.
func (h *DBHandler) Exec(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	h.begin(ctx, c, args)(w)
}

// begin checks a command and starts it: a write is submitted at once; the
// returned function writes the reply (for a write, once it is known).
func (h *DBHandler) begin(ctx context.Context, c *ConnState, args [][]byte) func(w *Writer) {
	name := strings.ToLower(string(args[0]))
	cmd, ok := commands[name]
	if !ok {
		return replyError(unknownCommand(args))
	}
	if cmd.arity > 0 && len(args) != cmd.arity || cmd.arity < 0 && len(args) < -cmd.arity {
		return replyError(wrongArity(name))
	}
	if h.opts.Password != "" && !c.Authenticated && !cmd.noAuth {
		return replyError(errNoAuth)
	}
	if cmd.submit != nil {
		return cmd.submit(h, ctx, c, args)
	}
	return func(w *Writer) { cmd.run(h, ctx, c, args, w) }
}

func replyError(msg string) func(w *Writer) { return func(w *Writer) { w.WriteError(msg) } }

// unknownCommand words the error as Redis 7 does, quoting at most 128
// characters of the arguments.
func unknownCommand(args [][]byte) string {
	var quoted strings.Builder
	for _, a := range args[1:] {
		if quoted.Len() >= maxUnknownArgsChars {
			break
		}
		a = a[:min(len(a), maxUnknownArgsChars-quoted.Len())]
		fmt.Fprintf(&quoted, "'%s' ", a)
	}
	name := args[0][:min(len(args[0]), maxUnknownArgsChars)]
	return fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", name, quoted.String())
}

func wrongArity(name string) string {
	return fmt.Sprintf("ERR wrong number of arguments for '%s' command", name)
}

func unknownSubcommand(sub []byte, cmd string) string {
	return fmt.Sprintf("ERR unknown subcommand '%.128s'. Try %s HELP.", sub, cmd)
}

// errorText maps an engine error to an error reply (see the codes above).
func errorText(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, holdfast.ErrOutcomeUnknown):
		return "OUTCOMEUNKNOWN the write may or may not have been applied: " + msg
	case errors.Is(err, holdfast.ErrFailStop):
		return "IOERR " + msg
	case errors.Is(err, holdfast.ErrQuiesced):
		return "TRYAGAIN " + msg
	case errors.Is(err, holdfast.ErrCorrupt):
		return "CORRUPT " + msg
	case errors.Is(err, holdfast.ErrOverflow):
		return "ERR increment or decrement would overflow"
	case errors.Is(err, holdfast.ErrNotInteger):
		return errNotInteger
	default:
		return "ERR " + msg
	}
}

// dataspace returns the connection's dataspace, or writes why not.
func (h *DBHandler) dataspace(c *ConnState, w *Writer) (*holdfast.Dataspace, bool) {
	ds, msg := h.lookup(c)
	if ds == nil {
		w.WriteError(msg)
		return nil, false
	}
	return ds, true
}

func (h *DBHandler) ping(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	switch len(args) {
	case 1:
		w.WriteSimpleString("PONG")
	case 2:
		w.WriteBulk(args[1])
	default:
		w.WriteError(wrongArity("ping"))
	}
}

func (h *DBHandler) echo(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	w.WriteBulk(args[1])
}

func (h *DBHandler) quit(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	w.WriteOK()
	c.CloseAfterReply()
}

// checkPassword reports whether user and pass are the configured
// credentials, in constant time.
func (h *DBHandler) checkPassword(user, pass []byte) bool {
	ok := subtle.ConstantTimeCompare(pass, []byte(h.opts.Password)) == 1
	return ok && (user == nil || string(user) == "default")
}

// auth: AUTH [username] password.
func (h *DBHandler) auth(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	if len(args) > 3 {
		w.WriteError(errSyntax)
		return
	}
	if h.opts.Password == "" {
		w.WriteError(errNoPassword)
		return
	}
	var user []byte
	if len(args) == 3 {
		user = args[1]
	}
	if !h.checkPassword(user, args[len(args)-1]) {
		w.WriteError(errWrongPass)
		return
	}
	c.Authenticated = true
	w.WriteOK()
}

// hello: HELLO [protover [AUTH username password] [SETNAME clientname]].
func (h *DBHandler) hello(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	proto := w.Protocol()
	if len(args) >= 2 {
		v, ok := parseInt(args[1])
		if !ok {
			w.WriteError("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != RESP2 && v != RESP3 {
			w.WriteError(errNoProto)
			return
		}
		proto = int(v)
	}
	var user, pass, name []byte
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch strings.ToUpper(string(args[i])) {
		case "AUTH":
			if more < 2 {
				w.WriteError(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", args[i]))
				return
			}
			user, pass = args[i+1], args[i+2]
			i += 2
		case "SETNAME":
			if more < 1 {
				w.WriteError(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", args[i]))
				return
			}
			name = args[i+1]
			i++
		default:
			w.WriteError(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", args[i]))
			return
		}
	}
	if pass != nil {
		if h.opts.Password == "" {
			w.WriteError(errNoPassword)
			return
		}
		if !h.checkPassword(user, pass) {
			w.WriteError(errWrongPass)
			return
		}
		c.Authenticated = true
	}
	if h.opts.Password != "" && !c.Authenticated {
		w.WriteError(errHelloNoAuth)
		return
	}
	if name != nil {
		if !validClientName(name) {
			w.WriteError(errBadClientName)
			return
		}
		c.Name = string(name)
	}
	w.SetProtocol(proto)
	w.WriteMap(7)
	w.WriteBulkString("server")
	w.WriteBulkString("holdfast")
	w.WriteBulkString("version")
	w.WriteBulkString(RedisCompatVersion)
	w.WriteBulkString("proto")
	w.WriteInt(int64(proto))
	w.WriteBulkString("id")
	w.WriteInt(int64(c.ID))
	w.WriteBulkString("mode")
	w.WriteBulkString("standalone")
	w.WriteBulkString("role")
	w.WriteBulkString("master")
	w.WriteBulkString("modules")
	w.WriteArray(0)
}

// selectDS: SELECT <name|index>. A name that exists wins; otherwise an
// integer is an index into the sorted names. The connection keeps the
// name, so creating or dropping other dataspaces does not move it.
func (h *DBHandler) selectDS(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	names := h.db.Dataspaces()
	arg := string(args[1])
	if slices.Contains(names, arg) {
		c.Dataspace = arg
		w.WriteOK()
		return
	}
	n, ok := parseInt(args[1])
	if !ok {
		w.WriteError(fmt.Sprintf("ERR no such dataspace '%s'", oneLine(arg)))
		return
	}
	if n < 0 || n >= int64(len(names)) {
		w.WriteError(errIndexRange)
		return
	}
	c.Dataspace = names[n]
	w.WriteOK()
}

func (h *DBHandler) get(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	ds, ok := h.dataspace(c, w)
	if !ok {
		return
	}
	v, err := ds.Get(ctx, args[1])
	switch {
	case err == nil:
		w.WriteBulk(v.Data)
	case errors.Is(err, holdfast.ErrNotFound):
		w.WriteNull()
	default:
		w.WriteError(errorText(err))
	}
}

// lookup returns the connection's dataspace, or the error reply saying
// why there is none.
func (h *DBHandler) lookup(c *ConnState) (*holdfast.Dataspace, string) {
	ds, err := h.db.Dataspace(c.Dataspace)
	if err != nil {
		if errors.Is(err, holdfast.ErrNoDataspace) {
			return nil, fmt.Sprintf("ERR no such dataspace '%s'; SELECT an existing one", c.Dataspace)
		}
		return nil, errorText(err)
	}
	return ds, ""
}

// setOptions parses SET's options. Expiry options get errNoExpiry:
// holdfast keys never expire. KEEPTTL is accepted and does nothing, since
// no key has a time to live to keep.
func setOptions(args [][]byte) (nx, xx, get bool, errMsg string) {
	for _, a := range args[3:] {
		switch strings.ToUpper(string(a)) {
		case "NX":
			nx = true
		case "XX":
			xx = true
		case "GET":
			get = true
		case "KEEPTTL":
		case "EX", "PX", "EXAT", "PXAT":
			return false, false, false, errNoExpiry
		default:
			return false, false, false, errSyntax
		}
	}
	if nx && xx {
		return false, false, false, errSyntax
	}
	return nx, xx, get, ""
}

// submitSet: SET key value [NX | XX] [GET] [KEEPTTL]. SET ... GET reads
// before it writes, so it runs when its reply is due (and is never
// batched: see CanBatch).
func (h *DBHandler) submitSet(ctx context.Context, c *ConnState, args [][]byte) func(w *Writer) {
	nx, xx, get, msg := setOptions(args)
	if msg != "" {
		return replyError(msg)
	}
	ds, msg := h.lookup(c)
	if ds == nil {
		return replyError(msg)
	}
	key, value := args[1], args[2]
	if get {
		return func(w *Writer) { h.setGet(ctx, ds, key, value, nx, xx, w) }
	}
	var opts []holdfast.WriteOption
	if nx {
		opts = append(opts, holdfast.IfAbsent())
	}
	if xx {
		opts = append(opts, holdfast.IfExists())
	}
	p := ds.PutAsync(ctx, key, value, opts...)
	return func(w *Writer) {
		_, err := p.Wait()
		switch {
		case err == nil:
			w.WriteOK()
		case nx && errors.Is(err, holdfast.ErrExists), xx && errors.Is(err, holdfast.ErrNotFound):
			w.WriteNull() // the condition did not hold; nothing was written
		default:
			w.WriteError(errorText(err))
		}
	}
}

// setGet is SET ... GET: it replies with the old value (or null) and
// writes only if the old value is still the one it read, retrying on a
// race, so the pair is atomic.
func (h *DBHandler) setGet(ctx context.Context, ds *holdfast.Dataspace, key, value []byte, nx, xx bool, w *Writer) {
	for range maxSetGetAttempts {
		old, err := ds.Get(ctx, key)
		exists := err == nil
		if err != nil && !errors.Is(err, holdfast.ErrNotFound) {
			w.WriteError(errorText(err))
			return
		}
		reply := func() {
			if exists {
				w.WriteBulk(old.Data)
			} else {
				w.WriteNull()
			}
		}
		if nx && exists || xx && !exists {
			reply()
			return
		}
		var version uint64 // 0: the key must not exist
		if exists {
			version = old.Seq
		}
		_, err = ds.Put(ctx, key, value, holdfast.IfVersion(version))
		if errors.Is(err, holdfast.ErrVersionMismatch) {
			continue
		}
		if err != nil {
			w.WriteError(errorText(err))
			return
		}
		reply()
		return
	}
	w.WriteError(errTooMuchContend)
}

// submitDel deletes each distinct key; the deletes are submitted together
// so they share the engine's group commits. Unlike Redis's, a multi-key
// DEL is not atomic (each key's delete is): holdfast's Batch does not
// report which keys existed, and DEL must reply with that count.
func (h *DBHandler) submitDel(ctx context.Context, c *ConnState, args [][]byte) func(w *Writer) {
	ds, msg := h.lookup(c)
	if ds == nil {
		return replyError(msg)
	}
	keys := uniqueKeys(args[1:])
	ps := make([]*holdfast.Pending, len(keys))
	for i, k := range keys {
		ps[i] = ds.DeleteAsync(ctx, k)
	}
	return func(w *Writer) {
		var n int64
		var err error
		for _, p := range ps {
			res, e := p.Wait()
			// Report an unknown outcome before any other error: the
			// client must check before retrying.
			if e != nil && (err == nil || errors.Is(e, holdfast.ErrOutcomeUnknown)) {
				err = e
			}
			n += boolInt(res.Existed)
		}
		switch {
		case err != nil && len(keys) > 1:
			w.WriteError(errorText(err) + " (DEL of several keys is not atomic: other keys may have been deleted)")
		case err != nil:
			w.WriteError(errorText(err))
		default:
			w.WriteInt(n)
		}
	}
}

func uniqueKeys(keys [][]byte) [][]byte {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, k)
		}
	}
	return out
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// exists counts the arguments that name existing keys (a key named twice
// counts twice, as in Redis).
func (h *DBHandler) exists(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	ds, ok := h.dataspace(c, w)
	if !ok {
		return
	}
	n := int64(0)
	for _, k := range args[1:] {
		_, err := ds.Get(ctx, k)
		switch {
		case err == nil:
			n++
		case errors.Is(err, holdfast.ErrNotFound):
		default:
			w.WriteError(errorText(err))
			return
		}
	}
	w.WriteInt(n)
}

// mget reads each key in turn (not one snapshot: the engine has none).
func (h *DBHandler) mget(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	ds, ok := h.dataspace(c, w)
	if !ok {
		return
	}
	vals := make([][]byte, len(args)-1)
	for i, k := range args[1:] {
		v, err := ds.Get(ctx, k)
		switch {
		case err == nil:
			vals[i] = v.Data
		case errors.Is(err, holdfast.ErrNotFound):
		default:
			w.WriteError(errorText(err))
			return
		}
	}
	w.WriteArray(len(vals))
	for _, v := range vals {
		if v == nil {
			w.WriteNull()
		} else {
			w.WriteBulk(v)
		}
	}
}

// submitMSet writes all pairs in one atomic batch: all or none.
func (h *DBHandler) submitMSet(ctx context.Context, c *ConnState, args [][]byte) func(w *Writer) {
	if len(args)%2 != 1 {
		return replyError(wrongArity("mset"))
	}
	ds, msg := h.lookup(c)
	if ds == nil {
		return replyError(msg)
	}
	var b holdfast.Batch
	for i := 1; i < len(args); i += 2 {
		b.Put(args[i], args[i+1])
	}
	p := ds.ApplyAsync(ctx, &b)
	return func(w *Writer) {
		if _, err := p.Wait(); err != nil {
			w.WriteError(errorText(err))
			return
		}
		w.WriteOK()
	}
}

// submitIncrBy returns INCR/DECR (fixed delta) or INCRBY/DECRBY (delta 0:
// read from the arguments).
func submitIncrBy(fixed int64) submitFunc {
	return func(h *DBHandler, ctx context.Context, c *ConnState, args [][]byte) func(w *Writer) {
		delta := fixed
		if fixed == 0 {
			d, ok := parseInt(args[2])
			if !ok {
				return replyError(errNotInteger)
			}
			delta = d
			if strings.EqualFold(string(args[0]), "decrby") {
				if d == math.MinInt64 {
					return replyError(errDecrOverflow)
				}
				delta = -d
			}
		}
		ds, msg := h.lookup(c)
		if ds == nil {
			return replyError(msg)
		}
		p := ds.IncrAsync(ctx, args[1], delta)
		return func(w *Writer) {
			res, err := p.Wait()
			if err != nil {
				w.WriteError(errorText(err))
				return
			}
			w.WriteInt(res.Int)
		}
	}
}

// scan: SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor
// is "0" to start, then the hex of the last key of the previous page (an
// opaque resume token to clients), and "0" again when the dataspace is
// exhausted. Keys written during a scan may or may not be returned; keys
// present throughout are returned exactly once, in byte order. As in
// Redis, COUNT is how many keys to examine, and MATCH filters those, so a
// page may be empty before the end.
func (h *DBHandler) scan(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	var after []byte
	if string(args[1]) != "0" {
		k, err := hex.DecodeString(string(args[1]))
		if err != nil || len(k) == 0 {
			w.WriteError(errInvalidCursor)
			return
		}
		after = k
	}
	count := DefaultScanCount
	var match []byte
	typ := ""
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			w.WriteError(errSyntax)
			return
		}
		switch strings.ToUpper(string(args[i])) {
		case "MATCH":
			match = args[i+1]
		case "COUNT":
			n, ok := parseInt(args[i+1])
			if !ok {
				w.WriteError(errNotInteger)
				return
			}
			if n < 1 {
				w.WriteError(errSyntax)
				return
			}
			count = int(min(n, holdfast.MaxScanLimit))
		case "TYPE":
			typ = strings.ToLower(string(args[i+1]))
		default:
			w.WriteError(errSyntax)
			return
		}
	}
	ds, ok := h.dataspace(c, w)
	if !ok {
		return
	}
	opts := holdfast.ScanOptions{After: after, Limit: count, KeysOnly: true}
	if match != nil {
		opts.Prefix = globPrefix(match)
	}
	page, err := ds.Scan(ctx, opts)
	if err != nil {
		w.WriteError(errorText(err))
		return
	}
	keys := make([][]byte, 0, len(page.KVs))
	for _, kv := range page.KVs {
		if typ != "" && typ != "string" {
			continue // every holdfast value is a string
		}
		if match != nil && !globMatch(match, kv.Key, false) {
			continue
		}
		keys = append(keys, kv.Key)
	}
	w.WriteArray(2)
	if page.Next == nil {
		w.WriteBulkString("0")
	} else {
		w.WriteBulkString(hex.EncodeToString(page.Next))
	}
	w.WriteArray(len(keys))
	for _, k := range keys {
		w.WriteBulk(k)
	}
}

func (h *DBHandler) dbsize(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	ds, ok := h.dataspace(c, w)
	if !ok {
		return
	}
	w.WriteInt(int64(ds.Len()))
}

// info: INFO [section ...]. Sections: server, clients, persistence,
// keyspace (one "dbN" line per dataspace, N its SELECT index) and
// dataspaces (holdfast's own: name, sync policy, state).
func (h *DBHandler) info(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	all := len(args) == 1
	want := map[string]bool{}
	for _, a := range args[1:] {
		s := strings.ToLower(string(a))
		if s == "all" || s == "everything" || s == "default" {
			all = true
		}
		want[s] = true
	}
	show := func(s string) bool { return all || want[s] }
	var b strings.Builder
	section := func(title string) {
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", title)
	}
	names := h.db.Dataspaces()
	if show("server") {
		section("Server")
		fmt.Fprintf(&b, "redis_version:%s\r\n", RedisCompatVersion)
		fmt.Fprintf(&b, "holdfast_version:%s\r\n", h.opts.Version)
		b.WriteString("redis_mode:standalone\r\n")
		fmt.Fprintf(&b, "os:%s %s\r\n", runtime.GOOS, runtime.GOARCH)
		fmt.Fprintf(&b, "arch_bits:%d\r\n", strconv.IntSize)
		fmt.Fprintf(&b, "go_version:%s\r\n", runtime.Version())
		up := time.Since(h.start)
		fmt.Fprintf(&b, "uptime_in_seconds:%d\r\n", int64(up.Seconds()))
		fmt.Fprintf(&b, "uptime_in_days:%d\r\n", int64(up.Hours()/24))
	}
	if show("clients") {
		section("Clients")
		if h.opts.ConnCount != nil {
			fmt.Fprintf(&b, "connected_clients:%d\r\n", h.opts.ConnCount())
		}
	}
	if show("persistence") {
		section("Persistence")
		b.WriteString("loading:0\r\n")
		b.WriteString("rdb_changes_since_last_save:0\r\n")
		b.WriteString("aof_enabled:1\r\n")
	}
	type dsInfo struct {
		name, sync, state string
		keys              int
		lastSeq           uint64
	}
	var infos []dsInfo
	if show("keyspace") || show("dataspaces") {
		for _, n := range names {
			ds, err := h.db.Dataspace(n)
			if err != nil {
				continue // dropped meanwhile
			}
			st := "ok"
			if err := ds.Err(); err != nil {
				st = "stopped: " + strings.NewReplacer(",", ";", "\r", " ", "\n", " ").Replace(err.Error())
			}
			infos = append(infos, dsInfo{n, ds.SyncPolicy().String(), st, ds.Len(), ds.LastSeq()})
		}
	}
	if show("keyspace") {
		section("Keyspace")
		for i, d := range infos {
			if d.keys > 0 {
				fmt.Fprintf(&b, "db%d:keys=%d,expires=0,avg_ttl=0\r\n", i, d.keys)
			}
		}
	}
	if show("dataspaces") {
		section("Dataspaces")
		for i, d := range infos {
			fmt.Fprintf(&b, "dataspace_%s:index=%d,keys=%d,last_seq=%d,sync=%s,state=%s\r\n", d.name, i, d.keys, d.lastSeq, d.sync, d.state)
		}
	}
	w.WriteVerbatim(b.String())
}

// config: CONFIG GET pattern [pattern ...]. A few read-only parameters,
// so that tools probing them (redis-benchmark asks for "save" and
// "appendonly") get true answers: appendonly is "yes", save is "" (no
// snapshots), appendfsync is "always" under sync=always and the
// holdfast policy ("interval:10ms") otherwise, databases is the number of
// dataspaces. Other subcommands are unknown.
func (h *DBHandler) config(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	if !strings.EqualFold(string(args[1]), "get") {
		w.WriteError(unknownSubcommand(args[1], "CONFIG"))
		return
	}
	if len(args) < 3 {
		w.WriteError(wrongArity("config|get"))
		return
	}
	appendfsync := holdfast.SyncAlways.String()
	if ds, err := h.db.Dataspace(c.Dataspace); err == nil {
		appendfsync = ds.SyncPolicy().String()
	}
	params := []struct{ name, value string }{
		{"appendfsync", appendfsync},
		{"appendonly", "yes"},
		{"databases", strconv.Itoa(len(h.db.Dataspaces()))},
		{"save", ""},
	}
	var hits [][2]string
	for _, p := range params {
		for _, pat := range args[2:] {
			if globMatch(pat, []byte(p.name), true) {
				hits = append(hits, [2]string{p.name, p.value})
				break
			}
		}
	}
	w.WriteMap(len(hits))
	for _, kv := range hits {
		w.WriteBulkString(kv[0])
		w.WriteBulkString(kv[1])
	}
}

// validClientName is Redis's rule: printable ASCII, no spaces.
func validClientName(name []byte) bool {
	for _, c := range name {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// client: CLIENT SETNAME | GETNAME | ID | INFO | SETINFO.
func (h *DBHandler) client(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	sub := strings.ToLower(string(args[1]))
	arity := map[string]int{"setname": 3, "getname": 2, "id": 2, "info": 2, "setinfo": 4}
	want, ok := arity[sub]
	if !ok {
		w.WriteError(unknownSubcommand(args[1], "CLIENT"))
		return
	}
	if len(args) != want {
		w.WriteError(wrongArity("client|" + sub))
		return
	}
	switch sub {
	case "setname":
		if !validClientName(args[2]) {
			w.WriteError(errBadClientName)
			return
		}
		c.Name = string(args[2])
		w.WriteOK()
	case "getname":
		if c.Name == "" {
			w.WriteNull()
		} else {
			w.WriteBulkString(c.Name)
		}
	case "id":
		w.WriteInt(int64(c.ID))
	case "info":
		w.WriteVerbatim(fmt.Sprintf("id=%d addr=%s name=%s age=%d db=%s resp=%d\n",
			c.ID, c.RemoteAddr, c.Name, int64(time.Since(c.Created).Seconds()), c.Dataspace, w.Protocol()))
	case "setinfo":
		// Client libraries send their name and version (go-redis does
		// on connect); accepted and not kept.
		w.WriteOK()
	}
}

// command: COMMAND [COUNT | DOCS | INFO]. Clients call it to learn the
// command table; an empty table makes them fall back to their defaults
// (redis-cli loses only its hints).
func (h *DBHandler) command(ctx context.Context, c *ConnState, args [][]byte, w *Writer) {
	if len(args) == 1 {
		w.WriteArray(0)
		return
	}
	switch strings.ToLower(string(args[1])) {
	case "count":
		w.WriteInt(int64(len(commands)))
	case "docs":
		w.WriteMap(0)
	case "info":
		// One entry per name asked for; null means "no details".
		w.WriteArray(len(args) - 2)
		for range args[2:] {
			w.WriteNullArray()
		}
	default:
		w.WriteError(unknownSubcommand(args[1], "COMMAND"))
	}
}
