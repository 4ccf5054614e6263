package holdfast

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// Options configure a DB.
type Options struct {
	// FS is the file system; nil means vfs.Default(). Tests pass a
	// faultfs.FS.
	FS vfs.FS
	// Logger receives structured events; nil means slog.Default().
	Logger *slog.Logger
	// Limits bound keys, values and batches.
	Limits Limits
	// SegmentSizeBytes is the preallocated size of a log segment
	// (default 64 MiB).
	SegmentSizeBytes int64
	// GroupCommitMaxBytes bounds the payload of one commit group
	// (default 4 MiB); a single larger batch still forms a group alone.
	GroupCommitMaxBytes int
	// InlineValueMaxBytes: values up to this size are kept in memory
	// beside the index (default 64); larger ones are read from the log,
	// from the device, and verified on every read.
	InlineValueMaxBytes int
	// ValueCacheBytes bounds the cache of larger values kept in memory
	// once read from the device or written (default 128 MiB, shared by
	// every dataspace; negative disables it). It holds only durable,
	// verified values.
	ValueCacheBytes int64
	// RequestIDWindow is how many recent request ids each dataspace
	// remembers to apply a retried write once (default 100,000).
	RequestIDWindow int
	// AutoReopen makes a fail-stopped dataspace reopen itself from what
	// the device holds, with exponential backoff between
	// ReopenBackoffMin (default 100 ms) and ReopenBackoffMax (default
	// 30 s). Off by default: the operator or the server decides.
	AutoReopen       bool
	ReopenBackoffMin time.Duration
	ReopenBackoffMax time.Duration
	// ExitOnIOError makes the process exit (status 70) on the first
	// write or sync error instead of fail-stopping one dataspace, as
	// PostgreSQL's data_sync_retry=off panics.
	ExitOnIOError bool
	// BufferedIO disables O_DIRECT for the log (tests of the fallback).
	BufferedIO bool
	// SerialMaintenance runs checkpoints and the verification of the log
	// behind a checkpoint in line, on the writer goroutine and inside
	// Open, instead of in the background. Slower, but the order of every
	// file operation then depends only on the workload: for simulation
	// and crash testing, where a run must replay exactly.
	SerialMaintenance bool
	// CompactionSpaceAmp starts a compaction when the log exceeds this
	// multiple of (live data + one segment); default 2. Negative disables
	// automatic compaction (Dataspace.Compact still works).
	CompactionSpaceAmp float64

	// ConfirmSyncs makes every sync of a log segment two fdatasyncs, and
	// acknowledges writes only if both succeed. ext4 mounted with
	// data=journal reports a failed fsync as a success and fails the next
	// one (ATC'20), so one successful fdatasync there does not prove the
	// data durable. Open turns it on by itself when the data directory is
	// on such a mount (vfs.LateSyncErrors); set it to force it elsewhere.
	// It costs a second fdatasync per commit group.
	ConfirmSyncs bool
	// Observer, if set, is told of commit groups and fail-stops, for
	// metrics. Its methods run on the writer goroutine: they must be fast
	// and must not call into the DB.
	Observer Observer

	// exit is os.Exit; tests replace it.
	exit func(code int)
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Limits = o.Limits.withDefaults()
	if o.SegmentSizeBytes <= 0 {
		o.SegmentSizeBytes = 64 << 20
	}
	if o.GroupCommitMaxBytes <= 0 {
		o.GroupCommitMaxBytes = 4 << 20
	}
	if o.ValueCacheBytes == 0 {
		o.ValueCacheBytes = DefaultValueCacheBytes
	}
	if o.InlineValueMaxBytes == 0 {
		o.InlineValueMaxBytes = 64
	}
	if o.RequestIDWindow <= 0 {
		o.RequestIDWindow = 100_000
	}
	if o.CompactionSpaceAmp == 0 {
		o.CompactionSpaceAmp = DefaultCompactionSpaceAmp
	}
	if o.CompactionSpaceAmp > 0 && o.CompactionSpaceAmp < 1.2 {
		o.CompactionSpaceAmp = 1.2 // below this, compaction would chase its own tail
	}
	if o.ReopenBackoffMin <= 0 {
		o.ReopenBackoffMin = 100 * time.Millisecond
	}
	if o.ReopenBackoffMax <= 0 {
		o.ReopenBackoffMax = 30 * time.Second
	}
	return o
}

// SyncPolicy says when a dataspace's writes are acknowledged (I7).
type SyncPolicy struct {
	// Interval zero is "always": a write is acknowledged only once it is
	// on stable storage. A positive Interval acknowledges after the
	// write reaches the log and syncs at most Interval later: up to that
	// window of acknowledged writes can be lost in a crash.
	Interval time.Duration
}

// SyncAlways is the default policy.
var SyncAlways = SyncPolicy{}

// Limits on the interval policy.
const (
	MinSyncInterval = time.Millisecond
	MaxSyncInterval = time.Minute
)

// String renders the policy as ParseSyncPolicy accepts it.
func (p SyncPolicy) String() string {
	if p.Interval == 0 {
		return "always"
	}
	return "interval:" + p.Interval.String()
}

// ParseSyncPolicy parses "always" or "interval:<duration>" (e.g.
// "interval:10ms").
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	if s == "" || s == "always" {
		return SyncAlways, nil
	}
	rest, ok := strings.CutPrefix(s, "interval:")
	if !ok {
		return SyncPolicy{}, fmt.Errorf("holdfast: sync policy %q: want \"always\" or \"interval:<duration>\"", s)
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return SyncPolicy{}, fmt.Errorf("holdfast: sync policy %q: %w", s, err)
	}
	p := SyncPolicy{Interval: d}
	if err := p.validate(); err != nil {
		return SyncPolicy{}, err
	}
	return p, nil
}

// validate checks the interval bounds (zero is "always").
func (p SyncPolicy) validate() error {
	if p.Interval != 0 && (p.Interval < MinSyncInterval || p.Interval > MaxSyncInterval) {
		return fmt.Errorf("holdfast: sync policy %q: interval must be within [%v, %v]", p.String(), MinSyncInterval, MaxSyncInterval)
	}
	return nil
}

// DataspaceOptions configure one dataspace; they are stored in its
// manifest.
type DataspaceOptions struct {
	Sync SyncPolicy
}
