package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func newTestReader(in string, limits ReaderLimits) *Reader {
	return NewReader(bufio.NewReader(strings.NewReader(in)), limits)
}

// readAll reads commands until an error and returns them with the error.
func readAll(r *Reader) ([][]string, error) {
	var cmds [][]string
	for {
		args, err := r.ReadCommand()
		if err != nil {
			return cmds, err
		}
		var s []string
		for _, a := range args {
			s = append(s, string(a))
		}
		cmds = append(cmds, s)
	}
}

func TestReaderValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"array", "*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"empty bulk", "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", [][]string{{"GET", ""}}},
		{"binary bulk", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\x00c\r\n", [][]string{{"SET", "k", "a\r\nb\x00c"}}},
		{"pipelined", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", [][]string{{"PING"}, {"ECHO", "hi"}}},
		{"empty array skipped", "*0\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"negative array skipped", "*-1\r\n*-7\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"inline", "PING\r\n", [][]string{{"PING"}}},
		{"inline bare newline", "set a b\n", [][]string{{"set", "a", "b"}}},
		{"inline spaces", "  set \t a   b  \r\n", [][]string{{"set", "a", "b"}}},
		{"inline empty lines skipped", "\r\n\n   \r\nPING\r\n", [][]string{{"PING"}}},
		{"inline quotes", `set "a b" 'c d'` + "\r\n", [][]string{{"set", "a b", "c d"}}},
		{"inline escapes", `set "\x41\n\t\"\\" 'it\'s'` + "\r\n", [][]string{{"set", "A\n\t\"\\", "it's"}}},
		{"inline empty quoted", `set k ""` + "\r\n", [][]string{{"set", "k", ""}}},
		{"inline quote inside token", `a"b c"` + "\r\n", [][]string{{"ab c"}}},
		{"inline single quotes keep backslashes", `'a\nb'` + "\r\n", [][]string{{`a\nb`}}},
		{"inline bad hex kept literally", `"\xZZ"` + "\r\n", [][]string{{"xZZ"}}},
		{"inline then array", "PING\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}, {"PING"}}},
		{"largest multibulk", "*1\r\n$1\r\nx\r\n", [][]string{{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(newTestReader(tt.in, ReaderLimits{}))
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF after the commands", err)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxInlineBytes+1)
	small := ReaderLimits{MaxBulkBytes: 10, MaxArrayElements: 3, MaxInlineBytes: 32, MaxCommandBytes: 100}
	tests := []struct {
		name   string
		in     string
		limits ReaderLimits
		want   string // a ProtocolError's Error(), or "unexpected EOF"
	}{
		{"multibulk not a number", "*abc\r\n", ReaderLimits{}, "ERR Protocol error: invalid multibulk length"},
		{"multibulk over limit", "*1048577\r\n", ReaderLimits{}, "ERR Protocol error: invalid multibulk length"},
		{"multibulk overflows int64", "*99999999999999999999999\r\n", ReaderLimits{}, "ERR Protocol error: invalid multibulk length"},
		{"multibulk plus sign", "*+1\r\n$1\r\nx\r\n", ReaderLimits{}, "ERR Protocol error: invalid multibulk length"},
		{"multibulk leading zero", "*01\r\n$1\r\nx\r\n", ReaderLimits{}, "ERR Protocol error: invalid multibulk length"},
		{"multibulk empty", "*\r\n", ReaderLimits{}, "ERR Protocol error: invalid multibulk length"},
		{"multibulk over custom limit", "*4\r\n", small, "ERR Protocol error: invalid multibulk length"},
		{"integer instead of bulk", "*1\r\n:1\r\n", ReaderLimits{}, "ERR Protocol error: expected '$', got ':'"},
		{"inline instead of bulk", "*2\r\n$3\r\nGET\r\nkey\r\n", ReaderLimits{}, "ERR Protocol error: expected '$', got 'k'"},
		{"negative bulk length", "*1\r\n$-1\r\n", ReaderLimits{}, "ERR Protocol error: invalid bulk length"},
		{"very negative bulk length", "*1\r\n$-9223372036854775808\r\n", ReaderLimits{}, "ERR Protocol error: invalid bulk length"},
		{"bulk length not a number", "*1\r\n$abc\r\n", ReaderLimits{}, "ERR Protocol error: invalid bulk length"},
		{"bulk length empty", "*1\r\n$\r\n", ReaderLimits{}, "ERR Protocol error: invalid bulk length"},
		{"bulk over default limit", "*1\r\n$33554433\r\n", ReaderLimits{}, "ERR Protocol error: invalid bulk length"},
		{"bulk declares 512 MiB", "*1\r\n$536870912\r\nabc", ReaderLimits{}, "ERR Protocol error: invalid bulk length"},
		{"bulk over custom limit", "*1\r\n$11\r\n", small, "ERR Protocol error: invalid bulk length"},
		{"bulk without CRLF", "*1\r\n$3\r\nabcX\r\n", ReaderLimits{}, `ERR Protocol error: expected '\r\n' after bulk string of 3 bytes`},
		{"command over MaxCommandBytes", "*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n", small, "ERR Protocol error: command exceeds 100 bytes (MaxCommandBytes)"},
		{"header line too long", "*" + long, ReaderLimits{}, "ERR Protocol error: too big mbulk count string"},
		{"bulk header too long", "*1\r\n$" + long, ReaderLimits{}, "ERR Protocol error: too big bulk count string"},
		{"inline too long", long, ReaderLimits{}, "ERR Protocol error: too big inline request"},
		{"inline too long with newline", long + "\r\n", ReaderLimits{}, "ERR Protocol error: too big inline request"},
		{"inline too many args", "a b c d\r\n", small, "ERR Protocol error: invalid multibulk length"},
		{"unbalanced double quote", `set "abc` + "\r\n", ReaderLimits{}, "ERR Protocol error: unbalanced quotes in request"},
		{"unbalanced single quote", `set 'abc` + "\r\n", ReaderLimits{}, "ERR Protocol error: unbalanced quotes in request"},
		{"text after closing quote", `set "a"b` + "\r\n", ReaderLimits{}, "ERR Protocol error: unbalanced quotes in request"},
		{"backslash at end of quotes", `"abc\` + "\r\n", ReaderLimits{}, "ERR Protocol error: unbalanced quotes in request"},
		{"eof in bulk body", "*1\r\n$3\r\nab", ReaderLimits{}, "unexpected EOF"},
		{"eof before CRLF", "*1\r\n$3\r\nabc", ReaderLimits{}, "unexpected EOF"},
		{"eof between arguments", "*2\r\n$3\r\nabc\r\n", ReaderLimits{}, "unexpected EOF"},
		{"eof in header", "*2", ReaderLimits{}, "unexpected EOF"},
		{"huge declared length tiny body", "*1\r\n$30000000\r\nab", ReaderLimits{}, "unexpected EOF"},
		{"eof in inline", "PING", ReaderLimits{}, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(newTestReader(tt.in, tt.limits))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.HasPrefix(tt.want, "ERR") != IsProtocolError(err) {
				t.Fatalf("IsProtocolError(%v) = %v", err, IsProtocolError(err))
			}
		})
	}
}

// A client declaring a large bulk string and sending a few bytes must not
// make the server allocate the declared size.
func TestReaderDoesNotTrustDeclaredLengths(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"bulk", "*1\r\n$30000000\r\n0123456789"},
		{"array", "*1048576\r\n$1\r\nx\r\n"},
		{"bulk after many args", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$30000000\r\nxy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestReader(tt.in, ReaderLimits{})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := r.ReadCommand()
			runtime.ReadMemStats(&after)
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("err = %v, want unexpected EOF", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Fatalf("allocated %d bytes for a %d-byte request: the declared length was trusted", got, len(tt.in))
			}
		})
	}
}

// A large bulk string that does arrive is read whole, across many reads.
func TestReaderLargeBulk(t *testing.T) {
	val := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16+3)
	in := AppendCommand(nil, []byte("SET"), []byte("k"), val)
	r := NewReader(bufio.NewReaderSize(iotestHalfReader{bytes.NewReader(in)}, 4096), ReaderLimits{})
	args, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if len(args) != 3 || !bytes.Equal(args[2], val) {
		t.Fatalf("got %d args, value of %d bytes, want %d", len(args), len(args[len(args)-1]), len(val))
	}
	if cap(args[2]) > 2*len(val) {
		t.Fatalf("value buffer cap %d for %d bytes", cap(args[2]), len(val))
	}
}

// iotestHalfReader returns at most 1000 bytes per Read, as a slow
// network does.
type iotestHalfReader struct{ r io.Reader }

func (h iotestHalfReader) Read(p []byte) (int, error) {
	return h.r.Read(p[:min(len(p), 1000)])
}

func TestSplitArgsMatchesAppendCommand(t *testing.T) {
	// Every accepted inline line re-encodes to the same arguments.
	args, ok := splitArgs([]byte(`GET "a\x00b" 'c'`))
	if !ok || len(args) != 3 || string(args[1]) != "a\x00b" {
		t.Fatalf("splitArgs = %q, %v", args, ok)
	}
	got, err := newTestReader(string(AppendCommand(nil, args...)), ReaderLimits{}).ReadCommand()
	if err != nil || !slices.EqualFunc(got, args, bytes.Equal) {
		t.Fatalf("round trip = %q, %v", got, err)
	}
}

// fuzzLimits are small so the fuzzer reaches them.
var fuzzLimits = ReaderLimits{MaxBulkBytes: 1024, MaxArrayElements: 16, MaxInlineBytes: 256, MaxCommandBytes: 4096}

// FuzzReader: the reader never panics, returns only EOF, unexpected EOF
// or a protocol error, never returns more than the limits allow nor
// buffers beyond them, and every command it accepts round-trips through
// the array encoding.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\x00c\r\n",
		"*0\r\n*-1\r\nPING\r\n",
		`set "a b" 'c d' "\x41\n"` + "\r\n",
		"*1\r\n$-1\r\n",
		"*1\r\n$30000000\r\nab",
		"*2\r\n$3\r\nGET\r\nkey\r\n",
		"*99999999999999999999\r\n",
		`a"b c"d` + "\n",
		"*1\r\n$3\r\nabcX\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(in), 64), fuzzLimits)
		for {
			args, err := r.ReadCommand()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !IsProtocolError(err) {
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
				var pe *ProtocolError
				if errors.As(err, &pe) && strings.ContainsAny(pe.Msg, "\r\n") && !strings.HasPrefix(pe.Msg, "expected") {
					t.Fatalf("error message with a line break: %q", pe.Msg)
				}
				return
			}
			if len(args) == 0 || len(args) > fuzzLimits.MaxArrayElements {
				t.Fatalf("%d args, limit %d", len(args), fuzzLimits.MaxArrayElements)
			}
			total := 0
			for _, a := range args {
				if len(a) > max(fuzzLimits.MaxBulkBytes, fuzzLimits.MaxInlineBytes) || cap(a) > 2*max(fuzzLimits.MaxBulkBytes, fuzzLimits.MaxInlineBytes) {
					t.Fatalf("argument of len %d cap %d beyond the limits", len(a), cap(a))
				}
				total += len(a)
			}
			if total > len(in) {
				t.Fatalf("%d argument bytes from %d input bytes", total, len(in))
			}
			enc := AppendCommand(nil, args...)
			again, err := NewReader(bufio.NewReader(bytes.NewReader(enc)), ReaderLimits{}).ReadCommand()
			if err != nil || !slices.EqualFunc(again, args, bytes.Equal) {
				t.Fatalf("round trip of %q: got %q, %v", args, again, err)
			}
		}
	})
}
