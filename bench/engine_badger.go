package main

import (
	"github.com/dgraph-io/badger/v4"
)

// Badger with SyncWrites: every committed transaction is synced before
// Update returns. Concurrent transactions share a write (Badger's write
// channel batches pending requests).
var badgerSpec = engineSpec{
	Name:        "badger",
	Config:      "badger.DefaultOptions(dir).WithSyncWrites(true), logger off; one db.Update transaction per Put",
	Doc:         "github.com/dgraph-io/badger/v4 `options.go`, doc of `WithSyncWrites` (with true Badger \"would call an additional msync after writes ... to survive hard reboots\"; the default is false)",
	open:        openBadger,
	ReadVariant: true,
}

type badgerEngine struct{ db *badger.DB }

func openBadger(dir string) (engine, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		return nil, err
	}
	return &badgerEngine{db: db}, nil
}

func (e *badgerEngine) Put(key, value []byte) error {
	return e.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

func (e *badgerEngine) Get(key []byte) ([]byte, error) {
	var out []byte
	err := e.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = it.ValueCopy(nil)
		return err
	})
	return out, err
}

func (e *badgerEngine) Scan(start []byte, n int) (int, error) {
	read := 0
	err := e.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchSize = n
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(start); it.Valid() && read < n; it.Next() {
			if _, err := it.Item().ValueCopy(nil); err != nil {
				return err
			}
			read++
		}
		return nil
	})
	return read, err
}

// Load uses one transaction per batch; a batch of 1,000 small keys is
// well within Badger's default transaction size limit.
func (e *badgerEngine) Load(keys, values [][]byte) error {
	return e.db.Update(func(txn *badger.Txn) error {
		for i := range keys {
			if err := txn.Set(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *badgerEngine) Close() error { return e.db.Close() }
