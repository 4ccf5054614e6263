package resp

import (
	"os/exec"
	"strings"
	"testing"
)

// redisCLI runs the real redis-cli against the server and returns its
// output, trimmed.
func redisCLI(t *testing.T, ts *testServer, stdin string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(ts.addr, ":")
	cmd := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (Debian/Ubuntu: apt-get install redis-tools); skipping the test with the real client", name)
	}
}

// The real redis-cli works unchanged: one-shot commands, SELECT by -n,
// --scan, RESP3, AUTH, and an interactive session read from stdin.
func TestRedisCLI(t *testing.T) {
	needTool(t, "redis-cli")
	ts := startServer(t, Config{}, HandlerOptions{})
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"SET", "greeting", "hello world"}, "OK"},
		{[]string{"GET", "greeting"}, "hello world"},
		{[]string{"GET", "missing"}, ""},
		{[]string{"INCR", "ctr"}, "1"},
		{[]string{"INCRBY", "ctr", "9"}, "10"},
		{[]string{"MSET", "user:1", "a", "user:2", "b"}, "OK"},
		{[]string{"MGET", "user:1", "nope", "user:2"}, "a\n\nb"},
		{[]string{"EXISTS", "user:1", "user:2"}, "2"},
		{[]string{"DBSIZE"}, "4"},
		{[]string{"--scan", "--pattern", "user:*"}, "user:1\nuser:2"},
		{[]string{"-n", "1", "SET", "k", "in-other"}, "OK"},
		{[]string{"-n", "1", "GET", "k"}, "in-other"},
		{[]string{"GET", "k"}, ""},
		{[]string{"-3", "GET", "greeting"}, "hello world"},
		{[]string{"INCR", "greeting"}, "ERR value is not an integer or out of range"},
		{[]string{"SET", "k", "v", "EX", "10"}, errNoExpiry},
		{[]string{"FLUSHALL"}, "ERR unknown command 'FLUSHALL', with args beginning with:"},
		{[]string{"CONFIG", "GET", "appendfsync"}, "appendfsync\nalways"},
		{[]string{"DEL", "user:1", "user:2", "nope"}, "2"},
	}
	for _, s := range steps {
		if got := redisCLI(t, ts, "", s.args...); got != s.want {
			t.Errorf("redis-cli %q = %q, want %q", s.args, got, s.want)
		}
	}
	// An interactive session (commands on stdin, as inline text).
	got := redisCLI(t, ts, "SELECT 1\nGET k\nSET \"spaced key\" 'quoted value'\nGET \"spaced key\"\n")
	if want := "OK\nin-other\nOK\nquoted value"; got != want {
		t.Errorf("redis-cli session = %q, want %q", got, want)
	}
	// INFO is readable by redis-cli (it parses redis_version).
	if got := redisCLI(t, ts, "", "INFO", "server"); !strings.Contains(got, "redis_version:"+RedisCompatVersion) {
		t.Errorf("redis-cli INFO server = %q", got)
	}
}

func TestRedisCLIAuth(t *testing.T) {
	needTool(t, "redis-cli")
	ts := startServer(t, Config{}, HandlerOptions{Password: "s3cret"})
	if got := redisCLI(t, ts, "", "GET", "k"); got != errNoAuth {
		t.Errorf("without password: %q", got)
	}
	if got := redisCLI(t, ts, "", "--no-auth-warning", "-a", "wrong", "GET", "k"); !strings.Contains(got, "WRONGPASS") {
		t.Errorf("wrong password: %q", got)
	}
	if got := redisCLI(t, ts, "", "--no-auth-warning", "-a", "s3cret", "SET", "k", "v"); got != "OK" {
		t.Errorf("with password: %q", got)
	}
	if got := redisCLI(t, ts, "", "--no-auth-warning", "-3", "--user", "default", "--pass", "s3cret", "GET", "k"); got != "v" {
		t.Errorf("RESP3 with user and password: %q", got)
	}
}

// redis-benchmark drives the server with pipelining and many clients.
func TestRedisBenchmark(t *testing.T) {
	needTool(t, "redis-benchmark")
	ts := startServer(t, Config{}, HandlerOptions{})
	host, port, _ := strings.Cut(ts.addr, ":")
	for _, args := range [][]string{
		{"-t", "set,get,incr,mset", "-n", "2000", "-c", "20", "--csv"},
		{"-t", "set,get", "-n", "2000", "-c", "4", "-P", "16", "--csv"},
	} {
		cmd := exec.Command("redis-benchmark", append([]string{"-h", host, "-p", port}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-benchmark %q: %v\n%s", args, err, out)
		}
		for _, want := range []string{`"SET"`, `"GET"`} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("redis-benchmark %q output lacks %s:\n%s", args, want, out)
			}
		}
		if strings.Contains(strings.ToLower(string(out)), "error") {
			t.Fatalf("redis-benchmark %q reported errors:\n%s", args, out)
		}
	}
	ds, err := ts.db.Dataspace("default")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() == 0 {
		t.Fatal("redis-benchmark wrote nothing")
	}
}
