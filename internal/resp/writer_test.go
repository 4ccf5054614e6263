package resp

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestWriterBytes(t *testing.T) {
	tests := []struct {
		name         string
		write        func(w *Writer)
		resp2, resp3 string
	}{
		{"simple string", func(w *Writer) { w.WriteSimpleString("PONG") }, "+PONG\r\n", "+PONG\r\n"},
		{"simple string newline", func(w *Writer) { w.WriteSimpleString("a\r\nb") }, "+a  b\r\n", "+a  b\r\n"},
		{"ok", func(w *Writer) { w.WriteOK() }, "+OK\r\n", "+OK\r\n"},
		{"error with code", func(w *Writer) { w.WriteError("WRONGPASS no") }, "-WRONGPASS no\r\n", "-WRONGPASS no\r\n"},
		{"error without code", func(w *Writer) { w.WriteError("boom happened") }, "-ERR boom happened\r\n", "-ERR boom happened\r\n"},
		{"error newline", func(w *Writer) { w.WriteError("ERR a\nb") }, "-ERR a b\r\n", "-ERR a b\r\n"},
		{"integer", func(w *Writer) { w.WriteInt(-42) }, ":-42\r\n", ":-42\r\n"},
		{"bulk", func(w *Writer) { w.WriteBulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"empty bulk", func(w *Writer) { w.WriteBulk(nil) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"bulk string", func(w *Writer) { w.WriteBulkString("hey") }, "$3\r\nhey\r\n", "$3\r\nhey\r\n"},
		{"null", func(w *Writer) { w.WriteNull() }, "$-1\r\n", "_\r\n"},
		{"null array", func(w *Writer) { w.WriteNullArray() }, "*-1\r\n", "_\r\n"},
		{"array", func(w *Writer) { w.WriteArray(2); w.WriteInt(1); w.WriteBulkString("x") }, "*2\r\n:1\r\n$1\r\nx\r\n", "*2\r\n:1\r\n$1\r\nx\r\n"},
		{"map", func(w *Writer) { w.WriteMap(1); w.WriteBulkString("k"); w.WriteInt(7) }, "*2\r\n$1\r\nk\r\n:7\r\n", "%1\r\n$1\r\nk\r\n:7\r\n"},
		{"set", func(w *Writer) { w.WriteSet(1); w.WriteBulkString("m") }, "*1\r\n$1\r\nm\r\n", "~1\r\n$1\r\nm\r\n"},
		{"double", func(w *Writer) { w.WriteDouble(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"double inf", func(w *Writer) { w.WriteDouble(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"double nan", func(w *Writer) { w.WriteDouble(math.NaN()) }, "$3\r\nnan\r\n", ",nan\r\n"},
		{"bool true", func(w *Writer) { w.WriteBool(true) }, ":1\r\n", "#t\r\n"},
		{"bool false", func(w *Writer) { w.WriteBool(false) }, ":0\r\n", "#f\r\n"},
		{"verbatim", func(w *Writer) { w.WriteVerbatim("a:1") }, "$3\r\na:1\r\n", "=7\r\ntxt:a:1\r\n"},
	}
	for _, tt := range tests {
		for _, proto := range []int{RESP2, RESP3} {
			var buf bytes.Buffer
			w := NewWriter(bufio.NewWriter(&buf))
			w.SetProtocol(proto)
			tt.write(w)
			if buf.Len() != 0 {
				t.Fatalf("%s: %d bytes reached the connection before Flush", tt.name, buf.Len())
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := tt.resp2
			if proto == RESP3 {
				want = tt.resp3
			}
			if buf.String() != want {
				t.Errorf("%s RESP%d: got %q, want %q", tt.name, proto, buf.String(), want)
			}
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("broken pipe")
}

func TestWriterStickyError(t *testing.T) {
	fw := &failWriter{}
	w := NewWriter(bufio.NewWriterSize(fw, 16))
	w.WriteBulk(bytes.Repeat([]byte("x"), 100))
	w.WriteOK()
	if err := w.Flush(); err == nil || w.Err() == nil {
		t.Fatalf("Flush = %v, Err = %v; want the write error", err, w.Err())
	}
	if fw.n != 1 {
		t.Fatalf("%d writes after the first failed, want none", fw.n-1)
	}
}

func TestSetProtocolIgnoresOthers(t *testing.T) {
	w := NewWriter(bufio.NewWriter(&bytes.Buffer{}))
	w.SetProtocol(4)
	if w.Protocol() != RESP2 {
		t.Fatalf("protocol %d after SetProtocol(4), want 2", w.Protocol())
	}
}
