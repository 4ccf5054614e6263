package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestRealClients: redis-cli, go-redis (RESP2 and RESP3), curl-style HTTP
// and the holdfast CLI all work against one running binary and see each
// other's writes; the data survives a restart.
func TestRealClients(t *testing.T) {
	needTool(t, "redis-cli")
	data := t.TempDir()
	p := serve(t, data)

	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"SET", "greeting", "hello world"}, "OK"},
		{[]string{"GET", "greeting"}, "hello world"},
		{[]string{"INCRBY", "counter", "41"}, "41"},
		{[]string{"INCR", "counter"}, "42"},
		{[]string{"MSET", "a", "1", "b", "2"}, "OK"},
		{[]string{"MGET", "a", "b", "nope"}, "1\n2"},
		{[]string{"SET", "greeting", "x", "NX"}, ""},
		{[]string{"DBSIZE"}, "4"},
		{[]string{"NOSUCHCMD", "x"}, "ERR unknown command 'NOSUCHCMD'"},
	} {
		if got := redisCLI(t, p, step.args...); !strings.HasPrefix(got, step.want) {
			t.Errorf("redis-cli %q = %q, want prefix %q", step.args, got, step.want)
		}
	}
	if got := redisCLI(t, p, "--scan", "--pattern", "*"); len(strings.Fields(got)) != 4 {
		t.Errorf("redis-cli --scan = %q, want 4 keys", got)
	}

	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		rdb := redis.NewClient(&redis.Options{Addr: p.resp, Protocol: proto, MaxRetries: -1})
		if v, err := rdb.Get(ctx, "greeting").Result(); err != nil || v != "hello world" {
			t.Fatalf("go-redis RESP%d GET: %q %v", proto, v, err)
		}
		pipe := rdb.Pipeline()
		for i := 0; i < 100; i++ {
			pipe.Set(ctx, fmt.Sprintf("p%d/%03d", proto, i), i, 0)
		}
		incr := pipe.Incr(ctx, "counter")
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("go-redis RESP%d pipeline: %v", proto, err)
		}
		if incr.Val() != int64(42+proto-1) {
			t.Errorf("go-redis RESP%d INCR in pipeline = %d", proto, incr.Val())
		}
		if err := rdb.Get(ctx, "missing").Err(); err != redis.Nil {
			t.Errorf("go-redis RESP%d GET missing: %v, want redis.Nil", proto, err)
		}
		keys, _, err := rdb.Scan(ctx, 0, fmt.Sprintf("p%d/*", proto), 1000).Result()
		if err != nil || len(keys) == 0 {
			t.Errorf("go-redis RESP%d SCAN: %d keys, %v", proto, len(keys), err)
		}
		rdb.Close()
	}

	// HTTP sees RESP's writes; the CLI sees both.
	if code, body := request(t, "GET", p.url("/v1/dataspaces/default/keys/greeting"), nil); code != 200 || body != "hello world" {
		t.Fatalf("HTTP GET: %d %q", code, body)
	}
	if code, body := request(t, "PUT", p.url("/v1/dataspaces/default/keys/from%2Fhttp"), strings.NewReader("via http")); code != 200 {
		t.Fatalf("HTTP PUT: %d %s", code, body)
	}
	if got := redisCLI(t, p, "GET", "from/http"); got != "via http" {
		t.Errorf("redis-cli GET of an HTTP write = %q", got)
	}
	if code, out, errOut := cli(t, "get", "from/http", "--addr", p.http); code != 0 || out != "via http" {
		t.Errorf("holdfast get: exit %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cli(t, "status", "--addr", p.http); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("holdfast status: exit %d %q %q", code, out, errOut)
	}

	p.stop()
	p2 := serve(t, data)
	if got := redisCLI(t, p2, "GET", "counter"); got != "44" {
		t.Errorf("after restart counter = %q, want 44", got)
	}
	if got := redisCLI(t, p2, "DBSIZE"); got != "205" {
		t.Errorf("after restart DBSIZE = %q, want 205", got)
	}
	p2.stop()
}
