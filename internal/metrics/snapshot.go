package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-db/holdfast"
)

// snapshotCollector exports the quiesce state and the result of the
// restore verification at open (docs/snapshots.md).
type snapshotCollector struct{ db *holdfast.DB }

var (
	descQuiesced        = prometheus.NewDesc("holdfast_quiesced", "1 while the database is quiesced for a volume snapshot, else 0.", nil, nil)
	descQuiesceDuration = prometheus.NewDesc("holdfast_quiesce_duration_seconds", "How long the active quiesce took, request to durable snapshot.json (0 when not quiesced).", nil, nil)
	descRestoreVerified = prometheus.NewDesc("holdfast_restore_verification", "Restore verification at open against snapshot.json: 1 passed, 0 failed, -1 no snapshot.json found.", nil, nil)
	descRestoreProblems = prometheus.NewDesc("holdfast_restore_verification_problems", "Problems the restore verification at open found.", nil, nil)
)

func (c snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQuiesced, descQuiesceDuration, descRestoreVerified, descRestoreProblems} {
		ch <- d
	}
}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	q, dur := 0.0, 0.0
	if info, ok := c.db.QuiesceStatus(); ok {
		q, dur = 1, info.Duration.Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descQuiesced, prometheus.GaugeValue, q)
	ch <- prometheus.MustNewConstMetric(descQuiesceDuration, prometheus.GaugeValue, dur)
	rs := c.db.RestoreStatus()
	v := -1.0
	if rs.Checked {
		v = 0
		if rs.OK {
			v = 1
		}
	}
	ch <- prometheus.MustNewConstMetric(descRestoreVerified, prometheus.GaugeValue, v)
	ch <- prometheus.MustNewConstMetric(descRestoreProblems, prometheus.GaugeValue, float64(len(rs.Problems)))
}
