package holdfast_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// ackLog records writes acknowledged, with the time of the ack relative to
// a quiesce.
type ackLog struct {
	mu   sync.Mutex
	acks map[string]string // "ds/key" -> value
}

func (a *ackLog) add(ds, k, v string) {
	a.mu.Lock()
	a.acks[ds+"/"+k] = v
	a.mu.Unlock()
}

func (a *ackLog) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.acks))
	for k, v := range a.acks {
		out[k] = v
	}
	return out
}

// writeLoad runs writers on every dataspace until stop closes. Writes
// refused with ErrQuiesced are not acknowledged; any other error fails
// the test.
func writeLoad(t *testing.T, db *holdfast.DB, names []string, writers int, acks *ackLog, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := mustDS(t, db, names[g%len(names)])
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d/%d", g, i%50)
				v := fmt.Sprintf("%d-%s", i, strings.Repeat("v", i%3*100))
				_, err := ds.Put(ctx, []byte(k), []byte(v))
				switch {
				case err == nil:
					acks.add(ds.Name(), k, v)
				case errors.Is(err, holdfast.ErrQuiesced):
					time.Sleep(time.Millisecond)
				default:
					t.Errorf("put %s: %v", k, err)
					return
				}
			}
		}()
	}
	return &wg
}

// A copy of the device taken between quiesce and resume opens cleanly,
// passes restore verification and holds every write acknowledged before
// quiesce returned; writes wait or fail while quiesced, reads go on.
func TestQuiesceCopyRestores(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{Seed: 7})
	db := openFS(t, fsys)
	defer db.Close()
	names := []string{"a", "b", "c"}
	for _, n := range names {
		if _, err := db.CreateDataspace(n, holdfast.DataspaceOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	acks := &ackLog{acks: map[string]string{}}
	for round := 0; round < 3; round++ {
		stop := make(chan struct{})
		wg := writeLoad(t, db, names, 6, acks, stop)
		time.Sleep(20 * time.Millisecond)
		info, err := db.Quiesce(ctx, holdfast.QuiesceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		acked := acks.snapshot()
		again, err := db.Quiesce(ctx, holdfast.QuiesceOptions{})
		if err != nil || again.ID != info.ID {
			t.Fatalf("second quiesce = %q, %v; want the same id %q", again.ID, err, info.ID)
		}
		if ready, reasons := db.Ready(); ready || !strings.Contains(strings.Join(reasons, ";"), "quiesced") {
			t.Fatalf("Ready while quiesced = %v %q", ready, reasons)
		}
		// Writes are refused, reads served.
		ds := mustDS(t, db, "a")
		if _, err := ds.Put(ctx, []byte("late"), []byte("x")); !errors.Is(err, holdfast.ErrQuiesced) {
			t.Fatalf("put while quiesced = %v, want ErrQuiesced", err)
		}
		if _, err := db.CreateDataspace("late", holdfast.DataspaceOptions{}); !errors.Is(err, holdfast.ErrQuiesced) {
			t.Fatalf("create while quiesced = %v, want ErrQuiesced", err)
		}
		for k, v := range acked {
			if !strings.HasPrefix(k, "a/") {
				continue
			}
			if got := get(t, ds, strings.TrimPrefix(k, "a/")); got != v {
				t.Fatalf("read while quiesced %s = %q, want %q", k, got, v)
			}
			break
		}
		time.Sleep(5 * time.Millisecond) // writers keep knocking
		clone, err := fsys.CrashClone(faultfs.CrashOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Resume(info.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.Resume(info.ID); err != nil {
			t.Fatalf("second resume: %v", err)
		}
		if ok, err := vfs.Exists(fsys, "/data/snapshot.json"); ok || err != nil {
			t.Fatalf("snapshot.json still on the live volume after resume: %v %v", ok, err)
		}
		time.Sleep(10 * time.Millisecond)
		close(stop)
		wg.Wait()

		restored := openFS(t, clone)
		rs := restored.RestoreStatus()
		if !rs.Checked || !rs.OK || rs.QuiesceID != info.ID {
			t.Fatalf("round %d: restore status %+v, want checked and ok for %s", round, rs, info.ID)
		}
		for k, v := range acked {
			dsName, key, _ := strings.Cut(k, "/")
			if got := get(t, mustDS(t, restored, dsName), key); got != v {
				t.Fatalf("round %d: restored %s = %q, want %q (acknowledged before quiesce returned)", round, k, got, v)
			}
		}
		for _, d := range info.Dataspaces {
			if d.LastSeq != mustDS(t, restored, d.Name).LastSeq() {
				t.Fatalf("restored %s at seq %d, snapshot.json says %d", d.Name, mustDS(t, restored, d.Name).LastSeq(), d.LastSeq)
			}
		}
		rep, err := holdfast.Check("/data", holdfast.CheckOptions{FS: clone})
		if err != nil || !rep.OK {
			t.Fatalf("check of the copy: %v\n%+v", err, rep)
		}
		restored.Close()
	}
	if t.Failed() {
		return
	}
	if _, err := mustDS(t, db, "a").Put(ctx, []byte("after"), []byte("x")); err != nil {
		t.Fatalf("put after resume: %v", err)
	}
}

// The auto-resume deadline ends a quiesce nobody resumes.
func TestQuiesceAutoResume(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	defer db.Close()
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	info, err := db.Quiesce(ctx, holdfast.QuiesceOptions{AutoResumeAfter: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !info.ResumeBy.After(info.Time) {
		t.Fatalf("resume_by %v not after %v", info.ResumeBy, info.Time)
	}
	if _, err := ds.Put(ctx, []byte("k"), []byte("v")); !errors.Is(err, holdfast.ErrQuiesced) {
		t.Fatalf("put = %v, want ErrQuiesced", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := db.QuiesceStatus(); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still quiesced 5 s after a 50 ms auto-resume deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := ds.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("put after auto-resume: %v", err)
	}
	if err := db.Resume(info.ID); err != nil {
		t.Fatalf("late resume after auto-resume: %v (want nil: resume is idempotent)", err)
	}
}

// With WriteWait, a write that arrives while quiesced waits and then
// succeeds once resumed; past WriteWait it fails with ErrQuiesced.
func TestQuiesceWriteWait(t *testing.T) {
	db := openFS(t, faultfs.New(faultfs.Options{}))
	defer db.Close()
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	info, err := db.Quiesce(ctx, holdfast.QuiesceOptions{WriteWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	errc := make(chan error, 1)
	go func() {
		_, err := ds.Put(ctx, []byte("k"), []byte("v"))
		done.Store(true)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if done.Load() {
		t.Fatal("a write completed while quiesced")
	}
	if err := db.Resume(info.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("held write after resume: %v", err)
	}
	if _, err := db.Quiesce(ctx, holdfast.QuiesceOptions{WriteWait: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = ds.Put(ctx, []byte("k2"), []byte("v"))
	if !errors.Is(err, holdfast.ErrQuiesced) || time.Since(start) < 25*time.Millisecond {
		t.Fatalf("put past WriteWait = %v after %v, want ErrQuiesced after ~30ms", err, time.Since(start))
	}
	if err := db.Resume("q-someoneelse"); !errors.Is(err, holdfast.ErrInvalidArgument) {
		t.Fatalf("resume with a wrong id = %v, want ErrInvalidArgument", err)
	}
	if err := db.Resume(""); err != nil {
		t.Fatal(err)
	}
}

// A quiesce whose context ends while a write is still in flight fails and
// leaves the database writable.
func TestQuiesceTimeoutLeavesWritable(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	defer db.Close()
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	// Every log sync now takes 300 ms.
	fsys.SetInjector(faultfs.InjectorFunc(func(op faultfs.Op) error {
		if op.Kind == faultfs.OpSyncData && strings.Contains(op.Path, "/wal/") {
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	}))
	go ds.Put(ctx, []byte("slow"), []byte("v"))
	time.Sleep(20 * time.Millisecond)
	qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := db.Quiesce(qctx, holdfast.QuiesceOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("quiesce with a write in flight and a 50 ms deadline = %v, want DeadlineExceeded", err)
	}
	if _, ok := db.QuiesceStatus(); ok {
		t.Fatal("quiesced after a failed quiesce")
	}
	fsys.SetInjector(nil)
	if _, err := ds.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("put after a failed quiesce: %v", err)
	}
	if ok, _ := db.Ready(); !ok {
		t.Fatal("not ready after a failed quiesce")
	}
}

// Restore verification catches a snapshot taken before quiesce returned
// and a snapshot.json that never reached the device, and says so.
func TestRestoreVerificationFailures(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	defer db.Close()
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	for i := 0; i < 20; i++ {
		ds.Put(ctx, []byte(fmt.Sprint(i)), []byte("v"))
	}
	early, _ := fsys.CrashClone(faultfs.CrashOptions{})
	for i := 20; i < 40; i++ {
		ds.Put(ctx, []byte(fmt.Sprint(i)), []byte("v"))
	}
	if _, err := db.Quiesce(ctx, holdfast.QuiesceOptions{}); err != nil {
		t.Fatal(err)
	}
	good, _ := fsys.CrashClone(faultfs.CrashOptions{})
	root, err := vfs.ReadFile(fsys, "/data/snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	dsMeta, _ := vfs.ReadFile(fsys, "/data/dataspaces/d/snapshot.json")
	db.Resume("")

	cases := []struct {
		name   string
		fsys   *faultfs.FS
		damage func(*faultfs.FS)
		want   string
	}{
		{"early copy", early, func(f *faultfs.FS) {
			vfs.WriteFileAtomic(f, "/data/snapshot.json", root, 0o644)
			vfs.WriteFileAtomic(f, "/data/dataspaces/d/snapshot.json", dsMeta, 0o644)
		}, "acknowledged writes are missing"},
		{"empty root", good, func(f *faultfs.FS) { vfs.WriteFileAtomic(f, "/data/snapshot.json", nil, 0o644) }, "zero length"},
		{"truncated dataspace file", good, func(f *faultfs.FS) {
			vfs.WriteFileAtomic(f, "/data/dataspaces/d/snapshot.json", dsMeta[:len(dsMeta)/2], 0o644)
		}, "truncated"},
		{"missing dataspace file", good, func(f *faultfs.FS) { f.Remove("/data/dataspaces/d/snapshot.json") }, "missing, but"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.fsys.CrashClone(faultfs.CrashOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(f)
			rdb := openFS(t, f)
			defer rdb.Close()
			rs := rdb.RestoreStatus()
			if !rs.Checked || rs.OK || !strings.Contains(strings.Join(rs.Problems, "\n"), tc.want) {
				t.Fatalf("restore status %+v, want a problem saying %q", rs, tc.want)
			}
			if ready, reasons := rdb.Ready(); ready || !strings.Contains(strings.Join(reasons, "\n"), "restore verification failed") {
				t.Fatalf("Ready = %v %q", ready, reasons)
			}
			rep, err := holdfast.Check("/data", holdfast.CheckOptions{FS: f})
			if err != nil || rep.OK {
				t.Fatalf("check = ok %v, %v; want a problem", rep.OK, err)
			}
		})
	}
	// The good copy passes.
	gdb := openFS(t, good)
	defer gdb.Close()
	if rs := gdb.RestoreStatus(); !rs.OK {
		t.Fatalf("good copy: %+v", rs)
	}
}

// A quiesce pauses a running compaction: no segment is removed and no
// sequence number is taken until resume.
func TestQuiescePausesCompaction(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db, err := holdfast.Open("/data", holdfast.Options{FS: fsys, Logger: quiet(), SegmentSizeBytes: 64 << 10, CompactionSpaceAmp: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	for i := 0; i < 400; i++ {
		ds.Put(ctx, []byte(fmt.Sprint(i%40)), []byte(strings.Repeat("x", 500)))
	}
	info, err := db.Quiesce(ctx, holdfast.QuiesceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	compacted := make(chan error, 1)
	go func() { _, err := ds.Compact(cctx); compacted <- err }()
	time.Sleep(60 * time.Millisecond)
	if got := ds.LastSeq(); got != info.Dataspaces[0].LastSeq {
		t.Fatalf("compaction took sequence numbers while quiesced: %d, recorded %d", got, info.Dataspaces[0].LastSeq)
	}
	clone, _ := fsys.CrashClone(faultfs.CrashOptions{})
	if rep, err := holdfast.Check("/data", holdfast.CheckOptions{FS: clone}); err != nil || !rep.OK {
		t.Fatalf("check of a copy while quiesced with a compaction waiting: %v %+v", err, rep)
	}
	db.Resume(info.ID)
	if err := <-compacted; err != nil {
		t.Fatalf("compaction after resume: %v", err)
	}
}

// Close while quiesced resumes: held writers are released (they then
// either get ErrClosed or, if they reach the writer before it stops, are
// applied as any write in flight at Close is), the snapshot.json files
// go, and a later Quiesce reports ErrClosed.
func TestCloseWhileQuiesced(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db := openFS(t, fsys)
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	if _, err := db.Quiesce(ctx, holdfast.QuiesceOptions{WriteWait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { _, err := ds.Put(ctx, []byte("k"), []byte("v")); held <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-held:
		if err != nil && !errors.Is(err, holdfast.ErrClosed) {
			t.Fatalf("held write after Close = %v, want ErrClosed or success", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held write is still waiting 5 s after Close")
	}
	if ok, _ := vfs.Exists(fsys, "/data/snapshot.json"); ok {
		t.Fatal("snapshot.json left after Close of a quiesced database")
	}
	if _, err := db.Quiesce(ctx, holdfast.QuiesceOptions{}); !errors.Is(err, holdfast.ErrClosed) {
		t.Fatalf("Quiesce after Close = %v, want ErrClosed", err)
	}
}

// A restored copy keeps serving: after more writes and a compaction that
// removes segments snapshot.json lists, a restart still verifies (the log
// moved on; removed segments are noted, not problems).
func TestRestoredCopyMovesOn(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	opts := holdfast.Options{FS: fsys, Logger: quiet(), SegmentSizeBytes: 64 << 10, CompactionSpaceAmp: -1}
	db, err := holdfast.Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	for i := 0; i < 300; i++ {
		ds.Put(ctx, []byte(fmt.Sprint(i%30)), []byte(strings.Repeat("x", 600)))
	}
	if _, err := db.Quiesce(ctx, holdfast.QuiesceOptions{}); err != nil {
		t.Fatal(err)
	}
	copyFS, _ := fsys.CrashClone(faultfs.CrashOptions{})
	db.Resume("")
	db.Close()

	opts.FS = copyFS
	r, err := holdfast.Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	if rs := r.RestoreStatus(); !rs.OK {
		t.Fatalf("fresh restore: %+v", rs)
	}
	rds := mustDS(t, r, "d")
	for i := 0; i < 100; i++ {
		rds.Put(ctx, []byte(fmt.Sprint(i%30)), []byte(strings.Repeat("y", 600)))
	}
	st, err := rds.Compact(ctx)
	if err != nil || st.RemovedSegments == 0 {
		t.Fatalf("compaction removed %d segments, %v; the test needs some removed", st.RemovedSegments, err)
	}
	r.Close()
	r, err = holdfast.Open("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rs := r.RestoreStatus()
	if !rs.Checked || !rs.OK || !strings.Contains(strings.Join(rs.Notes, "\n"), "removed by compaction") {
		t.Fatalf("restart of a restored copy that moved on: %+v", rs)
	}
	// holdfast check agrees.
	if rep, err := holdfast.Check("/data", holdfast.CheckOptions{FS: copyFS}); err != nil || !rep.OK {
		t.Fatalf("check of the copy that moved on: %v %+v", err, rep.Problems)
	}
}
