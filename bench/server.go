package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The server part: `holdfast serve` against redis-server with appendonly
// yes and appendfsync always, driven by redis-benchmark; and against etcd
// (one member), driven by this program's load generator on the official
// etcd client. Each server runs on loopback ports of its own, with a new
// data directory in the scratch directory for every round.

const (
	holdfastRESPAddr = "127.0.0.1:26380"
	holdfastHTTPAddr = "127.0.0.1:27070"
	redisPort        = "26379"
	etcdClientURL    = "http://127.0.0.1:22379"
	etcdPeerURL      = "http://127.0.0.1:22380"
	// redisRandomKeys is redis-benchmark's -r: keys are
	// "key:" + 12 digits, 16 bytes, like the embedded workloads'.
	redisRandomKeys = "1000000"
)

type serverProc struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// startServer starts a server process, its output going to logPath.
func startServer(name, logPath, bin string, args ...string) (*serverProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &serverProc{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	return s, nil
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits; after 15 s it kills.
func (s *serverProc) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// waitRESP waits until a PING on addr answers PONG.
func waitRESP(s *serverProc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("%s exited: %v", s.name, err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: no PONG on %s within %v", s.name, addr, timeout)
}

func waitEtcd(s *serverProc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("etcd exited: %v", err)
		default:
		}
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdClientURL}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = c.Put(ctx, "bench-ready", "1")
			cancel()
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("etcd: not serving on %s within %v", etcdClientURL, timeout)
}

// serverUsage is what a server process used during one measurement.
type serverUsage struct {
	pid    int
	before processCounters
}

func startUsage(pid int) serverUsage {
	return serverUsage{pid: pid, before: processCounters{
		cpuSeconds: procCPUSeconds(pid), writeBytes: procIOWriteBytes(strconv.Itoa(pid))}}
}

// charge sets a record's per-operation CPU and write bytes from the server
// process's counters (the client's own costs are not included).
func (u serverUsage) charge(rec *record) {
	cpu := procCPUSeconds(u.pid) - u.before.cpuSeconds
	wb := procIOWriteBytes(strconv.Itoa(u.pid)) - u.before.writeBytes
	if rec.Ops > 0 {
		rec.CPUusPerOp = cpu * 1e6 / float64(rec.Ops)
		rec.WriteBytesPerOp = float64(wb) / float64(rec.Ops)
	}
}

// buildHoldfast builds cmd/holdfast of the repository and checks that it
// has `serve`.
func (r *runner) buildHoldfast() (string, error) {
	bin := filepath.Join(r.work, "bin", "holdfast")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/holdfast")
	cmd.Dir = r.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/holdfast: %v: %s", err, out)
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--resp") {
		return "", fmt.Errorf("`holdfast serve --help` at this commit does not offer --resp (serve not built yet?): %v: %s", err, firstLine(string(out)))
	}
	return bin, nil
}

func (r *runner) startHoldfast(bin string, round int) (*serverProc, error) {
	data := filepath.Join(r.work, fmt.Sprintf("holdfast-serve-%d", round))
	os.RemoveAll(data)
	s, err := startServer("holdfast", data+".log", bin, "serve", "--data", data, "--resp", holdfastRESPAddr, "--http", holdfastHTTPAddr)
	if err != nil {
		return nil, err
	}
	if err := waitRESP(s, holdfastRESPAddr, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (r *runner) startRedis(round int) (*serverProc, error) {
	data := filepath.Join(r.work, fmt.Sprintf("redis-%d", round))
	os.RemoveAll(data)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	// Redis's documented durable configuration: the append-only file,
	// fsynced before every reply (appendfsync always); RDB snapshots off.
	s, err := startServer("redis", data+".log", "redis-server", "--port", redisPort, "--bind", "127.0.0.1",
		"--dir", data, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no")
	if err != nil {
		return nil, err
	}
	if err := waitRESP(s, "127.0.0.1:"+redisPort, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (r *runner) startEtcd(round int) (*serverProc, error) {
	data := filepath.Join(r.work, fmt.Sprintf("etcd-%d", round))
	os.RemoveAll(data)
	// etcd's defaults: every WAL append is fdatasynced before the write is
	// acknowledged (--unsafe-no-fsync is off).
	s, err := startServer("etcd", data+".log", "etcd", "--name", "bench", "--data-dir", data,
		"--listen-client-urls", etcdClientURL, "--advertise-client-urls", etcdClientURL,
		"--listen-peer-urls", etcdPeerURL, "--initial-advertise-peer-urls", etcdPeerURL,
		"--initial-cluster", "bench="+etcdPeerURL, "--initial-cluster-state", "new")
	if err != nil {
		return nil, err
	}
	if err := waitEtcd(s, 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (r *runner) servers() {
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		r.note("server part skipped: redis-benchmark not found (run scripts/install-bench-deps.sh)")
		return
	}
	bin, err := r.buildHoldfast()
	if err != nil {
		r.note("server part skipped: %v", err)
		return
	}
	_, redisErr := exec.LookPath("redis-server")
	if redisErr != nil {
		r.note("redis-server not found: the redis-benchmark part runs against holdfast only")
	}
	_, etcdErr := exec.LookPath("etcd")
	if etcdErr != nil {
		r.note("etcd not found: the etcd part runs against holdfast only")
	}
	for round := 1; round <= r.plan.Rounds; round++ {
		procs := map[string]*serverProc{}
		if s, err := r.startHoldfast(bin, round); err != nil {
			r.note("round %d: holdfast serve did not start: %v", round, err)
			continue
		} else {
			procs["holdfast"] = s
		}
		if redisErr == nil {
			if s, err := r.startRedis(round); err != nil {
				r.note("round %d: redis-server did not start: %v", round, err)
			} else {
				procs["redis"] = s
			}
		}
		addrs := map[string][2]string{"holdfast": {"127.0.0.1", "26380"}, "redis": {"127.0.0.1", redisPort}}
		for _, c := range r.plan.RedisClients {
			for _, p := range r.plan.RedisPipeline {
				for _, test := range []string{"set", "get"} {
					for _, name := range rotated([]string{"holdfast", "redis"}, round) {
						s, ok := procs[name]
						if !ok {
							continue
						}
						r.redisBenchmark(round, name, s, addrs[name], test, c, p)
					}
				}
			}
		}
		if s, ok := procs["redis"]; ok {
			s.stop()
			delete(procs, "redis")
		}
		if etcdErr == nil {
			if s, err := r.startEtcd(round); err != nil {
				r.note("round %d: etcd did not start: %v", round, err)
			} else {
				procs["etcd"] = s
			}
		}
		for _, c := range r.plan.EtcdClients {
			for _, name := range rotated([]string{"holdfast", "etcd"}, round) {
				s, ok := procs[name]
				if !ok {
					continue
				}
				kind, target := "resp-load", holdfastRESPAddr
				if name == "etcd" {
					kind, target = "etcd-load", etcdClientURL
				}
				u := startUsage(s.pid())
				recs, err := r.worker(r.plan.EtcdDuration+5*time.Minute, "-kind", kind, "-engine", name,
					"-clients", strconv.Itoa(c), "-duration", r.plan.EtcdDuration.String(), "-round", strconv.Itoa(round), target)
				if err != nil {
					r.note("round %d: %s load with %d clients failed: %v", round, name, c, err)
					continue
				}
				rec := &r.res.Records[len(r.res.Records)-1]
				u.charge(rec)
				r.save()
				r.logf("round %d etcd-load %-8s c=%-3d %9.0f ops/s p50 %7.0f µs p99 %8.0f µs", round, name, c, recs[0].OpsPerS, recs[0].P50us, recs[0].P99us)
			}
		}
		for _, s := range procs {
			s.stop()
		}
	}
}

// redisBenchmark runs one redis-benchmark test against one server and
// records it.
func (r *runner) redisBenchmark(round int, name string, s *serverProc, addr [2]string, test string, clients, pipeline int) {
	n := r.plan.RedisRequests[clients]
	if pipeline > 1 {
		n *= 2
	}
	args := []string{"-h", addr[0], "-p", addr[1], "-c", strconv.Itoa(clients), "-n", strconv.Itoa(n),
		"-r", redisRandomKeys, "-d", strconv.Itoa(valueBytes), "-t", test, "-P", strconv.Itoa(pipeline), "--csv"}
	u := startUsage(s.pid())
	started := now()
	t0 := time.Now()
	// A bound, so a server that stops answering cannot stall the run.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-benchmark", args...).CombinedOutput()
	elapsed := time.Since(t0)
	if err != nil {
		r.note("round %d: redis-benchmark %s against %s failed: %v: %s", round, strings.Join(args, " "), name, err, firstLine(string(out)))
		return
	}
	rec, err := parseRedisBenchmarkCSV(out)
	if err != nil {
		r.note("round %d: redis-benchmark %s against %s: %v", round, strings.Join(args, " "), name, err)
		return
	}
	rec.Kind, rec.Engine, rec.Round, rec.Clients, rec.Start = "redis-benchmark", name, round, clients, started
	rec.Variant = fmt.Sprintf("%s P=%d", strings.ToUpper(test), pipeline)
	rec.Ops = int64(n)
	rec.Seconds = elapsed.Seconds()
	u.charge(&rec)
	r.res.Records = append(r.res.Records, rec)
	r.save()
	r.logf("round %d redis-benchmark %-8s %-9s c=%-3d %9.0f req/s p50 %7.0f µs p99 %8.0f µs", round, name, rec.Variant, clients, rec.OpsPerS, rec.P50us, rec.P99us)
}

// parseRedisBenchmarkCSV reads redis-benchmark --csv output (Redis 7):
// a header "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
// "p95_latency_ms","p99_latency_ms","max_latency_ms" and one line per test.
func parseRedisBenchmarkCSV(out []byte) (record, error) {
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) < 2 {
		return record{}, fmt.Errorf("unexpected output %q", firstLine(string(out)))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	row := rows[len(rows)-1]
	get := func(name string) float64 {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return 0
		}
		v, _ := strconv.ParseFloat(row[i], 64)
		return v
	}
	rec := record{OpsPerS: get("rps"), P50us: get("p50_latency_ms") * 1000, P99us: get("p99_latency_ms") * 1000}
	if rec.OpsPerS == 0 {
		return record{}, fmt.Errorf("no rps in %q", strings.Join(row, ","))
	}
	return rec, nil
}

// workServerLoad runs durable writes (16-byte keys, 100-byte values) from
// n clients for d, each client with a connection of its own: etcd Puts
// through go.etcd.io/etcd/client/v3, or holdfast SETs through go-redis.
func workServerLoad(kind, name, target string, n int, d time.Duration) ([]record, error) {
	type putter func(ctx context.Context, key, value []byte) error
	puts := make([]putter, n)
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := range n {
		switch kind {
		case "etcd-load":
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{target}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				return nil, err
			}
			closers = append(closers, c.Close)
			puts[i] = func(ctx context.Context, k, v []byte) error {
				_, err := c.Put(ctx, string(k), string(v))
				return err
			}
		case "resp-load":
			c := redis.NewClient(&redis.Options{Addr: target, PoolSize: 1, Protocol: 2, DisableIdentity: true})
			closers = append(closers, c.Close)
			puts[i] = func(ctx context.Context, k, v []byte) error {
				return c.Set(ctx, string(k), v, 0).Err()
			}
		default:
			return nil, errors.New("unknown server load kind " + kind)
		}
	}
	started := now()
	lats, ops, elapsed, err := timed(n, d, func(g int, r *rand.Rand) error {
		var k [keyBytes]byte
		i := r.Uint64N(putKeySpace)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return puts[g](ctx, keyOf(k[:], i), valueOf(i))
	})
	if err != nil {
		return nil, err
	}
	rec := record{Kind: "etcd-load", Engine: name, Clients: n, Ops: ops, Seconds: elapsed.Seconds(),
		OpsPerS: float64(ops) / elapsed.Seconds(), Start: started}
	rec.P50us, rec.P99us, rec.P999us = percentiles(lats)
	return []record{rec}, nil
}
