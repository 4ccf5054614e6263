package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Reader limits. Each has a default; Redis's own value is given where it
// has one.
const (
	// DefaultMaxBulkBytes bounds one bulk string (one argument). Redis's
	// proto-max-bulk-len is 512 MiB; holdfast's largest value is
	// holdfast.DefaultMaxValueSizeBytes (16 MiB), so 32 MiB leaves
	// headroom for a larger configured value limit while a client cannot
	// make the server buffer half a gigabyte per argument.
	DefaultMaxBulkBytes = 32 << 20
	// DefaultMaxArrayElements bounds the number of arguments of one
	// command (Redis 6 used 1024*1024).
	DefaultMaxArrayElements = 1 << 20
	// DefaultMaxInlineBytes bounds an inline command line and any header
	// line (Redis's PROTO_INLINE_MAX_SIZE, 64 KiB).
	DefaultMaxInlineBytes = 64 << 10
	// DefaultMaxCommandBytes bounds the total size of one command's
	// arguments (plus argSliceOverheadBytes per argument): the batch
	// limit of the engine (64 MiB) plus headroom for keys and framing.
	// Redis bounds a client's whole query buffer at 1 GiB
	// (client-query-buffer-limit).
	DefaultMaxCommandBytes = 96 << 20

	// argSliceOverheadBytes is what one argument costs beyond its bytes
	// (a slice header), counted against MaxCommandBytes so that a million
	// empty arguments are not free.
	argSliceOverheadBytes = 24
	// bulkReadChunkBytes is the most a bulk string's buffer grows ahead
	// of the bytes that have arrived: a header declaring 512 MiB followed
	// by 10 bytes allocates at most this much.
	bulkReadChunkBytes = 64 << 10
	// argsPreallocMax caps the argument slice allocated from a declared
	// array length before the arguments arrive.
	argsPreallocMax = 64
)

// ReaderLimits bound what one command may carry. Zero fields take the
// defaults above.
type ReaderLimits struct {
	// MaxBulkBytes bounds one argument (bulk string), in bytes.
	MaxBulkBytes int
	// MaxArrayElements bounds the number of arguments of one command.
	MaxArrayElements int
	// MaxInlineBytes bounds an inline command line and any
	// '*<n>'/'$<n>' header line, in bytes.
	MaxInlineBytes int
	// MaxCommandBytes bounds the arguments of one command together, in
	// bytes (each argument counts 24 bytes more than its length).
	MaxCommandBytes int
}

func (l ReaderLimits) withDefaults() ReaderLimits {
	if l.MaxBulkBytes <= 0 {
		l.MaxBulkBytes = DefaultMaxBulkBytes
	}
	if l.MaxArrayElements <= 0 {
		l.MaxArrayElements = DefaultMaxArrayElements
	}
	if l.MaxInlineBytes <= 0 {
		l.MaxInlineBytes = DefaultMaxInlineBytes
	}
	if l.MaxCommandBytes <= 0 {
		l.MaxCommandBytes = DefaultMaxCommandBytes
	}
	return l
}

// ProtocolError is a malformed or oversize request. The connection's
// framing is lost after one: the server replies with Error() (an error
// reply text, "ERR Protocol error: ...", worded as Redis words it where
// Redis has a wording) and then closes the connection, as Redis does.
type ProtocolError struct {
	// Msg is the part after "Protocol error: ".
	Msg string
}

// Error returns the text of the error reply, "ERR Protocol error: <Msg>".
func (e *ProtocolError) Error() string { return "ERR Protocol error: " + e.Msg }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// IsProtocolError reports whether err is (or wraps) a *ProtocolError.
func IsProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

// Reader reads client requests from a buffered stream. It is not safe
// for concurrent use.
type Reader struct {
	br     *bufio.Reader
	limits ReaderLimits
	line   []byte // scratch for header and inline lines
}

// NewReader returns a Reader over br with the given limits (zero fields
// take the defaults).
func NewReader(br *bufio.Reader, limits ReaderLimits) *Reader {
	return &Reader{br: br, limits: limits.withDefaults()}
}

// Limits returns the limits in force (defaults filled in).
func (r *Reader) Limits() ReaderLimits { return r.limits }

// Buffered returns the number of bytes already read from the stream and
// not yet parsed: nonzero means the client has pipelined more input.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadCommand reads one command and returns its arguments (at least one;
// each a fresh slice the caller may keep). Empty commands — an empty
// inline line, "*0" or a negative array length — are skipped, as Redis
// skips them.
//
// Errors: io.EOF when the stream ends cleanly between commands;
// io.ErrUnexpectedEOF when it ends inside one; a *ProtocolError for a
// malformed or oversize request (reply with its Error() text, then close
// the connection); otherwise the stream's own error.
func (r *Reader) ReadCommand() ([][]byte, error) {
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return nil, err // io.EOF between commands is a clean end
		}
		var args [][]byte
		if b[0] == '*' {
			args, err = r.readArray()
		} else {
			args, err = r.readInline()
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(args) > 0 {
			return args, nil
		}
	}
}

// readLine reads up to and including '\n' and returns the line without
// its terminator ("\r\n", or a bare "\n", which Redis accepts for inline
// commands). A line longer than max bytes is an error named tooLong,
// reported as soon as more than max bytes without a newline have arrived
// (not when a buffer fills), as Redis does. The returned slice is valid
// until the next readLine.
func (r *Reader) readLine(max int, tooLong string) ([]byte, error) {
	r.line = r.line[:0]
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil { // wait for input
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		i := bytes.IndexByte(buf, '\n')
		if i >= 0 {
			buf = buf[:i+1]
		}
		r.line = append(r.line, buf...)
		r.br.Discard(len(buf))
		// The content so far, without the terminator: "\r\n", "\n", or
		// a '\r' that may be the start of one.
		content := len(r.line)
		if i >= 0 {
			content--
		}
		if content > 0 && r.line[content-1] == '\r' {
			content--
		}
		if content > max {
			return nil, &ProtocolError{Msg: tooLong}
		}
		if i >= 0 {
			line := r.line[:len(r.line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
	}
}

// readArray reads "*<n>\r\n" followed by n bulk strings.
func (r *Reader) readArray() ([][]byte, error) {
	line, err := r.readLine(r.limits.MaxInlineBytes, "too big mbulk count string")
	if err != nil {
		return nil, err
	}
	n, ok := parseInt(line[1:])
	if !ok || n > int64(r.limits.MaxArrayElements) {
		return nil, protoErr("invalid multibulk length")
	}
	if n <= 0 {
		return nil, nil // Redis ignores "*0" and "*-1" requests
	}
	args := make([][]byte, 0, min(n, argsPreallocMax))
	total := 0
	for range n {
		arg, err := r.readBulk(total)
		if err != nil {
			return nil, err
		}
		total += len(arg) + argSliceOverheadBytes
		args = append(args, arg)
	}
	return args, nil
}

// readBulk reads "$<n>\r\n<n bytes>\r\n". used is how many bytes of
// MaxCommandBytes the command's earlier arguments took.
func (r *Reader) readBulk(used int) ([]byte, error) {
	line, err := r.readLine(r.limits.MaxInlineBytes, "too big bulk count string")
	if err != nil {
		return nil, err
	}
	if len(line) == 0 || line[0] != '$' {
		got := byte('\n')
		if len(line) > 0 {
			got = line[0]
		}
		return nil, protoErr("expected '$', got '%c'", got)
	}
	n, ok := parseInt(line[1:])
	if !ok || n < 0 || n > int64(r.limits.MaxBulkBytes) {
		return nil, protoErr("invalid bulk length")
	}
	if used+int(n)+argSliceOverheadBytes > r.limits.MaxCommandBytes {
		return nil, protoErr("command exceeds %d bytes (MaxCommandBytes)", r.limits.MaxCommandBytes)
	}
	// Grow the buffer only as bytes arrive, at most bulkReadChunkBytes
	// (or doubling) ahead: never trust the declared length for an
	// allocation.
	size := int(n)
	buf := make([]byte, 0, min(size, bulkReadChunkBytes))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(size-len(buf), max(len(buf), bulkReadChunkBytes)))
		}
		m, err := r.br.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	var crlf [2]byte
	if _, err := io.ReadFull(r.br, crlf[:]); err != nil {
		return nil, err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return nil, protoErr("expected '\\r\\n' after bulk string of %d bytes", size)
	}
	return buf, nil
}

// readInline reads a space-separated command line, with Redis's quoting
// (sdssplitargs).
func (r *Reader) readInline() ([][]byte, error) {
	line, err := r.readLine(r.limits.MaxInlineBytes, "too big inline request")
	if err != nil {
		return nil, err
	}
	args, ok := splitArgs(line)
	if !ok {
		return nil, protoErr("unbalanced quotes in request")
	}
	if len(args) > r.limits.MaxArrayElements {
		return nil, protoErr("invalid multibulk length")
	}
	return args, nil
}

// parseInt parses a decimal int64 the way Redis's string2ll does: an
// optional '-', digits, no '+', no spaces, no leading zeros.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) > 1 && (b[0] == '0' || b[0] == '-' && b[1] == '0') {
		return 0, false
	}
	if b[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// splitArgs splits an inline command line as Redis's sdssplitargs does:
// arguments separated by white space; "double quotes" with the escapes
// \n \r \t \b \a \\ \" and \xHH; 'single quotes' with \' only. A closing
// quote must be followed by white space or the end of the line. It
// reports false for unbalanced quotes.
func splitArgs(line []byte) ([][]byte, bool) {
	var args [][]byte
	i := 0
	isSpace := func(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' }
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, true
		}
		var cur []byte
		inDQ, inSQ := false, false
		done := false
		for !done {
			if inDQ {
				if i == len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case c == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false // closing quote must be followed by a space
					}
					done = true
				default:
					cur = append(cur, c)
				}
			} else if inSQ {
				if i == len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, c)
				}
			} else {
				if i == len(line) {
					break
				}
				switch c := line[i]; {
				case c == ' ' || c == '\n' || c == '\r' || c == '\t':
					done = true
				case c == '"':
					inDQ = true
				case c == '\'':
					inSQ = true
				default:
					cur = append(cur, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		if cur == nil {
			cur = []byte{}
		}
		args = append(args, cur)
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// AppendCommand appends args encoded as a RESP array of bulk strings, the
// form clients send. Tests and the fuzz target use it to round-trip.
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}
