package metrics

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// openOn opens a database on an in-memory faultfs wrapped by m.FS.
func openOn(t *testing.T, m *Metrics) (*holdfast.DB, *faultfs.FS) {
	t.Helper()
	fs := faultfs.New(faultfs.Options{})
	db, err := holdfast.Open("/data", holdfast.Options{FS: m.FS(fs), Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateDataspace("default", holdfast.DataspaceOptions{}); err != nil {
		t.Fatal(err)
	}
	m.WatchDB(db)
	return db, fs
}

// TestFSCountsSyncsAndGroups: every durable put is one group write and
// one fdatasync of the log, seen by the wrapped FS.
func TestFSCountsSyncsAndGroups(t *testing.T) {
	m := New()
	db, _ := openOn(t, m)
	ds, _ := db.Dataspace("default")
	logSyncs0 := histCount(t, m, "holdfast_fsync_duration_seconds", "log")
	groups0 := histCount(t, m, "holdfast_wal_group_write_bytes", "")
	records0 := histCount(t, m, "holdfast_commit_group_records", "")
	for i := 0; i < 5; i++ {
		if _, err := ds.Put(context.Background(), []byte{byte('a' + i)}, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if got := histCount(t, m, "holdfast_fsync_duration_seconds", "log") - logSyncs0; got < 5 {
		t.Errorf("log fsyncs observed for 5 durable puts: %d, want at least 5", got)
	}
	if got := histCount(t, m, "holdfast_wal_group_write_bytes", "") - groups0; got != 5 {
		t.Errorf("group writes observed for 5 sequential puts: %d, want 5", got)
	}
	if got := histCount(t, m, "holdfast_commit_group_records", "") - records0; got != 5 {
		t.Errorf("commit groups the engine reported for 5 sequential puts: %d, want 5", got)
	}
	if v := testutil.ToFloat64(m.ioErrors.WithLabelValues("sync", "log")); v != 0 {
		t.Errorf("io errors without faults: %v", v)
	}
}

// histCount is a histogram's sample count, for the series whose "file"
// label is file ("" for an unlabelled histogram).
func histCount(t *testing.T, m *Metrics, name, file string) uint64 {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			match := file == ""
			for _, l := range s.GetLabel() {
				if l.GetName() == "file" && l.GetValue() == file {
					match = true
				}
			}
			if match {
				return s.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// TestFailStopSurvivesReopen: a failed fdatasync fail-stops the
// dataspace; the error counter moves at once, the dataspace reads as
// stopped, and after a reopen (a new *Dataspace whose own counters start
// at zero) holdfast_fail_stop_events_total still counts it.
func TestFailStopSurvivesReopen(t *testing.T) {
	m := New()
	db, fs := openOn(t, m)
	ds, _ := db.Dataspace("default")
	ctx := context.Background()
	if _, err := ds.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	fs.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData), 1, syscall.EIO))
	if _, err := ds.Put(ctx, []byte("k"), []byte("v2")); !errors.Is(err, holdfast.ErrOutcomeUnknown) {
		t.Fatalf("put during a failed sync: %v", err)
	}
	fs.SetInjector(nil)
	if v := testutil.ToFloat64(m.ioErrors.WithLabelValues("sync", "log")); v != 1 {
		t.Errorf("holdfast_io_errors_total{op=sync,file=log} = %v, want 1", v)
	}
	if err := testutil.GatherAndCompare(m.reg, stringsReader(`
# HELP holdfast_dataspace_stopped 1 while the dataspace is stopped (fail-stop after an I/O error, corruption), else 0.
# TYPE holdfast_dataspace_stopped gauge
holdfast_dataspace_stopped{dataspace="default"} 1
# HELP holdfast_fail_stop_events_total Times the dataspace fail-stopped after an I/O error (I5).
# TYPE holdfast_fail_stop_events_total counter
holdfast_fail_stop_events_total{dataspace="default"} 1
`), "holdfast_dataspace_stopped", "holdfast_fail_stop_events_total"); err != nil {
		t.Fatalf("after the fail-stop: %v", err)
	}
	if _, err := db.Reopen("default"); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(m.reg, stringsReader(`
# HELP holdfast_dataspace_stopped 1 while the dataspace is stopped (fail-stop after an I/O error, corruption), else 0.
# TYPE holdfast_dataspace_stopped gauge
holdfast_dataspace_stopped{dataspace="default"} 0
# HELP holdfast_fail_stop_events_total Times the dataspace fail-stopped after an I/O error (I5).
# TYPE holdfast_fail_stop_events_total counter
holdfast_fail_stop_events_total{dataspace="default"} 1
`), "holdfast_dataspace_stopped", "holdfast_fail_stop_events_total"); err != nil {
		t.Fatalf("after the reopen: %v", err)
	}
}
