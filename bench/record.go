package main

// record is one measurement of one run: the unit of the raw results
// (docs/bench/results.json and runs.csv). Fields that do not apply to a
// kind are zero.
type record struct {
	// Kind names the workload: limit-fsync, limit-direct, put, get, scan,
	// load, open, redis-benchmark, etcd-load.
	Kind    string `json:"kind"`
	Engine  string `json:"engine"`            // engine, server or limit variant
	Variant string `json:"variant,omitempty"` // e.g. redis-benchmark test and pipeline
	Round   int    `json:"round"`
	// Clients is the number of concurrent writers, readers or connections.
	Clients int `json:"clients,omitempty"`
	// Keys is the number of keys in the database (load, open, get, scan).
	Keys    int64   `json:"keys,omitempty"`
	Ops     int64   `json:"ops"`
	Seconds float64 `json:"seconds"`
	OpsPerS float64 `json:"ops_per_s"`
	P50us   float64 `json:"p50_us,omitempty"`
	P99us   float64 `json:"p99_us,omitempty"`
	P999us  float64 `json:"p999_us,omitempty"`
	// WriteBytesPerOp is write_bytes of /proc/<pid>/io per operation.
	WriteBytesPerOp float64 `json:"write_bytes_per_op,omitempty"`
	// CPUusPerOp is user + system CPU per operation, in microseconds.
	CPUusPerOp   float64 `json:"cpu_us_per_op,omitempty"`
	RSSBytes     int64   `json:"rss_bytes,omitempty"`
	RSSAnonBytes int64   `json:"rss_anon_bytes,omitempty"`
	RSSFileBytes int64   `json:"rss_file_bytes,omitempty"`
	// RSSBaseBytes is the process's VmRSS before it opened the engine
	// (the Go runtime and the mapped executable): RSSBytes minus it is
	// what the engine added.
	RSSBaseBytes int64 `json:"rss_base_bytes,omitempty"`
	DiskBytes    int64 `json:"disk_bytes,omitempty"`
	// MBperS is bandwidth, for limit-direct.
	MBperS float64 `json:"mb_per_s,omitempty"`
	// Note says anything unusual about the run (errors, skipped parts).
	Note string `json:"note,omitempty"`
	// Start is when the run started, UTC, RFC 3339.
	Start string `json:"start"`
}
