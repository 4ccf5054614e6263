package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/holdfast-db/holdfast/client"
)

// TestSIGTERMUnderLoadLosesNoAcknowledgedWrite: writers on both
// protocols (HTTP, RESP one command at a time, RESP pipelines) write
// unique keys while the server gets SIGTERM. The server must exit 0
// within its grace period, and after a restart every write that got a
// success reply must be there with its value (I1).
func TestSIGTERMUnderLoadLosesNoAcknowledgedWrite(t *testing.T) {
	data := t.TempDir()
	p := serve(t, data, "--shutdown-grace", "5s")
	ctx := context.Background()

	var mu sync.Mutex
	acked := make(map[string]string)
	ack := func(k, v string) {
		mu.Lock()
		acked[k] = v
		mu.Unlock()
	}
	var total atomic.Int64
	stopAt := make(chan struct{})
	var wg sync.WaitGroup
	writer := func(name string, write func(n int) (failed bool)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stopAt:
					return
				default:
				}
				if write(n) {
					return // the server is going away
				}
				total.Add(1)
			}
		}()
	}
	for w := 0; w < 3; w++ {
		c, _ := client.New(p.http, client.Options{Timeout: 20 * time.Second,
			HTTPClient: &http.Client{Timeout: 20 * time.Second}})
		writer(fmt.Sprintf("http%d", w), func(n int) bool {
			k, v := fmt.Sprintf("http%d/%06d", w, n), fmt.Sprintf("value-%d-%d", w, n)
			if _, err := c.Put(ctx, "default", []byte(k), []byte(v)); err != nil {
				return true
			}
			ack(k, v)
			return false
		})
	}
	for w := 0; w < 3; w++ {
		rdb := redis.NewClient(&redis.Options{Addr: p.resp, MaxRetries: -1, PoolSize: 1})
		defer rdb.Close()
		writer(fmt.Sprintf("resp%d", w), func(n int) bool {
			k, v := fmt.Sprintf("resp%d/%06d", w, n), fmt.Sprintf("value-%d-%d", w, n)
			if err := rdb.Set(ctx, k, v, 0).Err(); err != nil {
				return true
			}
			ack(k, v)
			return false
		})
	}
	pipeClient := redis.NewClient(&redis.Options{Addr: p.resp, MaxRetries: -1, PoolSize: 1})
	defer pipeClient.Close()
	writer("pipe", func(n int) bool {
		pipe := pipeClient.Pipeline()
		cmds := make([]*redis.StatusCmd, 16)
		for i := range cmds {
			cmds[i] = pipe.Set(ctx, fmt.Sprintf("pipe/%06d/%02d", n, i), fmt.Sprintf("pv-%d-%d", n, i), 0)
		}
		_, err := pipe.Exec(ctx)
		for i, c := range cmds {
			if c.Err() == nil && c.Val() == "OK" {
				ack(fmt.Sprintf("pipe/%06d/%02d", n, i), fmt.Sprintf("pv-%d-%d", n, i))
			}
		}
		return err != nil
	})

	// Let the load build up, then SIGTERM while it runs.
	deadline := time.Now().Add(20 * time.Second)
	for total.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	before := total.Load()
	start := time.Now()
	if err := p.terminate(15 * time.Second); err != nil {
		close(stopAt)
		wg.Wait()
		t.Fatalf("%v\nlogs:\n%s", err, p.logs)
	}
	took := time.Since(start)
	close(stopAt)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	t.Logf("SIGTERM after %d writes; %d acknowledged in all; exit 0 after %v", before, n, took.Round(time.Millisecond))
	if n < 200 {
		t.Fatalf("only %d acknowledged writes: the load did not build up", n)
	}
	if !strings.Contains(p.logs.String(), `"msg":"shut down"`) {
		t.Errorf("no clean shutdown line in the logs:\n%s", p.logs)
	}

	// Restart and check every acknowledged write.
	p2 := serve(t, data)
	c, _ := client.New(p2.http, client.Options{})
	got := make(map[string]string)
	opts := client.ScanOptions{Limit: 10000}
	for {
		page, err := c.Scan(ctx, "default", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range page.Items {
			got[string(kv.Key)] = string(kv.Value)
		}
		if page.Next == nil {
			break
		}
		opts.After = page.Next
	}
	lost := 0
	for k, v := range acked {
		if got[k] != v {
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged write %s=%q lost after restart (have %q)", k, v, got[k])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(acked))
	}
	var extra, pipeExtra []string
	for k := range got {
		if _, ok := acked[k]; !ok {
			if strings.HasPrefix(k, "pipe/") {
				pipeExtra = append(pipeExtra, k)
			} else {
				extra = append(extra, k)
			}
		}
	}
	// go-redis stamps a transport error on every command of a pipeline
	// whose connection closed, even on those whose replies it read, so a
	// pipeline cut by the shutdown may show applied writes as failed. The
	// server's side of that (every executed command's reply is delivered)
	// is checked with raw TCP in internal/resp's TestShutdownDeliversRepliesToPipeline.
	t.Logf("pipelined writes applied but reported failed by go-redis: %d", len(pipeExtra))
	// Applied but not acknowledged would be allowed by I3 (the client saw
	// its connection close: an unknown outcome), but a graceful shutdown
	// should not produce it: a request the server executes gets its
	// reply. Before the RESP server drained a closing connection, the
	// kernel's RST destroyed replies to executed pipelined SETs.
	if len(extra) > 0 {
		t.Errorf("%d writes were applied but their clients got no reply: %q", len(extra), extra)
	}
	t.Logf("after restart: all %d acknowledged writes present (%d keys stored)", len(acked), len(got))
	p2.stop()
}
