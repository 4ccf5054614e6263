package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// runWorker runs one workload in this process and prints its records as a
// JSON array on stdout. The orchestrator starts a new process for each
// workload, so memory, CPU time and write_bytes belong to that workload
// alone, and every open is a cold start of the process.
func runWorker(args []string) error {
	fl := flag.NewFlagSet("worker", flag.ContinueOnError)
	kind := fl.String("kind", "", "put, load, read, open, limit")
	engineName := fl.String("engine", "", "engine name")
	dir := fl.String("dir", "", "database directory")
	clients := fl.Int("clients", 1, "concurrent writers or readers")
	dur := fl.Duration("duration", 3*time.Second, "how long a timed workload runs")
	keys := fl.Int64("keys", 0, "keys in the database (load, read, open)")
	batch := fl.Int("batch", 1000, "keys per durable batch when loading")
	round := fl.Int("round", 0, "round number, copied to the records")
	readers := fl.String("readers", "1", "comma-separated reader counts (read)")
	samples := fl.Int("samples", 1000, "fdatasync samples per variant (limit)")
	directMiB := fl.Int("direct-mib", 256, "MiB written for the O_DIRECT bandwidth (limit)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var recs []record
	var err error
	switch *kind {
	case "limit":
		recs, err = workLimit(*dir, *samples, *directMiB)
	case "put":
		recs, err = workPut(*engineName, *dir, *clients, *dur)
	case "load":
		recs, err = workLoad(*engineName, *dir, *keys, *batch)
	case "read":
		recs, err = workRead(*engineName, *dir, *keys, parseInts(*readers), *dur)
	case "open":
		recs, err = workOpen(*engineName, *dir, *keys)
	case "etcd-load", "resp-load":
		recs, err = workServerLoad(*kind, *engineName, fl.Arg(0), *clients, *dur)
	default:
		return fmt.Errorf("worker: unknown kind %q", *kind)
	}
	if err != nil {
		return err
	}
	for i := range recs {
		recs[i].Round = *round
	}
	return json.NewEncoder(os.Stdout).Encode(recs)
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// timed runs op from n goroutines until d has passed, each goroutine with
// its own random source and index g, and returns the latencies, the operation count
// and the wall time from start until the last goroutine finished.
func timed(n int, d time.Duration, op func(g int, r *rand.Rand) error) ([]latencies, int64, time.Duration, error) {
	lats := make([]latencies, n)
	var ops atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g)+1, uint64(start.UnixNano())))
			l := make(latencies, 0, 4096)
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				if err := op(g, r); err != nil {
					failed.CompareAndSwap(nil, err)
					break
				}
				l = append(l, time.Since(t0))
			}
			lats[g] = l
			ops.Add(int64(len(l)))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return nil, 0, 0, err
	}
	return lats, ops.Load(), elapsed, nil
}

// workPut opens a new database and runs durable Puts of uniform random
// keys from n writers for d.
func workPut(name, dir string, n int, d time.Duration) ([]record, error) {
	spec, err := lookupEngine(name)
	if err != nil {
		return nil, err
	}
	e, err := spec.open(dir)
	if err != nil {
		return nil, err
	}
	started := now()
	before := readCounters()
	lats, ops, elapsed, err := timed(n, d, func(_ int, r *rand.Rand) error {
		var k [keyBytes]byte
		i := r.Uint64N(putKeySpace)
		return e.Put(keyOf(k[:], i), valueOf(i))
	})
	used := readCounters().sub(before)
	if err != nil {
		e.Close()
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	rec := record{Kind: "put", Engine: name, Clients: n, Ops: ops, Seconds: elapsed.Seconds(),
		OpsPerS: float64(ops) / elapsed.Seconds(), Start: started}
	rec.P50us, rec.P99us, rec.P999us = percentiles(lats)
	if ops > 0 {
		rec.WriteBytesPerOp = float64(used.writeBytes) / float64(ops)
		rec.CPUusPerOp = used.cpuSeconds * 1e6 / float64(ops)
	}
	return []record{rec}, nil
}

// workLoad bulk-loads keys [0, n) in key order, in durable batches, into a
// new database, and reports the load rate, the resident memory after the
// load and the disk space after a clean close.
func workLoad(name, dir string, n int64, batch int) ([]record, error) {
	spec, err := lookupEngine(name)
	if err != nil {
		return nil, err
	}
	base := readMemory()
	e, err := spec.open(dir)
	if err != nil {
		return nil, err
	}
	started := now()
	before := readCounters()
	t0 := time.Now()
	keys := make([][]byte, 0, batch)
	vals := make([][]byte, 0, batch)
	buf := make([]byte, batch*keyBytes)
	for lo := int64(0); lo < n; lo += int64(batch) {
		keys, vals = keys[:0], vals[:0]
		for i := lo; i < min(n, lo+int64(batch)); i++ {
			j := int(i - lo)
			keys = append(keys, keyOf(buf[j*keyBytes:(j+1)*keyBytes], uint64(i)))
			vals = append(vals, valueOf(uint64(i)))
		}
		if err := e.Load(keys, vals); err != nil {
			e.Close()
			return nil, fmt.Errorf("load at key %d: %w", lo, err)
		}
	}
	elapsed := time.Since(t0)
	used := readCounters().sub(before)
	mem := readMemory()
	if err := e.Close(); err != nil {
		return nil, err
	}
	rec := record{Kind: "load", Engine: name, Keys: n, Ops: n, Seconds: elapsed.Seconds(),
		OpsPerS: float64(n) / elapsed.Seconds(), Start: started,
		WriteBytesPerOp: float64(used.writeBytes) / float64(n), CPUusPerOp: used.cpuSeconds * 1e6 / float64(n),
		RSSBytes: mem.rssBytes, RSSAnonBytes: mem.rssAnonBytes, RSSFileBytes: mem.rssFileBytes, RSSBaseBytes: base.rssBytes,
		DiskBytes: diskUsageBytes(dir)}
	return []record{rec}, nil
}

// openTimed opens an existing database and reads one key, so an engine
// that defers work past Open is charged for it, and returns the engine and
// the open record.
func openTimed(name, dir string, n int64) (engine, record, error) {
	spec, err := lookupEngine(name)
	if err != nil {
		return nil, record{}, err
	}
	base := readMemory()
	started := now()
	t0 := time.Now()
	e, err := spec.open(dir)
	if err != nil {
		return nil, record{}, err
	}
	var k [keyBytes]byte
	if _, err := e.Get(keyOf(k[:], uint64(n/2))); err != nil {
		e.Close()
		return nil, record{}, fmt.Errorf("first get after open: %w", err)
	}
	elapsed := time.Since(t0)
	mem := readMemory()
	rec := record{Kind: "open", Engine: name, Keys: n, Ops: 1, Seconds: elapsed.Seconds(), Start: started,
		RSSBytes: mem.rssBytes, RSSAnonBytes: mem.rssAnonBytes, RSSFileBytes: mem.rssFileBytes, RSSBaseBytes: base.rssBytes,
		DiskBytes: diskUsageBytes(dir)}
	return e, rec, nil
}

func workOpen(name, dir string, n int64) ([]record, error) {
	e, rec, err := openTimed(name, dir, n)
	if err != nil {
		return nil, err
	}
	return []record{rec}, e.Close()
}

// scanKeys is the length of one scan.
const scanKeys = 100

// workRead opens a loaded database (an open record), then runs uniform
// random Gets with each reader count for d, then 100-key scans from random
// start keys with one reader for d.
func workRead(name, dir string, n int64, readers []int, d time.Duration) ([]record, error) {
	e, openRec, err := openTimed(name, dir, n)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	recs := []record{openRec}
	for _, c := range readers {
		started := now()
		before := readCounters()
		lats, ops, elapsed, err := timed(c, d, func(_ int, r *rand.Rand) error {
			var k [keyBytes]byte
			i := r.Uint64N(uint64(n))
			v, err := e.Get(keyOf(k[:], i))
			if err == nil && !bytes.Equal(v, valueOf(i)) {
				err = fmt.Errorf("get %s: wrong value (%d bytes)", keyOf(k[:], i), len(v))
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		used := readCounters().sub(before)
		rec := record{Kind: "get", Engine: name, Clients: c, Keys: n, Ops: ops, Seconds: elapsed.Seconds(),
			OpsPerS: float64(ops) / elapsed.Seconds(), CPUusPerOp: used.cpuSeconds * 1e6 / float64(max(ops, 1)), Start: started}
		rec.P50us, rec.P99us, rec.P999us = percentiles(lats)
		recs = append(recs, rec)
	}
	started := now()
	before := readCounters()
	var short atomic.Int64
	lats, ops, elapsed, err := timed(1, d, func(_ int, r *rand.Rand) error {
		var k [keyBytes]byte
		got, err := e.Scan(keyOf(k[:], r.Uint64N(uint64(max(1, n-scanKeys)))), scanKeys)
		if err == nil && got != scanKeys {
			short.Add(1)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	used := readCounters().sub(before)
	rec := record{Kind: "scan", Engine: name, Clients: 1, Keys: n, Ops: ops, Seconds: elapsed.Seconds(),
		OpsPerS: float64(ops) / elapsed.Seconds(), CPUusPerOp: used.cpuSeconds * 1e6 / float64(max(ops, 1)), Start: started}
	rec.P50us, rec.P99us, rec.P999us = percentiles(lats)
	if s := short.Load(); s > 0 {
		rec.Note = fmt.Sprintf("%d scans returned fewer than %d keys", s, scanKeys)
	}
	return append(recs, rec), nil
}
