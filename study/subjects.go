package study

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/holdfast-db/holdfast"
)

func allSubjects() []*subject {
	return []*subject{
		sqliteSubject("sqlite-rollback", "delete", "*.db-journal"),
		sqliteSubject("sqlite-wal", "wal", "*.db-wal"),
		holdfastSubject(),
		redisSubject(),
		levelDBSubject(),
		lmdbSubject(),
		postgresSubject(),
	}
}

func noStop(*env) {}

// --- SQLite ---------------------------------------------------------------

var sqliteLine = regexp.MustCompile(`line (\d+)`)

func sqliteSubject(name, mode, target string) *subject {
	db := func(e *env) string { return filepath.Join(e.mnt, "t.db") }
	// readScript reads key; errors on its lines are read errors.
	readScript := func(key string) string {
		return fmt.Sprintf("PRAGMA integrity_check;\nSELECT coalesce((SELECT v FROM kv WHERE k='%s'), '<notfound>');\n", key)
	}
	parseRead := func(stdout, stderr string, err error) read {
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if strings.TrimSpace(stderr) != "" || err != nil {
			return read{err: strings.TrimSpace(stderr + " " + errString(err))}
		}
		if len(lines) < 2 {
			return read{err: "no output"}
		}
		if lines[len(lines)-2] != "ok" {
			return read{err: "integrity_check: " + lines[len(lines)-2]}
		}
		v := lines[len(lines)-1]
		if v == "<notfound>" {
			return read{}
		}
		return read{val: v, found: true}
	}
	about := "sqlite3 CLI, journal_mode=DELETE (rollback journal), synchronous=FULL"
	paper := "SQLite reverts its in-memory state and reports the error; its header-after-data journal does not guarantee durability; recovery can read a valid log entry from the page cache and turn the failure into a false failure (takeaways #7, #8)."
	if mode == "wal" {
		about = "sqlite3 CLI, journal_mode=WAL, synchronous=FULL"
	}
	return &subject{
		name: name, about: about, target: target, paper: paper,
		need: []string{"sqlite3"},
		setup: func(e *env) error {
			script := fmt.Sprintf("PRAGMA journal_mode=%s;\nPRAGMA synchronous=FULL;\nCREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT);\nINSERT INTO kv VALUES('%s','%s');\n", mode, keyUpdate, oldValue)
			if mode == "wal" {
				script += "PRAGMA wal_checkpoint(TRUNCATE);\n"
			}
			_, stderr, err := run(e, script, "sqlite3", "-batch", db(e))
			if err != nil || strings.TrimSpace(stderr) != "" {
				return fmt.Errorf("sqlite3: %v %s", err, stderr)
			}
			return nil
		},
		op: func(e *env, key, value string) (bool, read, string) {
			// Line 2 is the write; lines 3 and 4 read back in the same process.
			stmt := fmt.Sprintf("INSERT INTO kv VALUES('%s','%s')", key, value)
			if key == keyUpdate {
				stmt = fmt.Sprintf("UPDATE kv SET v='%s' WHERE k='%s'", value, key)
			}
			script := "PRAGMA synchronous=FULL;\n" + stmt + ";\n" + readScript(key)
			e.arm()
			stdout, stderr, err := run(e, script, "sqlite3", "-batch", db(e))
			opErr, readErr := "", ""
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
				m := sqliteLine.FindStringSubmatch(l)
				switch {
				case l == "":
				case m != nil && m[1] == "2":
					opErr += l
				default:
					readErr += l
				}
			}
			r := parseRead(stdout, readErr, nil)
			if err != nil && opErr == "" && readErr == "" {
				opErr = err.Error()
			}
			return opErr == "", r, "sqlite3 said: " + strings.TrimSpace(opErr)
		},
		get: func(e *env, key string) read {
			return parseRead(run(e, readScript(key), "sqlite3", "-batch", db(e)))
		},
		stop: noStop,
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// --- holdfast --------------------------------------------------------------

type holdfastState struct {
	db *holdfast.DB
}

var holdfastOpen = map[*env]*holdfastState{}

func holdfastSubject() *subject {
	dir := func(e *env) string { return filepath.Join(e.mnt, "hf") }
	openDS := func(e *env) (*holdfast.DB, *holdfast.Dataspace, error) {
		db, err := holdfast.Open(dir(e), holdfast.Options{})
		if err != nil {
			return nil, nil, err
		}
		ds, err := db.Dataspace("default")
		if err != nil && len(db.Dataspaces()) == 0 {
			ds, err = db.CreateDataspace("default", holdfast.DataspaceOptions{})
		}
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		return db, ds, nil
	}
	get := func(ds *holdfast.Dataspace, key string) read {
		v, err := ds.Get(context.Background(), []byte(key))
		switch {
		case errors.Is(err, holdfast.ErrNotFound):
			return read{}
		case err != nil:
			return read{err: err.Error()}
		}
		return read{val: string(v.Data), found: true}
	}
	return &subject{
		name:   "holdfast",
		about:  "holdfast engine (this repository), default options (sync=always), dataspace \"default\", opened through the mount with vfs.Default()",
		target: "*.seg",
		paper:  "Not in the paper. DESIGN.md's I1, I3 and I5: an acknowledged write survives; a failed write is not applied or says its outcome is unknown; a failed sync fail-stops the dataspace, which recovers from what the device holds. Expected row: no OV, FF, KNF or VC anywhere.",
		setup: func(e *env) error {
			db, ds, err := openDS(e)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = ds.Put(context.Background(), []byte(keyUpdate), []byte(oldValue))
			return err
		},
		op: func(e *env, key, value string) (bool, read, string) {
			db, ds, err := openDS(e)
			if err != nil {
				return false, read{err: err.Error()}, "open: " + err.Error()
			}
			holdfastOpen[e] = &holdfastState{db: db}
			e.arm()
			_, err = ds.Put(context.Background(), []byte(key), []byte(value))
			fmt.Fprintf(e.log, "[holdfast] Put(%s, %s) = %v\n", key, value, err)
			r := get(ds, key)
			fmt.Fprintf(e.log, "[holdfast] Get(%s) in the same process = %s\n", key, r)
			return err == nil, r, "Put: " + errString(err)
		},
		get: func(e *env, key string) read {
			db, ds, err := openDS(e)
			if err != nil {
				fmt.Fprintf(e.log, "[holdfast] Open = %v\n", err)
				return read{err: err.Error()}
			}
			defer db.Close()
			r := get(ds, key)
			fmt.Fprintf(e.log, "[holdfast] Get(%s) after Open = %s\n", key, r)
			return r
		},
		stop: func(e *env) {
			if st, ok := holdfastOpen[e]; ok {
				fmt.Fprintf(e.log, "[holdfast] Close = %v\n", st.db.Close())
				delete(holdfastOpen, e)
			}
		},
	}
}

// --- Redis -----------------------------------------------------------------

type redisProc struct{ cmd *exec.Cmd }

var redisRunning = map[*env]*redisProc{}

func redisSubject() *subject {
	start := func(e *env) error {
		d := filepath.Join(e.mnt, "redis")
		os.MkdirAll(d, 0o777)
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(e.port), "--bind", "127.0.0.1", "--dir", d,
			"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
			"--logfile", filepath.Join(e.work, "redis.log"))
		if err := cmd.Start(); err != nil {
			return err
		}
		redisRunning[e] = &redisProc{cmd: cmd}
		for i := 0; i < 100; i++ {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", e.port), 100*time.Millisecond); err == nil {
				c.Close()
				out, _, _ := run(e, "", "redis-cli", "-p", strconv.Itoa(e.port), "PING")
				if strings.TrimSpace(out) == "PONG" {
					return nil
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		why := "redis-server did not start"
		if b, err := os.ReadFile(filepath.Join(e.work, "redis.log")); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			why += ": " + lines[len(lines)-1]
		}
		stopRedis(e)
		return errors.New(why)
	}
	stop := stopRedis
	get := func(e *env, key string) read {
		out, stderr, err := run(e, "", "redis-cli", "-p", strconv.Itoa(e.port), "--no-raw", "GET", key)
		out = strings.TrimSpace(out)
		switch {
		case err != nil || strings.Contains(out, "ERR") || strings.Contains(out, "Could not connect") || stderr != "":
			return read{err: strings.TrimSpace(out + " " + stderr + " " + errString(err))}
		case out == "(nil)":
			return read{}
		}
		return read{val: strings.Trim(out, `"`), found: true}
	}
	return &subject{
		name:   "redis",
		about:  "redis-server 7 from Debian, appendonly yes, appendfsync always, no RDB snapshots; restarted with SIGKILL",
		target: "*.aof",
		paper:  "Redis did not check fsync's return code (takeaway #7; redis/redis#8111 cites the paper). Since redis#8347 (Redis 6.2) it exits on an AOF fsync error under appendfsync always, so this run tests the fixed behaviour: the client sees the connection drop, and the restarted server loads the AOF, from the page cache where the data is still cached.",
		need:   []string{"redis-server", "redis-cli"},
		setup: func(e *env) error {
			if err := start(e); err != nil {
				return err
			}
			defer stop(e)
			out, _, err := run(e, "", "redis-cli", "-p", strconv.Itoa(e.port), "SET", keyUpdate, oldValue)
			if err != nil || strings.TrimSpace(out) != "OK" {
				return fmt.Errorf("SET: %q %v", out, err)
			}
			return nil
		},
		op: func(e *env, key, value string) (bool, read, string) {
			if err := start(e); err != nil {
				return false, read{err: err.Error()}, err.Error()
			}
			e.arm()
			out, stderr, err := run(e, "", "redis-cli", "-p", strconv.Itoa(e.port), "SET", key, value)
			ok := err == nil && strings.TrimSpace(out) == "OK"
			time.Sleep(200 * time.Millisecond) // let a failing server exit
			return ok, get(e, key), "SET replied " + strings.TrimSpace(out+" "+stderr)
		},
		get: func(e *env, key string) read {
			if err := start(e); err != nil {
				return read{err: err.Error()}
			}
			defer stop(e)
			return get(e, key)
		},
		stop: stop,
	}
}

// stopRedis kills the server with SIGKILL: a program restart, not a clean
// shutdown that would rewrite the AOF.
func stopRedis(e *env) {
	p, ok := redisRunning[e]
	if !ok {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	delete(redisRunning, e)
	if b, err := os.ReadFile(filepath.Join(e.work, "redis.log")); err == nil {
		fmt.Fprintf(e.log, "[redis.log]\n%s[end of redis.log]\n", b)
		os.Remove(filepath.Join(e.work, "redis.log"))
	}
}

// --- LevelDB and LMDB, through small C clients -----------------------------

func cClientSubject(name, bin, about, target, paper string, dirName string) *subject {
	parse := func(out string, prefix string) (string, bool) {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix), true
			}
		}
		return "", false
	}
	parseGet := func(out string, err error) read {
		v, ok := parse(out, "get: ")
		switch {
		case !ok:
			return read{err: "no answer " + errString(err)}
		case v == "notfound":
			return read{}
		case strings.HasPrefix(v, "error "):
			return read{err: strings.TrimPrefix(v, "error ")}
		}
		return read{val: v, found: true}
	}
	dir := func(e *env) string { return filepath.Join(e.mnt, dirName) }
	return &subject{
		name: name, about: about, target: target, paper: paper, need: []string{bin},
		setup: func(e *env) error {
			os.MkdirAll(dir(e), 0o755)
			out, _, err := run(e, "", e.bins[bin], dir(e), "put", keyUpdate, oldValue)
			if v, _ := parse(out, "op: "); v != "ok" {
				return fmt.Errorf("put: %q %v", out, err)
			}
			return nil
		},
		op: func(e *env, key, value string) (bool, read, string) {
			e.arm()
			out, _, err := run(e, "", e.bins[bin], dir(e), "put", key, value)
			v, _ := parse(out, "op: ")
			return v == "ok", parseGet(out, err), "put: " + v
		},
		get: func(e *env, key string) read {
			out, _, err := run(e, "", e.bins[bin], dir(e), "get", key)
			return parseGet(out, err)
		},
		stop: noStop,
	}
}

func levelDBSubject() *subject {
	return cClientSubject("leveldb", "leveldb_kv",
		"libleveldb 1.23 from Debian through a small C client (study/csrc/leveldb_kv.c), sync writes, paranoid checks",
		"*.log",
		"LevelDB reverts in-memory state and reports the error (takeaway #7); its CRCs do not guarantee durability; recovery reads a valid log entry from the page cache, so a failed write can come back: a false failure (takeaway #8).",
		"leveldb")
}

func lmdbSubject() *subject {
	return cClientSubject("lmdb", "lmdb_kv",
		"liblmdb 0.9.24 from Debian through a small C client (study/csrc/lmdb_kv.c), default flags (write(2) of pages, fdatasync at commit, reads through mmap)",
		"*.mdb",
		"LMDB reverts in-memory state and reports the error (takeaway #7). Unverified third-party note: LMDB reported failures when the on-disk state was correct.",
		"lmdb")
}
