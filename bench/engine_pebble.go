package main

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

// Pebble with default options and pebble.Sync on every write: Set returns
// once the WAL holding the batch is synced. Concurrent commits share WAL
// syncs (Pebble's commit pipeline).
var pebbleSpec = engineSpec{
	Name:        "pebble",
	Config:      "pebble.Open with default Options; every Set and batch Commit with pebble.Sync",
	Doc:         "github.com/cockroachdb/pebble/v2 `options.go`, doc of `WriteOptions.Sync` (\"Setting Sync is required for durability of individual write operations\") and `pebble.Sync`",
	open:        openPebble,
	ReadVariant: true,
}

type pebbleEngine struct{ db *pebble.DB }

func openPebble(dir string) (engine, error) {
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		return nil, err
	}
	return &pebbleEngine{db: db}, nil
}

func (e *pebbleEngine) Put(key, value []byte) error { return e.db.Set(key, value, pebble.Sync) }

func (e *pebbleEngine) Get(key []byte) ([]byte, error) {
	v, closer, err := e.db.Get(key)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	return out, closer.Close()
}

func (e *pebbleEngine) Scan(start []byte, n int) (int, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: start})
	if err != nil {
		return 0, err
	}
	read := 0
	for ok := it.First(); ok && read < n; ok = it.Next() {
		_ = bytes.Clone(it.Value())
		read++
	}
	if err := it.Error(); err != nil {
		it.Close()
		return read, err
	}
	return read, it.Close()
}

func (e *pebbleEngine) Load(keys, values [][]byte) error {
	b := e.db.NewBatch()
	for i := range keys {
		if err := b.Set(keys[i], values[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (e *pebbleEngine) Close() error { return e.db.Close() }
