package resp

import (
	"bufio"
	"math"
	"strconv"
	"strings"
)

// Protocol versions a client can choose with HELLO.
const (
	RESP2 = 2
	RESP3 = 3
)

// Writer encodes replies into a buffer; nothing reaches the client until
// Flush (or until the buffer fills). The server flushes once a pipeline's
// commands are all executed, so their replies leave together.
//
// Replies are encoded for the protocol version in force (RESP2 until the
// client sends HELLO 3). Types RESP2 lacks are encoded as Redis encodes
// them for RESP2 clients: null as "$-1", a map as a flat array of keys
// and values, a double as a bulk string, a boolean as the integer 0 or 1.
//
// Write errors are sticky: after one, writes are dropped and Flush and
// Err return it.
type Writer struct {
	bw    *bufio.Writer
	proto int
	buf   []byte // scratch for headers
	err   error
	// errors counts error replies written, for metrics (see Errors).
	errors int64
}

// NewWriter returns a Writer over bw speaking RESP2.
func NewWriter(bw *bufio.Writer) *Writer {
	return &Writer{bw: bw, proto: RESP2, buf: make([]byte, 0, 32)}
}

// Protocol returns the protocol version in force (RESP2 or RESP3).
func (w *Writer) Protocol() int { return w.proto }

// SetProtocol switches the encoding of later replies (HELLO 2 or 3).
// Other versions are ignored; the caller validates them.
func (w *Writer) SetProtocol(v int) {
	if v == RESP2 || v == RESP3 {
		w.proto = v
	}
}

// Flush sends the buffered replies.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

// Errors returns how many error replies the Writer has written; a caller
// that compares it before and after a command learns whether the command
// answered with an error (for metrics).
func (w *Writer) Errors() int64 { return w.errors }

// Buffered returns the number of bytes written and not yet flushed.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

// Err returns the first write error, if any.
func (w *Writer) Err() error { return w.err }

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	_, w.err = w.bw.Write(b)
}

func (w *Writer) writeString(s string) {
	if w.err != nil {
		return
	}
	_, w.err = w.bw.WriteString(s)
}

// header writes "<prefix><n>\r\n".
func (w *Writer) header(prefix byte, n int64) {
	w.buf = append(w.buf[:0], prefix)
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
	w.write(w.buf)
}

// WriteSimpleString writes a status reply, "+OK". Carriage returns and
// newlines in s are replaced by spaces: a simple string cannot hold them.
func (w *Writer) WriteSimpleString(s string) {
	w.writeString("+")
	w.writeString(oneLine(s))
	w.writeString("\r\n")
}

// WriteOK writes "+OK".
func (w *Writer) WriteOK() { w.writeString("+OK\r\n") }

// WriteError writes an error reply. msg starts with the error code, as
// Redis's do: "ERR syntax error", "WRONGPASS ...". A msg without a code
// (its first word not in upper case) gets "ERR " in front. Carriage
// returns and newlines are replaced by spaces.
func (w *Writer) WriteError(msg string) {
	w.errors++
	msg = oneLine(msg)
	w.writeString("-")
	if !hasErrorCode(msg) {
		w.writeString("ERR ")
	}
	w.writeString(msg)
	w.writeString("\r\n")
}

// hasErrorCode reports whether msg starts with an upper-case word
// followed by a space (or is one).
func hasErrorCode(msg string) bool {
	code, _, _ := strings.Cut(msg, " ")
	if code == "" {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !('A' <= c && c <= 'Z' || c == '_' || '0' <= c && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// WriteInt writes an integer reply, ":<n>".
func (w *Writer) WriteInt(n int64) { w.header(':', n) }

// WriteBulk writes a bulk string, "$<len>\r\n<b>\r\n". b may hold any
// bytes.
func (w *Writer) WriteBulk(b []byte) {
	w.header('$', int64(len(b)))
	w.write(b)
	w.writeString("\r\n")
}

// WriteBulkString writes s as a bulk string.
func (w *Writer) WriteBulkString(s string) {
	w.header('$', int64(len(s)))
	w.writeString(s)
	w.writeString("\r\n")
}

// WriteNull writes a null: "$-1" (the RESP2 null bulk string) or "_"
// (RESP3).
func (w *Writer) WriteNull() {
	if w.proto == RESP3 {
		w.writeString("_\r\n")
		return
	}
	w.writeString("$-1\r\n")
}

// WriteNullArray writes a null array: "*-1" (RESP2) or "_" (RESP3).
func (w *Writer) WriteNullArray() {
	if w.proto == RESP3 {
		w.writeString("_\r\n")
		return
	}
	w.writeString("*-1\r\n")
}

// WriteArray writes the header of an array of n elements; the caller
// writes the n elements next.
func (w *Writer) WriteArray(n int) { w.header('*', int64(n)) }

// WriteMap writes the header of a map of n key-value pairs; the caller
// writes 2n elements next, key then value. RESP2 gets an array of 2n.
func (w *Writer) WriteMap(n int) {
	if w.proto == RESP3 {
		w.header('%', int64(n))
		return
	}
	w.header('*', 2*int64(n))
}

// WriteSet writes the header of a set of n elements (RESP3 "~", RESP2 an
// array).
func (w *Writer) WriteSet(n int) {
	if w.proto == RESP3 {
		w.header('~', int64(n))
		return
	}
	w.header('*', int64(n))
}

// WriteDouble writes a floating-point reply: ",<f>" in RESP3 ("inf",
// "-inf", "nan" for the special values), a bulk string of the same text
// in RESP2.
func (w *Writer) WriteDouble(f float64) {
	var s string
	switch {
	case math.IsInf(f, 1):
		s = "inf"
	case math.IsInf(f, -1):
		s = "-inf"
	case math.IsNaN(f):
		s = "nan"
	default:
		s = strconv.FormatFloat(f, 'g', -1, 64)
	}
	if w.proto == RESP3 {
		w.writeString(",")
		w.writeString(s)
		w.writeString("\r\n")
		return
	}
	w.WriteBulkString(s)
}

// WriteBool writes a boolean: "#t"/"#f" in RESP3, ":1"/":0" in RESP2.
func (w *Writer) WriteBool(b bool) {
	switch {
	case w.proto == RESP3 && b:
		w.writeString("#t\r\n")
	case w.proto == RESP3:
		w.writeString("#f\r\n")
	case b:
		w.writeString(":1\r\n")
	default:
		w.writeString(":0\r\n")
	}
}

// WriteVerbatim writes text as a RESP3 verbatim string of format "txt"
// ("=<len>\r\ntxt:<text>\r\n"), or as a bulk string in RESP2. Redis
// replies to INFO this way.
func (w *Writer) WriteVerbatim(text string) {
	if w.proto != RESP3 {
		w.WriteBulkString(text)
		return
	}
	w.header('=', int64(len(text)+4))
	w.writeString("txt:")
	w.writeString(text)
	w.writeString("\r\n")
}
