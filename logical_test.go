package holdfast_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// A View sees the dataspace as it was when opened, values read from the
// log included, while writes and a compaction go on; compaction waits for
// it to close.
func TestViewIsConsistent(t *testing.T) {
	fsys := faultfs.New(faultfs.Options{})
	db, err := holdfast.Open("/data", holdfast.Options{FS: fsys, Logger: quiet(), SegmentSizeBytes: 64 << 10, CompactionSpaceAmp: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, _ := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	want := map[string]string{}
	for i := 0; i < 300; i++ {
		k, v := fmt.Sprintf("k%03d", i%100), strings.Repeat(fmt.Sprint(i), 1+i%5*60)
		ds.Put(ctx, []byte(k), []byte(v))
		want[k] = v
	}
	v, err := ds.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seq := v.LastSeq()
	for i := 0; i < 100; i++ {
		ds.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("changed"))
	}
	segsBefore := ds.Stats().Log.Segments
	compacted := make(chan error, 1)
	go func() { _, err := ds.Compact(ctx); compacted <- err }()
	got := map[string]string{}
	if err := v.Range(ctx, func(k, val []byte) error { got[string(k)] = string(val); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || v.Len() != len(want) || seq != 300 {
		t.Fatalf("view: %d keys (Len %d) at seq %d, want %d at 300", len(got), v.Len(), seq, len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("view %s = %q, want %q", k, got[k], w)
		}
	}
	select {
	case err := <-compacted:
		t.Fatalf("compaction finished while a view was open (%v); segments %d", err, segsBefore)
	default:
	}
	v.Close()
	if err := <-compacted; err != nil {
		t.Fatal(err)
	}
}
