package holdfast

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Writes submitted without waiting from one goroutine apply in order and
// share commit groups.
func TestAsyncWritesApplyInOrderAndShareGroups(t *testing.T) {
	ctx := context.Background()
	_, ds := openPipelined(t, slowSyncFS(2*time.Millisecond))
	var ps []*Pending
	for i := range 200 {
		ps = append(ps, ds.PutAsync(ctx, []byte("k"), []byte(fmt.Sprint(i))))
		ps = append(ps, ds.IncrAsync(ctx, []byte("n"), 1))
	}
	var b Batch
	b.Put([]byte("b1"), []byte("x"))
	b.Put([]byte("b2"), []byte("y"))
	ps = append(ps, ds.ApplyAsync(ctx, &b))
	ps = append(ps, ds.DeleteAsync(ctx, []byte("k")))
	var last uint64
	for i, p := range ps {
		res, err := p.Wait()
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if res.Seq <= last {
			t.Fatalf("write %d has seq %d after %d: not applied in submission order", i, res.Seq, last)
		}
		last = res.Seq
		if i%2 == 1 && i < 400 && res.Int != int64(i/2+1) {
			t.Fatalf("increment %d returned %d, want %d", i/2, res.Int, i/2+1)
		}
	}
	// Waited a second time on purpose: the same answer, at once.
	if res, err := ps[len(ps)-1].Wait(); err != nil || !res.Existed {
		t.Fatalf("second Wait of the delete: %+v, %v; want Existed", res, err)
	}
	if v, err := ds.Get(ctx, []byte("b2")); err != nil || string(v.Data) != "y" {
		t.Fatalf("b2 from the async batch = %q, %v", v.Data, err)
	}
	if _, err := ds.Get(ctx, []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("k after the final delete: %v, want ErrNotFound", err)
	}
	v, err := ds.Get(ctx, []byte("n"))
	if err != nil || string(v.Data) != "200" {
		t.Fatalf("n = %q, %v; want 200", v.Data, err)
	}
	s := ds.Stats()
	if s.Records != int64(len(ps)) {
		t.Fatalf("%d records for %d writes", s.Records, len(ps))
	}
	if s.Groups > int64(len(ps))/10 {
		t.Fatalf("%d writes from one goroutine took %d groups: submissions without waiting did not share groups", len(ps), s.Groups)
	}
}

// A bad write is refused at once with the usual error; nothing is queued.
func TestAsyncRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	_, ds := openPipelined(t, slowSyncFS(0))
	big := []byte(strings.Repeat("k", DefaultMaxKeySizeBytes+1))
	if _, err := ds.PutAsync(ctx, big, nil).Wait(); !errors.Is(err, ErrKeyTooLarge) {
		t.Fatalf("oversize key: %v, want ErrKeyTooLarge", err)
	}
	if _, err := ds.DeleteAsync(ctx, nil).Wait(); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: %v, want ErrEmptyKey", err)
	}
	if _, err := ds.ApplyAsync(ctx, &Batch{}).Wait(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty batch: %v, want ErrInvalidArgument", err)
	}
	if _, err := ds.IncrAsync(ctx, []byte("k"), 1, WithRequestID(strings.Repeat("r", 1000))).Wait(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("long request id: %v, want ErrInvalidArgument", err)
	}
	if s := ds.Stats(); s.Records != 0 {
		t.Fatalf("%d records written by refused writes", s.Records)
	}
}

// Close with writes still queued: each either succeeded (and is there
// after the next open) or failed with ErrClosed (and is not).
func TestAsyncCloseWithQueuedWrites(t *testing.T) {
	ctx := context.Background()
	fsys := slowSyncFS(time.Millisecond)
	db, ds := openPipelined(t, fsys)
	var ps []*Pending
	for i := range 600 {
		ps = append(ps, ds.PutAsync(ctx, []byte(fmt.Sprintf("k%04d", i)), []byte("v")))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ok := map[int]bool{}
	for i, p := range ps {
		_, err := p.Wait()
		switch {
		case err == nil:
			ok[i] = true
		case !errors.Is(err, ErrClosed):
			t.Fatalf("write %d: %v, want success or ErrClosed", i, err)
		}
	}
	db2, err := Open("/data", Options{FS: fsys, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ds2, err := db2.Dataspace("p")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		_, err := ds2.Get(ctx, []byte(fmt.Sprintf("k%04d", i)))
		if ok[i] != (err == nil) {
			t.Fatalf("write %d: acknowledged=%v but after reopen Get=%v", i, ok[i], err)
		}
	}
	t.Logf("%d of %d queued writes done before Close", len(ok), len(ps))
}
