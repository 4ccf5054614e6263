package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// plan is everything that decides what a run measures. It is stored with
// the results, so the report states exactly what ran.
type plan struct {
	Quick  bool `json:"quick"`
	Rounds int  `json:"rounds"`
	// Engines are the embedded engines, in the order of round 1; each
	// later round starts one engine further on, so drift over the run
	// falls on every engine alike.
	Engines      []string      `json:"engines"`
	Writers      []int         `json:"writers"`
	PutDuration  time.Duration `json:"put_duration_ns"`
	ReadKeys     int64         `json:"read_keys"`
	Readers      []int         `json:"readers"`
	ReadDuration time.Duration `json:"read_duration_ns"`
	// Sizes are the key counts loaded for open time and memory. Sizes up
	// to ReadKeys are loaded anew in every round; larger ones once per
	// engine, then opened once per round.
	Sizes        []int64 `json:"sizes"`
	LoadBatch    int     `json:"load_batch"`
	LimitSamples int     `json:"limit_samples"`
	DirectMiB    int     `json:"direct_mib"`
	// Server part.
	Server        bool          `json:"server"`
	RedisClients  []int         `json:"redis_clients"`
	RedisPipeline []int         `json:"redis_pipeline"`
	RedisRequests map[int]int   `json:"redis_requests"` // per client count; twice as many with pipelining
	EtcdClients   []int         `json:"etcd_clients"`
	EtcdDuration  time.Duration `json:"etcd_duration_ns"`
}

func fullPlan() plan {
	return plan{
		Rounds:        3,
		Engines:       engineNames(),
		Writers:       []int{1, 16, 64, 256},
		PutDuration:   4 * time.Second,
		ReadKeys:      1_000_000,
		Readers:       []int{1, 16},
		ReadDuration:  3 * time.Second,
		Sizes:         []int64{100_000, 1_000_000, 10_000_000},
		LoadBatch:     1000,
		LimitSamples:  2000,
		DirectMiB:     256,
		Server:        true,
		RedisClients:  []int{1, 50, 256},
		RedisPipeline: []int{1, 16},
		RedisRequests: map[int]int{1: 10_000, 50: 50_000, 256: 100_000},
		EtcdClients:   []int{1, 64, 256},
		EtcdDuration:  4 * time.Second,
	}
}

func quickPlan() plan {
	p := fullPlan()
	p.Quick = true
	p.PutDuration = 500 * time.Millisecond
	p.ReadKeys = 50_000
	p.ReadDuration = 500 * time.Millisecond
	p.Sizes = []int64{10_000, 50_000, 200_000}
	p.LimitSamples = 300
	p.DirectMiB = 32
	p.RedisRequests = map[int]int{1: 1000, 50: 5000, 256: 10_000}
	p.EtcdDuration = time.Second
	return p
}

func engineNames() []string {
	var names []string
	for _, e := range engines {
		names = append(names, e.Name)
	}
	return names
}

// results is the raw output of a run: docs/bench/results.json.
type results struct {
	Plan     plan     `json:"plan"`
	Machine  machine  `json:"machine"`
	Started  string   `json:"started"`
	Finished string   `json:"finished"`
	Command  string   `json:"command"`
	Records  []record `json:"records"`
	// Notes say what was skipped or failed, and why.
	Notes []string `json:"notes"`
}

type runner struct {
	plan    plan
	work    string // scratch directory: databases, servers' data
	outDir  string
	report  string
	repo    string // repository root, for building holdfast
	self    string // this executable, run as the worker
	res     results
	started time.Time
}

func runAll(args []string) error {
	fl := flag.NewFlagSet("run", flag.ContinueOnError)
	quick := fl.Bool("quick", false, "short smoke run (seconds per figure instead of a full run)")
	out := fl.String("out", "../docs/bench", "directory for results.json, CSV files and charts")
	report := fl.String("report", "../docs/benchmarks.md", "report file; only the part between the generator's markers is replaced")
	work := fl.String("work", filepath.Join(os.TempDir(), "holdfast-bench"), "scratch directory for the databases (its file system is the one measured)")
	repo := fl.String("repo", "..", "holdfast repository root (to build `holdfast serve`)")
	only := fl.String("only", "", "comma-separated parts to run: limit,put,read,server (default all)")
	enginesFlag := fl.String("engines", "", "comma-separated engines (default all)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	p := fullPlan()
	if *quick {
		p = quickPlan()
	}
	if *enginesFlag != "" {
		p.Engines = splitList(*enginesFlag)
		for _, n := range p.Engines {
			if _, err := lookupEngine(n); err != nil {
				return err
			}
		}
	}
	parts := map[string]bool{"limit": true, "put": true, "read": true, "server": true}
	if *only != "" {
		parts = map[string]bool{}
		for _, s := range splitList(*only) {
			parts[s] = true
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*work); err != nil {
		return err
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	r := &runner{plan: p, work: *work, outDir: *out, report: *report, repo: *repo, self: self, started: time.Now()}
	r.res.Plan = p
	r.res.Started = now()
	r.res.Command = commandLine(*quick)
	if *only != "" || *enginesFlag != "" {
		r.res.Command += " BENCH_FLAGS='" + strings.Join(args, " ") + "'"
		r.note("a partial run: holdfast-bench run %s", strings.Join(args, " "))
	}
	r.res.Machine = readMachine(*work, *repo)
	r.logf("plan: quick=%v rounds=%d engines=%v, scratch %s (%s)", p.Quick, p.Rounds, p.Engines, *work, r.res.Machine.FileSystem)

	if parts["limit"] || parts["put"] {
		for round := 1; round <= p.Rounds; round++ {
			if parts["limit"] {
				r.limit(round)
			}
			if parts["put"] {
				r.puts(round)
			}
		}
	}
	if parts["read"] {
		r.reads()
	}
	if parts["server"] {
		if p.Server {
			r.servers()
		}
	}
	r.res.Finished = now()
	r.res.Machine.LoadAvgEnd = loadAvg()
	if err := r.save(); err != nil {
		return err
	}
	os.RemoveAll(*work)
	r.logf("raw results in %s; writing the report", filepath.Join(*out, "results.json"))
	return writeReport(r.res, *out, *report)
}

func commandLine(quick bool) string {
	if quick {
		return "make bench BENCH_QUICK=1"
	}
	return "make bench"
}

func splitList(s string) []string {
	var out []string
	for _, f := range bytes.Split([]byte(s), []byte(",")) {
		if t := string(bytes.TrimSpace(f)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %6.0fs] %s\n", time.Since(r.started).Seconds(), fmt.Sprintf(format, args...))
}

func (r *runner) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.logf("NOTE: %s", s)
	r.res.Notes = append(r.res.Notes, s)
}

// save writes results.json; it runs after every step, so an interrupted
// run keeps what it measured.
func (r *runner) save() error {
	b, err := json.MarshalIndent(r.res, "", " ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.outDir, "results.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.outDir, "results.json"))
}

// rotated returns names starting at the round's offset.
func rotated(names []string, round int) []string {
	if len(names) == 0 {
		return nil
	}
	k := (round - 1) % len(names)
	return append(slices.Clone(names[k:]), names[:k]...)
}

// worker runs one workload in a new process and adds its records.
func (r *runner) worker(timeout time.Duration, args ...string) ([]record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.self, append([]string{"worker"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		return nil, fmt.Errorf("worker %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var recs []record
	if err := json.Unmarshal(stdout.Bytes(), &recs); err != nil {
		return nil, fmt.Errorf("worker %v: bad output: %w", args, err)
	}
	r.res.Records = append(r.res.Records, recs...)
	r.save()
	return recs, nil
}

func (r *runner) limit(round int) {
	dir := filepath.Join(r.work, "limit")
	recs, err := r.worker(5*time.Minute, "-kind", "limit", "-dir", dir, "-round", strconv.Itoa(round),
		"-samples", strconv.Itoa(r.plan.LimitSamples), "-direct-mib", strconv.Itoa(r.plan.DirectMiB))
	os.RemoveAll(dir)
	if err != nil {
		r.note("round %d: physical limit failed: %v", round, err)
		return
	}
	for _, rec := range recs {
		if rec.Kind == "limit-fsync" {
			r.logf("round %d limit %-16s p50 %7.0f µs p99 %7.0f µs", round, rec.Engine, rec.P50us, rec.P99us)
		} else {
			r.logf("round %d limit %-16s %7.0f MB/s", round, rec.Engine, rec.MBperS)
		}
	}
}

func (r *runner) puts(round int) {
	for _, w := range r.plan.Writers {
		for _, name := range rotated(r.plan.Engines, round) {
			dir := filepath.Join(r.work, "put-"+name)
			os.RemoveAll(dir)
			os.MkdirAll(dir, 0o755)
			recs, err := r.worker(r.plan.PutDuration+5*time.Minute, "-kind", "put", "-engine", name, "-dir", dir,
				"-clients", strconv.Itoa(w), "-duration", r.plan.PutDuration.String(), "-round", strconv.Itoa(round))
			os.RemoveAll(dir)
			if err != nil {
				r.note("round %d: put %s writers=%d failed: %v", round, name, w, err)
				continue
			}
			rec := recs[0]
			r.logf("round %d put %-12s w=%-3d %9.0f ops/s p50 %7.0f µs p99 %8.0f µs %6.0f B/op %5.1f cpu-µs/op",
				round, name, w, rec.OpsPerS, rec.P50us, rec.P99us, rec.WriteBytesPerOp, rec.CPUusPerOp)
		}
	}
}

// readEngines are the engines that take part in the read, load and open
// workloads: one per database (bbolt's Batch variant reads as bbolt does).
func (r *runner) readEngines() []string {
	var out []string
	for _, n := range r.plan.Engines {
		if s, _ := lookupEngine(n); s.ReadVariant {
			out = append(out, n)
		}
	}
	return out
}

func (r *runner) load(round int, name, dir string, keys int64) bool {
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	recs, err := r.worker(2*time.Hour, "-kind", "load", "-engine", name, "-dir", dir,
		"-keys", strconv.FormatInt(keys, 10), "-batch", strconv.Itoa(r.plan.LoadBatch), "-round", strconv.Itoa(round))
	if err != nil {
		r.note("round %d: load of %d keys into %s failed: %v", round, keys, name, err)
		return false
	}
	rec := recs[0]
	r.logf("round %d load %-12s %9d keys %9.0f keys/s rss %6.1f MiB disk %7.1f MiB", round, name, keys,
		rec.OpsPerS, float64(rec.RSSBytes)/(1<<20), float64(rec.DiskBytes)/(1<<20))
	return true
}

func (r *runner) reads() {
	names := r.readEngines()
	for _, keys := range r.plan.Sizes {
		if keys <= r.plan.ReadKeys {
			for round := 1; round <= r.plan.Rounds; round++ {
				for _, name := range rotated(names, round) {
					dir := filepath.Join(r.work, fmt.Sprintf("data-%s-%d", name, keys))
					if !r.load(round, name, dir, keys) {
						os.RemoveAll(dir)
						continue
					}
					args := []string{"-kind", "open", "-engine", name, "-dir", dir,
						"-keys", strconv.FormatInt(keys, 10), "-round", strconv.Itoa(round)}
					if keys == r.plan.ReadKeys {
						args[1] = "read"
						args = append(args, "-readers", joinInts(r.plan.Readers), "-duration", r.plan.ReadDuration.String())
					}
					recs, err := r.worker(30*time.Minute, args...)
					os.RemoveAll(dir)
					if err != nil {
						r.note("round %d: %s of %s at %d keys failed: %v", round, args[1], name, keys, err)
						continue
					}
					for _, rec := range recs {
						if rec.Kind == "open" {
							r.logf("round %d open  %-12s keys=%d %.3f s rss %.1f MiB", round, name, keys, rec.Seconds, float64(rec.RSSBytes)/(1<<20))
							continue
						}
						r.logf("round %d %-5s %-12s keys=%d c=%d %9.0f ops/s p50 %7.0f µs p99 %8.0f µs",
							round, rec.Kind, name, keys, rec.Clients, rec.OpsPerS, rec.P50us, rec.P99us)
					}
				}
			}
			continue
		}
		// A large size: one load per engine, then an open per round.
		loaded := map[string]string{}
		for _, name := range names {
			dir := filepath.Join(r.work, fmt.Sprintf("data-%s-%d", name, keys))
			if r.load(1, name, dir, keys) {
				loaded[name] = dir
			} else {
				os.RemoveAll(dir)
			}
		}
		for round := 1; round <= r.plan.Rounds; round++ {
			for _, name := range rotated(names, round) {
				dir, ok := loaded[name]
				if !ok {
					continue
				}
				recs, err := r.worker(30*time.Minute, "-kind", "open", "-engine", name, "-dir", dir,
					"-keys", strconv.FormatInt(keys, 10), "-round", strconv.Itoa(round))
				if err != nil {
					r.note("round %d: open of %s at %d keys failed: %v", round, name, keys, err)
					continue
				}
				r.logf("round %d open  %-12s keys=%d %.3f s rss %.1f MiB", round, name, keys, recs[0].Seconds, float64(recs[0].RSSBytes)/(1<<20))
			}
		}
		for _, dir := range loaded {
			os.RemoveAll(dir)
		}
	}
}
