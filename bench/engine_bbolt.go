package main

import (
	"bytes"
	"errors"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// bbolt with its default options syncs every committed read-write
// transaction (fdatasync of the pages, then of the meta page). Update runs
// one transaction per Put; Batch lets concurrent callers share one
// transaction, as bbolt documents for many concurrent writers.
var (
	bboltUpdateSpec = engineSpec{
		Name:        "bbolt-update",
		Config:      "bolt.Open with default options (NoSync false): one db.Update transaction per Put",
		Doc:         "go.etcd.io/bbolt `db.go`, doc of `DB.NoSync` (setting it is \"UNSAFE\"; the default syncs every commit); README, \"Read-write transactions\"",
		open:        func(dir string) (engine, error) { return openBbolt(dir, false) },
		ReadVariant: true,
	}
	bboltBatchSpec = engineSpec{
		Name:   "bbolt-batch",
		Config: "as bbolt-update, but each Put through db.Batch (default MaxBatchSize 1000, MaxBatchDelay 10 ms)",
		Doc:    "go.etcd.io/bbolt `db.go`, doc of `DB.Batch` (\"concurrent Batch calls can be combined into a single Bolt transaction\"; \"only useful when there are multiple goroutines calling it\")",
		open:   func(dir string) (engine, error) { return openBbolt(dir, true) },
	}
)

var bboltBucket = []byte("bench")

type bboltEngine struct {
	db    *bolt.DB
	batch bool
}

func openBbolt(dir string, batch bool) (engine, error) {
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bboltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &bboltEngine{db: db, batch: batch}, nil
}

func (e *bboltEngine) Put(key, value []byte) error {
	fn := func(tx *bolt.Tx) error { return tx.Bucket(bboltBucket).Put(key, value) }
	if e.batch {
		return e.db.Batch(fn)
	}
	return e.db.Update(fn)
}

var errMissing = errors.New("key not found")

func (e *bboltEngine) Get(key []byte) ([]byte, error) {
	var out []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bboltBucket).Get(key)
		if v == nil {
			return errMissing
		}
		// Values are valid only inside the transaction: copy, as a user must.
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

func (e *bboltEngine) Scan(start []byte, n int) (int, error) {
	read := 0
	err := e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		for k, v := c.Seek(start); k != nil && read < n; k, v = c.Next() {
			_ = bytes.Clone(v)
			read++
		}
		return nil
	})
	return read, err
}

func (e *bboltEngine) Load(keys, values [][]byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bboltBucket)
		for i := range keys {
			if err := b.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *bboltEngine) Close() error { return e.db.Close() }
