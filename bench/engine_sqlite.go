package main

import (
	"database/sql"
	"fmt"
	"path/filepath"

	_ "github.com/mattn/go-sqlite3"
)

// SQLite (the C library through github.com/mattn/go-sqlite3) in WAL mode
// with synchronous=FULL, which SQLite documents as durable in WAL mode: the
// WAL is synced at every commit. SQLite allows one writer at a time, so
// writes go through one connection (Go's pool queues the callers); reads
// use a pool of their own.
var sqliteSpec = engineSpec{
	Name:        "sqlite",
	Config:      "journal_mode=WAL, synchronous=FULL, table kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID; INSERT OR REPLACE, autocommit, one writer connection",
	Doc:         "sqlite.org/pragma.html#pragma_synchronous (in WAL mode, NORMAL \"does lose durability\": a commit may roll back after power loss; FULL syncs the WAL at every commit); sqlite.org/wal.html (one writer at a time)",
	open:        openSQLite,
	ReadVariant: true,
}

type sqliteEngine struct {
	w, r *sql.DB
	put  *sql.Stmt
	get  *sql.Stmt
	scan *sql.Stmt
}

func openSQLite(dir string) (engine, error) {
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=60000",
		filepath.Join(dir, "kv.sqlite"))
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`); err != nil {
		w.Close()
		return nil, err
	}
	var mode string
	var syncLevel int
	if err := w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.QueryRow(`PRAGMA synchronous`).Scan(&syncLevel); err != nil {
		w.Close()
		return nil, err
	}
	if mode != "wal" || syncLevel != 2 {
		w.Close()
		return nil, fmt.Errorf("sqlite: journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, syncLevel)
	}
	r, err := sql.Open("sqlite3", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, err
	}
	e := &sqliteEngine{w: w, r: r}
	if e.put, err = w.Prepare(`INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)`); err == nil {
		if e.get, err = r.Prepare(`SELECT v FROM kv WHERE k = ?`); err == nil {
			e.scan, err = r.Prepare(`SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?`)
		}
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *sqliteEngine) Put(key, value []byte) error {
	_, err := e.put.Exec(key, value)
	return err
}

func (e *sqliteEngine) Get(key []byte) ([]byte, error) {
	var v []byte
	err := e.get.QueryRow(key).Scan(&v)
	return v, err
}

func (e *sqliteEngine) Scan(start []byte, n int) (int, error) {
	rows, err := e.scan.Query(start, n)
	if err != nil {
		return 0, err
	}
	read := 0
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return read, err
		}
		read++
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return read, err
	}
	return read, rows.Close()
}

func (e *sqliteEngine) Load(keys, values [][]byte) error {
	tx, err := e.w.Begin()
	if err != nil {
		return err
	}
	st := tx.Stmt(e.put)
	for i := range keys {
		if _, err := st.Exec(keys[i], values[i]); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (e *sqliteEngine) Close() error {
	for _, s := range []*sql.Stmt{e.put, e.get, e.scan} {
		if s != nil {
			s.Close()
		}
	}
	err := e.w.Close()
	if e.r != nil {
		if rerr := e.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// sqliteVersion returns the version of the linked SQLite library.
func sqliteVersion() string {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(`SELECT sqlite_version()`).Scan(&v); err != nil {
		return ""
	}
	return v
}
