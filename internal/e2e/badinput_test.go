package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// respExchange sends raw bytes on a new connection and returns what the
// server answers until it closes the connection or goes quiet.
func respExchange(t *testing.T, addr, send string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, send); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out strings.Builder
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			return out.String() // closed (or quiet for 5s)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	}
}

// TestBadInputLeavesServerAndDataIntact: each kind of bad input gets a
// clear error; afterwards the server still answers on both protocols and
// the stored data is unchanged.
func TestBadInputLeavesServerAndDataIntact(t *testing.T) {
	p := serve(t, t.TempDir(), "--max-bulk-bytes", "1024", "--max-header-bytes", "4096", "--max-request-bytes", "65536")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: p.resp, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Set(ctx, "precious", "intact", 0).Err(); err != nil {
		t.Fatal(err)
	}
	intact := func(what string) {
		t.Helper()
		if v, err := rdb.Get(ctx, "precious").Result(); err != nil || v != "intact" {
			t.Fatalf("after %s: RESP GET precious = %q, %v", what, v, err)
		}
		if code, body := request(t, "GET", p.url("/v1/dataspaces/default/keys/precious"), nil); code != 200 || body != "intact" {
			t.Fatalf("after %s: HTTP GET precious = %d %q", what, code, body)
		}
	}

	for _, tc := range []struct{ name, send, want string }{
		{"negative bulk length", "*2\r\n$3\r\nGET\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length"},
		{"oversize bulk string", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2048\r\n" + strings.Repeat("x", 2048) + "\r\n", "-ERR Protocol error: invalid bulk length"},
		{"bad multibulk length", "*abc\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"missing CRLF after bulk", "*1\r\n$4\r\nPINGxx", "-ERR Protocol error"},
		{"unknown command", "*2\r\n$7\r\nFROBNIK\r\n$1\r\nx\r\n", "-ERR unknown command 'FROBNIK'"},
		{"wrong arity", "*1\r\n$3\r\nGET\r\n", "-ERR wrong number of arguments for 'get' command"},
		{"binary garbage", "\x00\xff\xfe*\r\n$\r\n", "-ERR"},
	} {
		got := respExchange(t, p.resp, tc.send)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("RESP %s: got %q, want prefix %q", tc.name, got, tc.want)
		}
		intact("RESP " + tc.name)
	}

	// net/http allows 4 KiB of slack over MaxHeaderBytes.
	hugeHeader := strings.Repeat("a", 64<<10)
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string
	}{
		{"bad JSON", "POST", "/v1/dataspaces/default/batch", `{"ops":[{"op":"put",`, nil, 400, `"code":"bad_request"`},
		{"unknown JSON field", "POST", "/v1/dataspaces", `{"name":"x","colour":"red"}`, nil, 400, `"code":"bad_request"`},
		{"bad base64", "POST", "/v1/dataspaces/default/batch", `{"ops":[{"op":"delete","key_b64":"!!"}]}`, nil, 400, `"code":"bad_request"`},
		{"traversal name in create", "POST", "/v1/dataspaces", `{"name":"../x"}`, nil, 400, `"code":"invalid_name"`},
		{"traversal name in path", "GET", "/v1/dataspaces/..%2Fx/keys/k", "", nil, 400, `"code":"invalid_name"`},
		{"upper-case name", "POST", "/v1/dataspaces", `{"name":"Default"}`, nil, 400, `"code":"invalid_name"`},
		{"body over max-request-bytes", "PUT", "/v1/dataspaces/default/keys/big", strings.Repeat("v", 70000), nil, 413, `"code":"too_large"`},
		{"huge header", "GET", "/v1/dataspaces", "", []string{"X-Huge", hugeHeader}, 431, "Request Header Fields Too Large"},
		{"bad If-Match", "PUT", "/v1/dataspaces/default/keys/precious", "evil", []string{"If-Match", "W/\"1\""}, 400, `"code":"bad_request"`},
		{"no route", "GET", "/v1/nothing", "", nil, 404, `"code":"no_route"`},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		code, got := request(t, tc.method, p.url(tc.path), body, tc.hdr...)
		if code != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("HTTP %s: %d %q, want %d with %q", tc.name, code, got, tc.status, tc.want)
		}
		intact("HTTP " + tc.name)
	}
	// Nothing named x escaped the data directory, and no dataspace was
	// made from the bad requests.
	if code, body := request(t, "GET", p.url("/v1/dataspaces"), nil); code != 200 || strings.Count(body, `"name"`) != 1 {
		t.Errorf("dataspaces after bad input: %d %s", code, body)
	}
	p.stop()
}
