package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-db/holdfast"
)

// dbCollector reads every dataspace's Stats at scrape time.
//
// The engine's counters start at zero each time a dataspace is opened (a
// reopen after a fail-stop makes a new *Dataspace), but Prometheus
// counters must not go down while the process lives: the collector keeps,
// per dataspace name, the last counters of each *Dataspace it saw, and
// adds those of replaced ones to a base. So holdfast_fail_stop_events_total
// still counts a fail-stop after the dataspace was reopened.
type dbCollector struct {
	db *holdfast.DB

	mu   sync.Mutex
	seen map[string]*dsCounters
}

// dsCounters are one dataspace name's counters: base (from replaced
// *Dataspace values) plus the current one's last reading.
type dsCounters struct {
	cur        *holdfast.Dataspace
	base, last counterSet
}

type counterSet struct {
	groups, records, syncs, failStops, compactions, compactionStalls, logBytesWritten int64
}

func (a counterSet) plus(b counterSet) counterSet {
	return counterSet{a.groups + b.groups, a.records + b.records, a.syncs + b.syncs,
		a.failStops + b.failStops, a.compactions + b.compactions, a.compactionStalls + b.compactionStalls,
		a.logBytesWritten + b.logBytesWritten}
}

func countersOf(s holdfast.Stats) counterSet {
	return counterSet{s.Groups, s.Records, s.Syncs, s.FailStop, s.Compactions, s.CompactionStalls, s.Log.BytesWritten}
}

func newDBCollector(db *holdfast.DB) *dbCollector {
	return &dbCollector{db: db, seen: make(map[string]*dsCounters)}
}

var (
	dsLabel = []string{"dataspace"}

	descKeys         = prometheus.NewDesc("holdfast_dataspace_keys", "Live keys in the dataspace.", dsLabel, nil)
	descBytes        = prometheus.NewDesc("holdfast_dataspace_bytes", "Bytes of live keys and values in the dataspace.", dsLabel, nil)
	descLastSeq      = prometheus.NewDesc("holdfast_dataspace_last_seq", "Sequence number of the dataspace's last visible write.", dsLabel, nil)
	descStopped      = prometheus.NewDesc("holdfast_dataspace_stopped", "1 while the dataspace is stopped (fail-stop after an I/O error, corruption), else 0.", dsLabel, nil)
	descLogBytes     = prometheus.NewDesc("holdfast_log_bytes", "Approximate size of the dataspace's log on disk (0 while stopped).", dsLabel, nil)
	descLogSegments  = prometheus.NewDesc("holdfast_log_segments", "Segment files in the dataspace's log.", dsLabel, nil)
	descUnsynced     = prometheus.NewDesc("holdfast_wal_unsynced_bytes", "Bytes written to the log and not yet synced: what an interval sync policy has at risk (I7); 0 under sync=always once a write is acknowledged.", dsLabel, nil)
	descUnsyncedAge  = prometheus.NewDesc("holdfast_wal_oldest_unsynced_age_seconds", "Age of the oldest unsynced write in the log (0 if none): the current loss window.", dsLabel, nil)
	descSyncInterval = prometheus.NewDesc("holdfast_dataspace_sync_interval_seconds", "The dataspace's sync policy: 0 for always, else the interval (the configured loss window).", dsLabel, nil)
	descGroups       = prometheus.NewDesc("holdfast_commit_groups_total", "Commit groups written to the log (one write, and under sync=always one fdatasync, each).", dsLabel, nil)
	descRecords      = prometheus.NewDesc("holdfast_commit_records_total", "Writes carried by those groups; records/groups is the mean group size.", dsLabel, nil)
	descSyncs        = prometheus.NewDesc("holdfast_interval_syncs_total", "Syncs made by an interval sync policy.", dsLabel, nil)
	descFailStops    = prometheus.NewDesc("holdfast_fail_stop_events_total", "Times the dataspace fail-stopped after an I/O error (I5).", dsLabel, nil)
	descCompactions  = prometheus.NewDesc("holdfast_compactions_total", "Compactions completed.", dsLabel, nil)
	descStalls       = prometheus.NewDesc("holdfast_compaction_stalls_total", "Compactions that client writes had to wait for, because the log grew past its bound while one ran.", dsLabel, nil)
	descLogWritten   = prometheus.NewDesc("holdfast_log_written_bytes_total", "Physical bytes of commit groups written to the log.", dsLabel, nil)
	descDataspaces   = prometheus.NewDesc("holdfast_dataspaces", "Open dataspaces.", nil, nil)
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeys, descBytes, descLastSeq, descStopped, descLogBytes, descLogSegments,
		descUnsynced, descUnsyncedAge, descSyncInterval, descGroups, descRecords, descSyncs, descFailStops,
		descCompactions, descStalls, descLogWritten, descDataspaces} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := c.db.Dataspaces()
	ch <- prometheus.MustNewConstMetric(descDataspaces, prometheus.GaugeValue, float64(len(names)))
	live := make(map[string]bool, len(names))
	for _, name := range names {
		ds, err := c.db.Dataspace(name)
		if ds == nil {
			_ = err // dropped since the listing
			continue
		}
		live[name] = true
		st := ds.Stats()
		cnt := c.seen[name]
		if cnt == nil {
			cnt = &dsCounters{cur: ds}
			c.seen[name] = cnt
		}
		if cnt.cur != ds {
			// Reopened: bank what the old one counted (its counters
			// no longer move once it is stopped).
			cnt.base = cnt.base.plus(countersOf(cnt.cur.Stats()))
			cnt.cur = ds
		}
		cnt.last = countersOf(st)
		total := cnt.base.plus(cnt.last)

		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		counter := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
		}
		gauge(descKeys, float64(st.Keys))
		gauge(descBytes, float64(st.Bytes))
		gauge(descLastSeq, float64(st.LastSeq))
		stopped := 0.0
		if st.Stopped != "" {
			stopped = 1
		}
		gauge(descStopped, stopped)
		gauge(descLogBytes, float64(st.LogBytes))
		gauge(descLogSegments, float64(st.Log.Segments))
		gauge(descUnsynced, float64(st.Log.UnsyncedBytes))
		age := 0.0
		if !st.Log.OldestUnsynced.IsZero() {
			age = time.Since(st.Log.OldestUnsynced).Seconds()
		}
		gauge(descUnsyncedAge, age)
		gauge(descSyncInterval, ds.SyncPolicy().Interval.Seconds())
		counter(descGroups, total.groups)
		counter(descRecords, total.records)
		counter(descSyncs, total.syncs)
		counter(descFailStops, total.failStops)
		counter(descCompactions, total.compactions)
		counter(descStalls, total.compactionStalls)
		counter(descLogWritten, total.logBytesWritten)
	}
	// A dropped dataspace's series disappear; if one of that name is
	// created again it starts from zero, as a new series should.
	for name := range c.seen {
		if !live[name] {
			delete(c.seen, name)
		}
	}
}
