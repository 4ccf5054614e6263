package holdfast_test

// Benchmarks of the engine on the real disk: the OS file system under
// b.TempDir(), with O_DIRECT, exactly as holdfast runs in production.
// Results and the commands that produced them are in docs/benchmarks.md.
//
//	go test -run '^$' -bench . -benchtime 2s -count 3 .
//
// HOLDFAST_BENCH_KEYS sets how many keys BenchmarkLoad and BenchmarkOpen
// hold (default 100,000; the figure is 1,000,000).
//
// Every durable figure is meant to be read beside BenchmarkFdatasync4KiB,
// the cost of one 4 KiB write and fdatasync on the same file system: no
// acknowledged write can be cheaper than that.

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs"
)

const (
	benchKeyBytes = 16
	// benchValueBytes is the value size; it is above the default
	// InlineValueMaxBytes (64), so Get reads it from the log.
	benchValueBytes = 100
	// benchInlineValueBytes fits InlineValueMaxBytes: Get serves it from
	// memory.
	benchInlineValueBytes = 32
	// benchReadKeys is how many keys the Get and Scan dataspaces hold.
	benchReadKeys = 100_000
	// benchLoadBatchKeys is the batch size used to load keys quickly.
	benchLoadBatchKeys = 1000
	// benchDefaultKeys is the key count of BenchmarkLoad and BenchmarkOpen
	// when HOLDFAST_BENCH_KEYS is unset.
	benchDefaultKeys = 100_000
)

var benchCtx = context.Background()

func benchLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// benchKey writes the 16-byte key of index i into dst. The index is
// scrambled by a multiplicative hash (odd multiplier: a bijection on
// uint64), so consecutive indexes land at random places in the key order,
// as real keys do, and Get's random indexes hit random index leaves.
func benchKey(dst []byte, i uint64) []byte {
	return fmt.Appendf(dst[:0], "%016x", i*0x9E3779B97F4A7C15)
}

// benchValue returns a value of n bytes that varies with i.
func benchValue(n int, i uint64) []byte {
	v := make([]byte, n)
	for j := range v {
		v[j] = byte('a' + (i+uint64(j))%26)
	}
	return v
}

// benchKeyCount returns HOLDFAST_BENCH_KEYS, or benchDefaultKeys.
func benchKeyCount(b *testing.B) int {
	s := os.Getenv("HOLDFAST_BENCH_KEYS")
	if s == "" {
		return benchDefaultKeys
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < benchLoadBatchKeys {
		b.Fatalf("HOLDFAST_BENCH_KEYS=%q: want an integer >= %d", s, benchLoadBatchKeys)
	}
	return n
}

func benchOpen(b *testing.B, dir string) *holdfast.DB {
	b.Helper()
	db, err := holdfast.Open(dir, holdfast.Options{Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// benchPastFirstSegment writes one segment's worth of log, overwriting
// one key with 1 MiB values, so that what is measured next writes to a
// segment the log made ahead and zero-filled, as a dataspace does once it
// has rolled (a new dataspace's first segment is only preallocated, and
// its fdatasyncs also commit extent conversions; internal/wal/spare.go).
func benchPastFirstSegment(b *testing.B, ds *holdfast.Dataspace) {
	b.Helper()
	value := make([]byte, 1<<20)
	for ds.Stats().Log.Segments < 2 {
		if _, err := ds.Put(benchCtx, []byte("warm-up"), value); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := ds.Delete(benchCtx, []byte("warm-up")); err != nil {
		b.Fatal(err)
	}
}

// benchLoad writes keys [0, n) with values of valueBytes into ds, in
// batches of benchLoadBatchKeys (one group, one fdatasync each).
func benchLoad(b *testing.B, ds *holdfast.Dataspace, n, valueBytes int) {
	b.Helper()
	var key [benchKeyBytes]byte
	for start := 0; start < n; start += benchLoadBatchKeys {
		var batch holdfast.Batch
		for i := start; i < min(n, start+benchLoadBatchKeys); i++ {
			batch.Put(benchKey(key[:], uint64(i)), benchValue(valueBytes, uint64(i)))
		}
		if _, err := ds.Apply(benchCtx, &batch); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLoadPuts writes keys [0, n) into ds with single-key Puts from 64
// goroutines, so each value is a record of its own in a small group, as
// client writes make them.
func benchLoadPuts(b *testing.B, ds *holdfast.Dataspace, n, valueBytes int) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var key [benchKeyBytes]byte
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if _, err := ds.Put(benchCtx, benchKey(key[:], uint64(i)), benchValue(valueBytes, uint64(i))); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// heapAllocBytes returns the live heap after a full collection.
func heapAllocBytes() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies collects per-operation durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(l[len(l)-1].Microseconds()), "max-µs")
}

// BenchmarkFdatasync4KiB is the physical limit: one 4 KiB write followed
// by one fdatasync, through vfs.Default(), in the same file system as the
// other benchmarks.
//
//   - append-direct: O_DIRECT writes that extend the file, so each
//     fdatasync also commits the new size (a journal commit on ext4).
//   - prealloc-direct: O_DIRECT writes into space reserved with
//     Preallocate, as the log writes a dataspace's first segment; on ext4
//     the first write to a block converts an unwritten extent, which is
//     also journalled.
//   - zeroed-direct: O_DIRECT writes into space already written with
//     zeros and synced, as the log writes every later segment
//     (internal/wal/spare.go): the fdatasync flushes data only.
//   - append-buffered: what `holdfast probe` measures (page cache, then
//     fdatasync).
func BenchmarkFdatasync4KiB(b *testing.B) {
	cases := []struct {
		name     string
		flag     int
		prealloc bool
		zeroed   bool
	}{
		{"append-direct", vfs.ODirect, false, false},
		{"prealloc-direct", vfs.ODirect, true, false},
		{"zeroed-direct", vfs.ODirect, true, true},
		{"append-buffered", 0, false, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			fsys := vfs.Default()
			name := filepath.Join(b.TempDir(), "fdatasync")
			f, err := fsys.OpenFile(name, vfs.ORdWr|vfs.OCreate|vfs.OExcl|c.flag, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if c.prealloc {
				if err := f.Preallocate(0, int64(b.N)*vfs.PageSizeBytes); err != nil {
					b.Fatal(err)
				}
				if c.zeroed {
					zeros := vfs.AlignedBuffer(vfs.PageSizeBytes)
					for i := range b.N {
						if _, err := f.WriteAt(zeros, int64(i)*vfs.PageSizeBytes); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			block := vfs.AlignedBuffer(vfs.PageSizeBytes)
			lat := make(latencies, 0, b.N)
			b.SetBytes(vfs.PageSizeBytes)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				block[0] = byte(i)
				start := time.Now()
				if _, err := f.WriteAt(block, int64(i)*vfs.PageSizeBytes); err != nil {
					b.Fatal(err)
				}
				if err := f.SyncData(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			lat.report(b)
		})
	}
}

// BenchmarkPut measures durable single-key Puts (sync=always: each returns
// only once its write is on stable storage) with 16-byte keys and 100-byte
// values, b.N Puts split over the goroutines. Every key is new. Metrics:
// ops/s, the p50 and p99 latency of one Put, cpu-µs/op (user and system
// CPU time of the whole process, clients and GC included, per Put: nproc
// over it bounds ops/s), and puts/group, how many Puts shared one write
// and fdatasync.
func BenchmarkPut(b *testing.B) {
	for _, goroutines := range []int{1, 16, 64, 256} {
		b.Run("goroutines="+strconv.Itoa(goroutines), func(b *testing.B) {
			db := benchOpen(b, b.TempDir())
			defer db.Close()
			ds, err := db.CreateDataspace("bench", holdfast.DataspaceOptions{Sync: holdfast.SyncAlways})
			if err != nil {
				b.Fatal(err)
			}
			benchPastFirstSegment(b, ds)
			per := make([]latencies, goroutines)
			var next atomic.Uint64
			var failed atomic.Value
			var wg sync.WaitGroup
			before := ds.Stats()
			b.ReportAllocs()
			b.ResetTimer()
			cpuStart := cpuTime(b)
			start := time.Now()
			for g := range goroutines {
				share := b.N / goroutines
				if g < b.N%goroutines {
					share++
				}
				per[g] = make(latencies, 0, share)
				wg.Add(1)
				go func(lat *latencies) {
					defer wg.Done()
					var key [benchKeyBytes]byte
					value := benchValue(benchValueBytes, uint64(g))
					for range share {
						i := next.Add(1)
						k := benchKey(key[:], i)
						t0 := time.Now()
						if _, err := ds.Put(benchCtx, k, value); err != nil {
							failed.CompareAndSwap(nil, err)
							return
						}
						*lat = append(*lat, time.Since(t0))
					}
				}(&per[g])
			}
			wg.Wait()
			elapsed := time.Since(start)
			cpu := cpuTime(b) - cpuStart
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			all := slices.Concat(per...)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
			all.report(b)
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
			after := ds.Stats()
			if groups := after.Groups - before.Groups; groups > 0 {
				b.ReportMetric(float64(after.Records-before.Records)/float64(groups), "puts/group")
			}
			if writes := after.Log.Groups - before.Log.Groups; writes > 0 {
				b.ReportMetric(float64(after.Records-before.Records)/float64(writes), "puts/write")
			}
			if !after.Log.DirectIO {
				b.Log("O_DIRECT refused: measured buffered writes")
			}
		})
	}
}

// benchReadCase is a dataspace of benchReadKeys keys for Get and Scan.
type benchReadCase struct {
	name string
	ds   *holdfast.Dataspace
}

// openBenchReadDB returns a DB with three dataspaces of benchReadKeys keys:
//
//   - value=32B-inline: values held in memory beside the index;
//   - value=100B-log: values above InlineValueMaxBytes, written by
//     single-key Puts, so each is a small record that Get reads from the
//     log (O_DIRECT) and verifies;
//   - value=100B-log-batch1000: the same values written by Apply batches
//     of 1000 keys; the batch is one record, which a Get of one of its
//     values reads and verifies whole.
//
// With the value cache on (cacheBytes 0: the default size) the values
// written are cached as they are published and Gets are served from
// memory; with it off (-1) every Get of a log value reads the device.
func openBenchReadDB(b *testing.B, cacheBytes int64) (*holdfast.DB, []benchReadCase) {
	b.Helper()
	db, err := holdfast.Open(b.TempDir(), holdfast.Options{Logger: benchLogger(), ValueCacheBytes: cacheBytes})
	if err != nil {
		b.Fatal(err)
	}
	create := func(name string) *holdfast.Dataspace {
		ds, err := db.CreateDataspace(name, holdfast.DataspaceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return ds
	}
	inline, log, batched := create("inline"), create("log"), create("batched")
	benchLoadPuts(b, inline, benchReadKeys, benchInlineValueBytes)
	benchLoadPuts(b, log, benchReadKeys, benchValueBytes)
	benchLoad(b, batched, benchReadKeys, benchValueBytes)
	return db, []benchReadCase{
		{fmt.Sprintf("value=%dB-inline", benchInlineValueBytes), inline},
		{fmt.Sprintf("value=%dB-log", benchValueBytes), log},
		{fmt.Sprintf("value=%dB-log-batch%d", benchValueBytes, benchLoadBatchKeys), batched},
	}
}

// BenchmarkGet reads random existing keys from a dataspace of 100,000
// keys (see openBenchReadDB for the three dataspaces): from one
// goroutine, and from GOMAXPROCS goroutines at once.
func BenchmarkGet(b *testing.B) {
	for _, cache := range []struct {
		name  string
		bytes int64
	}{{"cache=on", 0}, {"cache=off", -1}} {
		b.Run(cache.name, func(b *testing.B) { benchGet(b, cache.bytes) })
	}
}

func benchGet(b *testing.B, cacheBytes int64) {
	db, cases := openBenchReadDB(b, cacheBytes)
	defer db.Close()
	for _, c := range cases {
		b.Run(c.name+"/goroutines=1", func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var key [benchKeyBytes]byte
			b.ResetTimer()
			for range b.N {
				if _, err := c.ds.Get(benchCtx, benchKey(key[:], rng.Uint64N(benchReadKeys))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 2))
				var key [benchKeyBytes]byte
				for pb.Next() {
					if _, err := c.ds.Get(benchCtx, benchKey(key[:], rng.Uint64N(benchReadKeys))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkScan100 reads pages of 100 keys with their values, each page
// starting at a random key of a 100,000-key dataspace.
func BenchmarkScan100(b *testing.B) {
	db, cases := openBenchReadDB(b, 0)
	defer db.Close()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			var key [benchKeyBytes]byte
			short := 0
			b.ResetTimer()
			for range b.N {
				page, err := c.ds.Scan(benchCtx, holdfast.ScanOptions{Start: benchKey(key[:], rng.Uint64N(benchReadKeys)), Limit: 100})
				if err != nil {
					b.Fatal(err)
				}
				if len(page.KVs) < 100 {
					short++ // a start near the end of the key order
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N-short)/float64(b.N), "full-pages/op")
		})
	}
}

// BenchmarkLoad writes N keys (HOLDFAST_BENCH_KEYS, default 100,000) with
// 100-byte values into a new dataspace, in durable batches of 1000, and
// reports the live heap the loaded dataspace holds per key: HeapAlloc
// after loading minus HeapAlloc before, after full collections, over N.
func BenchmarkLoad(b *testing.B) {
	n := benchKeyCount(b)
	b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
		var heapPerKey float64
		for range b.N {
			b.StopTimer()
			dir := filepath.Join(b.TempDir(), "db")
			db := benchOpen(b, dir)
			ds, err := db.CreateDataspace("bench", holdfast.DataspaceOptions{})
			if err != nil {
				b.Fatal(err)
			}
			base := heapAllocBytes()
			b.StartTimer()
			benchLoad(b, ds, n, benchValueBytes)
			b.StopTimer()
			heapPerKey = float64(heapAllocBytes()-base) / float64(n)
			if got := ds.Len(); got != n {
				b.Fatalf("loaded %d keys, want %d", got, n)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			os.RemoveAll(dir)
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
		b.ReportMetric(heapPerKey, "heap-bytes/key")
	})
}

// BenchmarkOpen measures Open of a data directory holding one dataspace of
// N keys (HOLDFAST_BENCH_KEYS, default 100,000) with 100-byte values,
// written in batches of 1000: recovery reads and verifies the whole log
// from the device (O_DIRECT) and rebuilds the index. It also reports the
// live heap of the open DB per key (after Open minus before, after full
// collections, over N).
func BenchmarkOpen(b *testing.B) {
	n := benchKeyCount(b)
	dir := filepath.Join(b.TempDir(), "db")
	db := benchOpen(b, dir)
	ds, err := db.CreateDataspace("bench", holdfast.DataspaceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	benchLoad(b, ds, n, benchValueBytes)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
		var heapPerKey float64
		for i := range b.N {
			var base int64
			if i == 0 {
				b.StopTimer()
				base = heapAllocBytes()
				b.StartTimer()
			}
			db := benchOpen(b, dir)
			b.StopTimer()
			ds, err := db.Dataspace("bench")
			if err != nil {
				b.Fatal(err)
			}
			if got := ds.Len(); got != n {
				b.Fatalf("opened %d keys, want %d (%v)", got, n, ds.Err())
			}
			if i == 0 {
				heapPerKey = float64(heapAllocBytes()-base) / float64(n)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
		b.ReportMetric(heapPerKey, "heap-bytes/key")
	})
}

// stallsPerSecond counts the 10 ms windows, from start, in which at least
// 10 Puts that began there took over 2 ms: most of the writers waited at
// once, a stall of the whole pipeline rather than one slow Put.
func stallsPerSecond(per []latencies, starts [][]time.Time, start time.Time, elapsed time.Duration) float64 {
	slow := map[time.Duration]int{}
	for g := range per {
		for i, d := range per[g] {
			if d > 2*time.Millisecond {
				slow[starts[g][i].Sub(start)/(10*time.Millisecond)]++
			}
		}
	}
	n := 0
	for _, c := range slow {
		if c >= 10 {
			n++
		}
	}
	return float64(n) / elapsed.Seconds()
}

// BenchmarkPutDuringCompaction measures client Puts (16 goroutines, random
// keys among 50,000) while one compaction relocates a log of 50,000 live
// values written twice over, against the same Puts with no compaction: the
// foreground cost of compaction. The compaction lasts only part of the
// measurement (compaction-ms beside elapsed-ms), so during-p50-µs and
// during-p99-µs are reported apart: the Puts that started and ended while
// it ran (during-puts of them); stalls/s counts stalls of most writers at
// once (stallsPerSecond). The compactor hands the writer one chunk
// of values at a time, which rides in a commit group with the client Puts.
func BenchmarkPutDuringCompaction(b *testing.B) {
	const keys, goroutines = 50_000, 16
	for _, compacting := range []bool{false, true} {
		b.Run(fmt.Sprintf("compacting=%v", compacting), func(b *testing.B) {
			db, err := holdfast.Open(b.TempDir(), holdfast.Options{Logger: benchLogger(), CompactionSpaceAmp: -1,
				SegmentSizeBytes: 4 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ds, err := db.CreateDataspace("bench", holdfast.DataspaceOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for range 2 { // every value twice: half the log is garbage
				benchLoad(b, ds, keys, benchValueBytes)
			}
			stop := make(chan struct{})
			var compactions, compactMs atomic.Int64
			var compactErr atomic.Value
			var window [2]time.Time // the compaction's start and end
			done := make(chan struct{})
			// One compaction, started with the Puts: it relocates the
			// 50,000 live values (half the log) while they run.
			go func() {
				defer close(done)
				if !compacting {
					return
				}
				window[0] = time.Now()
				st, err := ds.Compact(benchCtx)
				window[1] = time.Now()
				if err != nil {
					compactErr.CompareAndSwap(nil, err)
					return
				}
				compactions.Add(1)
				compactMs.Store(st.Duration.Milliseconds())
			}()
			per := make([]latencies, goroutines)
			starts := make([][]time.Time, goroutines)
			var failed atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for g := range goroutines {
				share := b.N / goroutines
				wg.Add(1)
				go func(lat *latencies, at *[]time.Time) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					var key [benchKeyBytes]byte
					value := benchValue(benchValueBytes, uint64(g))
					for range share {
						k := benchKey(key[:], rng.Uint64N(keys))
						t0 := time.Now()
						if _, err := ds.Put(benchCtx, k, value); err != nil {
							failed.CompareAndSwap(nil, err)
							return
						}
						*lat = append(*lat, time.Since(t0))
						*at = append(*at, t0)
					}
				}(&per[g], &starts[g])
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			<-done
			if b.N >= 1000 {
				b.ReportMetric(stallsPerSecond(per, starts, start, elapsed), "stalls/s")
			}
			// The Puts that ran wholly while the compaction did.
			var during latencies
			for g := range per {
				for i, d := range per[g] {
					if t0 := starts[g][i]; !t0.Before(window[0]) && !t0.Add(d).After(window[1]) {
						during = append(during, d)
					}
				}
			}
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			if err, _ := compactErr.Load().(error); err != nil {
				b.Fatal(err)
			}
			if compacting && compactions.Load() == 0 {
				b.Fatal("the compaction did not finish")
			}
			all := slices.Concat(per...)
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
			all.report(b)
			switch {
			case compacting && len(during) == 0 && b.N >= 1000:
				b.Fatal("no Put ran wholly during the compaction")
			case compacting && len(during) > 0:
				slices.Sort(during)
				b.ReportMetric(float64(len(during)), "during-puts")
				b.ReportMetric(float64(during[len(during)/2].Microseconds()), "during-p50-µs")
				b.ReportMetric(float64(during[min(len(during)-1, len(during)*99/100)].Microseconds()), "during-p99-µs")
			}
			b.ReportMetric(float64(compactMs.Load()), "compaction-ms")
			b.ReportMetric(float64(elapsed.Milliseconds()), "elapsed-ms")
		})
	}
}
