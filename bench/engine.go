package main

import (
	"fmt"
	"slices"
)

// An engine is one embedded database under test, opened in its documented
// durable configuration. Every method is safe for concurrent use. Put must
// return only once the write is on stable storage.
type engine interface {
	// Put writes one key durably.
	Put(key, value []byte) error
	// Get reads one key; a missing key is an error (the workloads read only
	// keys they loaded).
	Get(key []byte) ([]byte, error)
	// Scan reads up to n keys in order from the first key >= start, with
	// their values, and returns how many it read.
	Scan(start []byte, n int) (int, error)
	// Load writes keys in one durable transaction or batch (bulk load).
	Load(keys, values [][]byte) error
	// Close closes the database cleanly.
	Close() error
}

// engineSpec names an engine variant, says how it is configured and where
// that configuration is documented.
type engineSpec struct {
	Name string
	// Config is the durable configuration, as the report shows it.
	Config string
	// Doc cites the documentation of that configuration.
	Doc string
	// open opens (creating if needed) the engine's database under dir.
	open func(dir string) (engine, error)
	// ReadVariant is false for variants that differ from another only in
	// how they write (bbolt Batch): those skip the read, scan, load and
	// open workloads.
	ReadVariant bool
}

// engines lists every embedded engine, holdfast first.
var engines = []engineSpec{
	holdfastSpec,
	bboltUpdateSpec,
	bboltBatchSpec,
	pebbleSpec,
	badgerSpec,
	sqliteSpec,
}

func lookupEngine(name string) (engineSpec, error) {
	i := slices.IndexFunc(engines, func(s engineSpec) bool { return s.Name == name })
	if i < 0 {
		return engineSpec{}, fmt.Errorf("unknown engine %q", name)
	}
	return engines[i], nil
}
