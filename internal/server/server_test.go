package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/holdfast-db/holdfast"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a Run in this process on loopback ports chosen by the
// kernel.
type testServer struct {
	http, resp string
	logs       *syncBuffer
	stop       func() error
}

func testConfig(t *testing.T) Config {
	cfg := Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RESPAddr = "127.0.0.1:0"
	cfg.ShutdownGrace = 5 * time.Second
	return cfg
}

func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{logs: &syncBuffer{}}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Hooks{LogOutput: ts.logs, Version: "test", Listening: func(h, r string) {
			ts.http, ts.resp = h, r
			close(ready)
		}})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before listening: %v\nlogs:\n%s", err, ts.logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30s")
	}
	var once sync.Once
	var stopErr error
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("Run did not return within 30s of cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { ts.stop() })
	return ts
}

func httpDo(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestRunServesBothProtocolsOnOneDatabase: a write over one protocol is
// read over the other; the default dataspace exists on first start;
// shutdown returns nil and a restart sees the data.
func TestRunServesBothProtocolsOnOneDatabase(t *testing.T) {
	cfg := testConfig(t)
	ts := start(t, cfg)
	base := "http://" + ts.http
	if code, body := httpDo(t, "GET", base+"/readyz", ""); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if code, body := httpDo(t, "PUT", base+"/v1/dataspaces/default/keys/greeting", "hello"); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: ts.resp, MaxRetries: -1})
	defer rdb.Close()
	if v, err := rdb.Get(ctx, "greeting").Result(); err != nil || v != "hello" {
		t.Fatalf("GET over RESP: %q, %v", v, err)
	}
	if err := rdb.Set(ctx, "from-resp", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if code, body := httpDo(t, "GET", base+"/v1/dataspaces/default/keys/from-resp", ""); code != 200 || body != "v1" {
		t.Fatalf("get over HTTP: %d %q", code, body)
	}
	rdb.Close()
	if err := ts.stop(); err != nil {
		t.Fatalf("shutdown: %v\nlogs:\n%s", err, ts.logs)
	}
	if !strings.Contains(ts.logs.String(), "shut down") {
		t.Errorf("no shutdown log line:\n%s", ts.logs)
	}

	// Restart on the same directory: the data is there, "default" is
	// not created twice.
	ts2 := start(t, cfg)
	if code, body := httpDo(t, "GET", "http://"+ts2.http+"/v1/dataspaces/default/keys/from-resp", ""); code != 200 || body != "v1" {
		t.Fatalf("after restart: %d %q", code, body)
	}
	if strings.Contains(ts2.logs.String(), "created dataspace") {
		t.Errorf("restart created the dataspace again:\n%s", ts2.logs)
	}
}

// TestMetricsScrape drives both protocols, then scrapes /metrics and
// parses it with the Prometheus text parser.
func TestMetricsScrape(t *testing.T) {
	ts := start(t, testConfig(t))
	base := "http://" + ts.http
	for i := 0; i < 3; i++ {
		httpDo(t, "PUT", base+"/v1/dataspaces/default/keys/k"+string(rune('0'+i)), "value")
	}
	httpDo(t, "GET", base+"/v1/dataspaces/default/keys/missing", "")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: ts.resp, MaxRetries: -1})
	defer rdb.Close()
	rdb.Set(ctx, "r", "1", 0)
	rdb.Incr(ctx, "r")
	rdb.Do(ctx, "NOSUCHCOMMAND")

	code, body := httpDo(t, "GET", base+"/metrics", "")
	if code != 200 {
		t.Fatalf("metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"holdfast_requests_total", map[string]string{"protocol": "http", "op": "key_put", "result": "ok"}, 3},
		{"holdfast_requests_total", map[string]string{"protocol": "http", "op": "key_get", "result": "not_found"}, 1},
		{"holdfast_requests_total", map[string]string{"protocol": "resp", "op": "incr", "result": "ok"}, 1},
		{"holdfast_requests_total", map[string]string{"protocol": "resp", "op": "unknown", "result": "error"}, 1},
		{"holdfast_request_duration_seconds", map[string]string{"protocol": "http", "op": "key_put"}, 3},
		{"holdfast_request_duration_seconds", map[string]string{"protocol": "resp", "op": "set"}, 1},
		{"holdfast_fsync_duration_seconds", map[string]string{"file": "log"}, 5},
		{"holdfast_wal_group_write_bytes", nil, 5},
		{"holdfast_dataspace_keys", map[string]string{"dataspace": "default"}, 4},
		{"holdfast_dataspace_bytes", map[string]string{"dataspace": "default"}, 4 + 3*5 + 1},
		{"holdfast_commit_groups_total", map[string]string{"dataspace": "default"}, 5},
		{"holdfast_commit_records_total", map[string]string{"dataspace": "default"}, 5},
		{"holdfast_log_bytes", map[string]string{"dataspace": "default"}, 1},
		{"holdfast_log_written_bytes_total", map[string]string{"dataspace": "default"}, 5 * 4096},
		{"holdfast_wal_unsynced_bytes", map[string]string{"dataspace": "default"}, 0},
		{"holdfast_fail_stop_events_total", map[string]string{"dataspace": "default"}, 0},
		{"holdfast_dataspace_stopped", map[string]string{"dataspace": "default"}, 0},
	} {
		v, ok := value(c.name, c.labels)
		if !ok {
			t.Errorf("%s%v: missing", c.name, c.labels)
			continue
		}
		if v < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}
	if v, _ := value("holdfast_wal_unsynced_bytes", map[string]string{"dataspace": "default"}); v != 0 {
		t.Errorf("unsynced bytes under sync=always after acknowledged writes = %v, want 0", v)
	}
}

// TestRunFailsCleanlyWhenTheDatabaseCannotOpen: a data directory locked by
// another process makes Run return an error naming it, without hanging
// and without leaving its ports bound.
func TestRunFailsCleanlyWhenTheDatabaseCannotOpen(t *testing.T) {
	cfg := testConfig(t)
	db, err := holdfast.Open(cfg.DataDir, holdfast.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Fixed ports, so the test can check they are free afterwards.
	for _, p := range []*string{&cfg.HTTPAddr, &cfg.RESPAddr} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*p = ln.Addr().String()
		ln.Close()
	}
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg, Hooks{LogOutput: logs}) }()
	select {
	case err := <-done:
		if !errors.Is(err, holdfast.ErrLocked) {
			t.Fatalf("Run = %v, want ErrLocked", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	for _, addr := range []string{cfg.HTTPAddr, cfg.RESPAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port %s still bound after Run failed: %v", addr, err)
			continue
		}
		ln.Close()
	}
}
