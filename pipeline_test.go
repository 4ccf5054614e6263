package holdfast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// The commit pipeline writes the next group while the previous one syncs
// and plans it against an overlay of unpublished writes. These tests slow
// the log's fdatasync down so that the pipeline is always full, and check
// that conditions, counters and request ids still behave as if every
// write ran alone, in order.

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// slowSyncFS is a faultfs whose fdatasync takes d, so that writes arrive
// while a sync runs.
func slowSyncFS(d time.Duration) *faultfs.FS {
	return faultfs.New(faultfs.Options{Latency: map[faultfs.OpKind]time.Duration{faultfs.OpSyncData: d}})
}

func openPipelined(t *testing.T, fsys *faultfs.FS) (*DB, *Dataspace) {
	t.Helper()
	return openOneDataspace(t, Options{FS: fsys}, "p")
}

// openOneDataspace opens a DB at /data with opts (quiet unless opts has a
// Logger), closed when the test ends, and creates the dataspace name.
func openOneDataspace(t *testing.T, opts Options, name string) (*DB, *Dataspace) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	db, err := Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ds, err := db.CreateDataspace(name, DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return db, ds
}

// Increments and compare-and-swap loops on a few hot keys from many
// goroutines: every increment result is unique and they form 1..n, and
// the CAS counter ends at the number of successful swaps. A planner that
// ignored the unpublished group would hand out duplicate results.
func TestPipelineConditionsStayLinearizable(t *testing.T) {
	ctx := context.Background()
	_, ds := openPipelined(t, slowSyncFS(2*time.Millisecond))
	const workers, perWorker, counters = 16, 25, 3
	results := make([][]int64, counters)
	var mu sync.Mutex
	var wg sync.WaitGroup
	casKey := []byte("cas")
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				c := (w + i) % counters
				n, _, err := ds.Incr(ctx, []byte("ctr"+strconv.Itoa(c)), 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				results[c] = append(results[c], n)
				mu.Unlock()
				if i%5 != 0 {
					continue
				}
				for { // read, add one, swap: retried until it wins
					v, err := ds.Get(ctx, casKey)
					var cur int
					var ver uint64
					switch {
					case errors.Is(err, ErrNotFound):
					case err != nil:
						t.Error(err)
						return
					default:
						cur, _ = strconv.Atoi(string(v.Data))
						ver = v.Seq
					}
					_, err = ds.CompareAndSwap(ctx, casKey, ver, []byte(strconv.Itoa(cur+1)))
					if err == nil {
						break
					}
					if !errors.Is(err, ErrVersionMismatch) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for c, got := range results {
		slices.Sort(got)
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("counter %d: results %v are not 1..%d: an increment was planned against a stale value", c, got, len(got))
			}
		}
		v, err := ds.Get(ctx, []byte("ctr"+strconv.Itoa(c)))
		if err != nil || string(v.Data) != strconv.Itoa(len(got)) {
			t.Fatalf("counter %d = %q, %v; want %d", c, v.Data, err, len(got))
		}
		total += len(got)
	}
	if total != workers*perWorker {
		t.Fatalf("%d increments recorded, want %d", total, workers*perWorker)
	}
	v, err := ds.Get(ctx, casKey)
	if want := workers * ((perWorker + 4) / 5); err != nil || string(v.Data) != strconv.Itoa(want) {
		t.Fatalf("CAS counter = %q, %v; want %d", v.Data, err, want)
	}
	if s := ds.Stats(); s.Overlapped == 0 {
		t.Fatalf("no group was written while another synced (stats %+v): the test did not exercise the pipeline", s)
	}
	checkDrainedPipeline(t, ds, 3)
}

// checkDrainedPipeline checks, on the writer goroutine, that at some point
// at least depth groups were unpublished at once, and that with the
// pipeline now empty nothing is left in the overlay or the in-flight
// request ids (a key left there would shadow the index forever).
func checkDrainedPipeline(t *testing.T, ds *Dataspace, depth int) {
	t.Helper()
	done := make(chan struct{})
	var deepest, overlay, left, ids int
	ds.tasks <- func() {
		deepest, overlay, left, ids = ds.deepest, len(ds.overlay), ds.overlayLeft, len(ds.inflightIDs)
		close(done)
	}
	<-done
	if deepest < depth {
		t.Errorf("at most %d groups were unpublished at once, want at least %d: the test did not fill the pipeline", deepest, depth)
	}
	if overlay != 0 || left != 0 || ids != 0 {
		t.Errorf("pipeline drained, but %d keys remain in the overlay, %d were left there by publication, and %d request ids are in flight", overlay, left, ids)
	}
}

// A retry whose first attempt is still in an unpublished group is not
// applied again and gets the first attempt's sequence number.
func TestPipelineRequestIDInFlight(t *testing.T) {
	ctx := context.Background()
	_, ds := openPipelined(t, slowSyncFS(3*time.Millisecond))
	const ids, tries = 20, 4
	seqs := make([][]uint64, ids)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range ids {
		for range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, seq, err := ds.Incr(ctx, []byte("n"), 1, WithRequestID(fmt.Sprintf("req-%d", i)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs[i] = append(seqs[i], seq)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for i, s := range seqs {
		if len(s) != tries || slices.Min(s) != slices.Max(s) {
			t.Fatalf("request id %d: attempts returned seqs %v; want one seq for all %d", i, s, tries)
		}
	}
	v, err := ds.Get(ctx, []byte("n"))
	if err != nil || string(v.Data) != strconv.Itoa(ids) {
		t.Fatalf("n = %q, %v; want %d (each request id applied once)", v.Data, err, ids)
	}
	// Its 80 writes may form only one or two groups on a loaded machine:
	// no depth is required here (TestPipelineConditionsStayLinearizable
	// requires one).
	checkDrainedPipeline(t, ds, 0)
}

// A failed sync with the next group already written: the writers of both
// learn that the outcome is unknown or that nothing was applied, never
// success; after reopening, every acknowledged write is there and every
// write that failed with a definite error is not.
func TestPipelineSyncFailureWithNextGroupWritten(t *testing.T) {
	ctx := context.Background()
	fsys := slowSyncFS(2 * time.Millisecond)
	db, ds := openPipelined(t, fsys)
	// Warm the pipeline up, then fail a sync in the middle of the load.
	if _, err := ds.Put(ctx, []byte("before"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSyncData), 5, syscall.EIO))
	type outcome struct {
		key string
		err error
	}
	var mu sync.Mutex
	var outs []outcome
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := ds.Put(ctx, []byte(key), []byte(key))
				mu.Lock()
				outs = append(outs, outcome{key, err})
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	fsys.SetInjector(nil)
	var acked, unknown, definite int
	for _, o := range outs {
		switch {
		case o.err == nil:
			acked++
		case errors.Is(o.err, ErrOutcomeUnknown):
			unknown++
		case errors.Is(o.err, ErrFailStop):
			definite++
		default:
			t.Fatalf("put %s: unexpected error %v", o.key, o.err)
		}
	}
	if unknown == 0 {
		t.Fatalf("no writer learned of the failed sync (acked %d, definite %d)", acked, definite)
	}
	ds, err := db.Reopen("p")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		_, err := ds.Get(ctx, []byte(o.key))
		switch {
		case o.err == nil && err != nil:
			t.Fatalf("acknowledged put %s lost after the failed sync: %v", o.key, err)
		case o.err != nil && !errors.Is(o.err, ErrOutcomeUnknown) && err == nil:
			t.Fatalf("put %s failed with %v but is visible after reopen", o.key, o.err)
		}
	}
	t.Logf("acked %d, outcome unknown %d, definitely not applied %d", acked, unknown, definite)
}

// Close under a steady load drains the pipeline and returns; every write
// acknowledged before it is there after the next open.
func TestPipelineCloseUnderLoad(t *testing.T) {
	ctx := context.Background()
	fsys := slowSyncFS(time.Millisecond)
	db, ds := openPipelined(t, fsys)
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := ds.Put(ctx, []byte(key), []byte(key)); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("put %s: %v", key, err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, key)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return under load: the pipeline never drained")
	}
	wg.Wait()
	db2, err := Open("/data", Options{FS: fsys, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ds2, err := db2.Dataspace("p")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range acked {
		if _, err := ds2.Get(ctx, []byte(k)); err != nil {
			t.Fatalf("acknowledged %s missing after Close and open: %v", k, err)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before Close")
	}
}

// Crash states taken while the pipeline is full: every write acknowledged
// before the crash is in the state (I1), under every profile. A pipeline
// that released a group's waiters before that group's own sync finished
// would lose some of them here.
func TestPipelineCrashStatesKeepAcknowledgedWrites(t *testing.T) {
	ctx := context.Background()
	for _, p := range faultfs.Profiles {
		t.Run(string(p), func(t *testing.T) {
			fsys := faultfs.New(faultfs.Options{Profile: p, Seed: 7,
				Latency: map[faultfs.OpKind]time.Duration{faultfs.OpSyncData: time.Millisecond}})
			_, ds := openPipelined(t, fsys)
			var mu sync.Mutex
			var acked []string
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						key := fmt.Sprintf("w%d-%d", w, i)
						if _, err := ds.Put(ctx, []byte(key), []byte(key)); err != nil {
							t.Errorf("put %s: %v", key, err)
							return
						}
						mu.Lock()
						acked = append(acked, key)
						mu.Unlock()
					}
				}()
			}
			type state struct {
				fs    *faultfs.FS
				acked []string
			}
			var states []state
			for range 5 {
				time.Sleep(15 * time.Millisecond)
				mu.Lock()
				before := slices.Clone(acked)
				mu.Unlock()
				clone, err := fsys.CrashClone(faultfs.CrashOptions{})
				if err != nil {
					t.Fatal(err)
				}
				states = append(states, state{clone, before})
			}
			close(stop)
			wg.Wait()
			for n, st := range states {
				db, err := Open("/data", Options{FS: st.fs, Logger: quietLogger()})
				if err != nil {
					t.Fatalf("crash state %d: open: %v", n, err)
				}
				got, err := db.Dataspace("p")
				if err != nil {
					t.Fatalf("crash state %d: %v", n, err)
				}
				for _, k := range st.acked {
					if _, err := got.Get(ctx, []byte(k)); err != nil {
						t.Fatalf("crash state %d: %s was acknowledged before the crash and is gone: %v", n, k, err)
					}
				}
				db.Close()
			}
			if s := ds.Stats(); s.Overlapped == 0 {
				t.Fatalf("no group overlapped another's sync (stats %+v)", s)
			}
		})
	}
}
