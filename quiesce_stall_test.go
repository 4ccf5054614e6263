package holdfast

import (
	"context"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// A quiesce that begins while client writes wait for a compaction (the
// log outgrew the compaction's allowance, compactionStalls) completes:
// closing the gate pauses the compaction, and the writer, which waited for
// nothing but that compaction, must notice and take the writes, which the
// quiesce waits for to drain. Seen as a hang under load: the compactor
// paused between two steps, the writer waiting for it, the quiesce for
// the writes. The compaction here is one that never progresses (no
// compactor runs), so only the pause can release the writes.
func TestQuiesceWakesWritesHeldForACompaction(t *testing.T) {
	db, ds := openOneDataspace(t, Options{FS: faultfs.New(faultfs.Options{}), CompactionSpaceAmp: -1}, "d")
	if _, err := ds.Put(context.Background(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	job := &compactJob{stallAt: 0, stop: make(chan struct{}), exited: make(chan struct{})}
	close(job.exited) // no compactor goroutine
	onWriter := func(fn func()) {
		done := make(chan struct{})
		ds.tasks <- func() { fn(); close(done) }
		<-done
	}
	onWriter(func() { ds.compacting = job })
	defer onWriter(func() { ds.compacting = nil })

	put := make(chan error, 1)
	go func() {
		_, err := ds.Put(context.Background(), []byte("held"), []byte("v"))
		put <- err
	}()
	select {
	case err := <-put:
		t.Fatalf("the Put was not held back by the compaction (%v): the test did not set up its case", err)
	case <-time.After(50 * time.Millisecond):
	}
	qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := db.Quiesce(qctx, QuiesceOptions{})
	if err != nil {
		t.Fatalf("Quiesce while a write waited for a compaction: %v", err)
	}
	if err := <-put; err != nil {
		t.Fatalf("the held Put: %v", err)
	}
	if err := db.Resume(info.ID); err != nil {
		t.Fatal(err)
	}
}
