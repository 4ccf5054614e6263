package main

import (
	"context"
	"log/slog"

	"github.com/holdfast-db/holdfast"
)

// holdfast runs through its public root package with default options: the
// dataspace's default sync policy is `always`, so Put returns once the
// write and an fdatasync of the log have completed.
var holdfastSpec = engineSpec{
	Name:        "holdfast",
	Config:      "holdfast.Open with default Options; dataspace with default DataspaceOptions (sync policy `always`)",
	Doc:         "holdfast `options.go` (SyncPolicy: the zero value is `always`) and DESIGN.md invariant I1",
	open:        openHoldfast,
	ReadVariant: true,
}

const holdfastDataspace = "bench"

type holdfastEngine struct {
	db *holdfast.DB
	ds *holdfast.Dataspace
}

func openHoldfast(dir string) (engine, error) {
	db, err := holdfast.Open(dir, holdfast.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ds, err := db.Dataspace(holdfastDataspace)
	if err != nil {
		ds, err = db.CreateDataspace(holdfastDataspace, holdfast.DataspaceOptions{})
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	return &holdfastEngine{db: db, ds: ds}, nil
}

func (e *holdfastEngine) Put(key, value []byte) error {
	_, err := e.ds.Put(context.Background(), key, value)
	return err
}

func (e *holdfastEngine) Get(key []byte) ([]byte, error) {
	v, err := e.ds.Get(context.Background(), key)
	return v.Data, err
}

func (e *holdfastEngine) Scan(start []byte, n int) (int, error) {
	page, err := e.ds.Scan(context.Background(), holdfast.ScanOptions{Start: start, Limit: n})
	return len(page.KVs), err
}

func (e *holdfastEngine) Load(keys, values [][]byte) error {
	var b holdfast.Batch
	for i := range keys {
		b.Put(keys[i], values[i])
	}
	_, err := e.ds.Apply(context.Background(), &b)
	return err
}

func (e *holdfastEngine) Close() error { return e.db.Close() }
