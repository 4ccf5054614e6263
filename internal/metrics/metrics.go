// Package metrics exports holdfast's Prometheus metrics: requests and
// their latency by protocol and operation (fed by the HTTP and RESP front
// ends), fsync latency and commit-group write sizes (measured at the vfs
// boundary, see fs.go), and per-dataspace gauges and counters read from
// Dataspace.Stats at each scrape (see collector.go). Names carry their
// units, as Prometheus recommends.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
)

// Protocol label values.
const (
	ProtocolHTTP = "http"
	ProtocolRESP = "resp"
)

// Metrics holds one server's metrics in a registry of its own, so two
// servers in one process (tests) never share counters.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	fsync    *prometheus.HistogramVec
	groupB   prometheus.Histogram
	groupN   prometheus.Histogram
	ioErrors *prometheus.CounterVec
}

// latencyBuckets span 50 µs (a read from memory) to 10 s (a stalled
// device); an fdatasync is typically 0.1–20 ms.
var latencyBuckets = prometheus.ExponentialBucketsRange(50e-6, 10, 20)

// New returns Metrics with the Go runtime and process collectors
// registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdfast_requests_total",
			Help: "Requests finished, by protocol, operation (HTTP route or Redis command) and result (ok, or the error code; for RESP ok or error).",
		}, []string{"protocol", "op", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdfast_request_duration_seconds",
			Help:    "Time from a request's arrival to its reply, by protocol and operation. Under sync=always a write's includes its fdatasync.",
			Buckets: latencyBuckets,
		}, []string{"protocol", "op"}),
		fsync: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdfast_fsync_duration_seconds",
			Help:    "Duration of each fsync/fdatasync the engine issues, by file kind (log: a log segment; other: manifests, checkpoints, directories).",
			Buckets: latencyBuckets,
		}, []string{"file"}),
		groupB: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "holdfast_wal_group_write_bytes",
			Help:    "Bytes of each commit group's write to a log segment (whole 4 KiB blocks; one write per group).",
			Buckets: prometheus.ExponentialBuckets(4096, 2, 13), // 4 KiB .. 16 MiB
		}),
	}
	m.ioErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "holdfast_io_errors_total",
		Help: "Failed writes and syncs the engine got from the file system, by op (write, sync) and file kind (log, other); each fail-stops its dataspace.",
	}, []string{"op", "file"})
	m.groupN = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "holdfast_commit_group_records",
		Help:    "Writes per commit group (one log write and, under sync=always, one fdatasync each).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 .. 2048
	})
	m.reg.MustRegister(m.requests, m.latency, m.fsync, m.groupB, m.groupN, m.ioErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// GroupCommitted implements holdfast.Observer.
func (m *Metrics) GroupCommitted(_ string, records int, _ int64, _, _ time.Duration) {
	m.groupN.Observe(float64(records))
}

// FailStopped implements holdfast.Observer; fail-stops are counted from
// the dataspaces' stats and the I/O errors at the file-system boundary.
func (m *Metrics) FailStopped(string, error) {}

// Registry is where the metrics live (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// WatchDB exports db's dataspaces (keys, bytes, log size, unsynced bytes,
// commit and fail-stop counters), read at each scrape.
func (m *Metrics) WatchDB(db *holdfast.DB) {
	m.reg.MustRegister(newDBCollector(db))
	m.reg.MustRegister(snapshotCollector{db}) // snapshot.go
}

// ObserveHTTP records one finished HTTP request; set it as
// httpapi.Config.Observe.
func (m *Metrics) ObserveHTTP(ri httpapi.RequestInfo) {
	result := "ok"
	switch {
	case ri.Code != "":
		result = ri.Code
	case ri.Status >= 400:
		result = strconv.Itoa(ri.Status)
	}
	m.requests.WithLabelValues(ProtocolHTTP, ri.Op, result).Inc()
	m.latency.WithLabelValues(ProtocolHTTP, ri.Op).Observe(ri.Duration.Seconds())
}

// ObserveRESP records one executed Redis command. op must come from a
// bounded set (the command table, or "unknown").
func (m *Metrics) ObserveRESP(op string, d time.Duration, failed bool) {
	result := "ok"
	if failed {
		result = "error"
	}
	m.requests.WithLabelValues(ProtocolRESP, op, result).Inc()
	m.latency.WithLabelValues(ProtocolRESP, op).Observe(d.Seconds())
}
