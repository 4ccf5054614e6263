package study

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var syscallZero = syscall.Signal(0)

// PostgreSQL runs as its own user, from a data directory made once per
// study run by initdb outside the mount and copied through the mount into
// each cell (so that the model holds it, with the owner and modes that
// PostgreSQL checks).
const pgBin = "/usr/lib/postgresql/15/bin"

var (
	pgTemplateOnce sync.Once
	pgTemplate     string
	pgTemplateErr  error
)

func pgInitTemplate(work string) (string, error) {
	pgTemplateOnce.Do(func() {
		d := filepath.Join(filepath.Dir(work), "pg-template")
		os.Chmod(filepath.Dir(d), 0o755) // the postgres user must reach it
		os.RemoveAll(d)
		if err := os.MkdirAll(d, 0o700); err != nil {
			pgTemplateErr = err
			return
		}
		if out, err := exec.Command("chown", "postgres:postgres", d).CombinedOutput(); err != nil {
			pgTemplateErr = fmt.Errorf("chown: %v %s", err, out)
			return
		}
		cmd := exec.Command("runuser", "-u", "postgres", "--", pgBin+"/initdb", "-D", d, "-A", "trust", "-U", "postgres", "--no-sync", "--no-instructions")
		if out, err := cmd.CombinedOutput(); err != nil {
			pgTemplateErr = fmt.Errorf("initdb: %v %s", err, out)
			return
		}
		pgTemplate = d
	})
	return pgTemplate, pgTemplateErr
}

func postgresSubject() *subject {
	data := func(e *env) string { return filepath.Join(e.mnt, "pg") }
	sock := func(e *env) string { return filepath.Join(e.work, "sock") }
	psql := func(e *env, sql string) (string, string, error) {
		return run(e, "", "runuser", "-u", "postgres", "--", pgBin+"/psql", "-h", sock(e), "-p", strconv.Itoa(e.port), "-U", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
	}
	var running = map[*env]*exec.Cmd{}
	var mu sync.Mutex
	stop := func(e *env) {
		mu.Lock()
		cmd, ok := running[e]
		delete(running, e)
		mu.Unlock()
		if !ok {
			return
		}
		// immediate: no shutdown checkpoint, as a crash of the program.
		run(e, "", "runuser", "-u", "postgres", "--", pgBin+"/pg_ctl", "-D", data(e), "-m", "immediate", "-w", "-t", "20", "stop")
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if b, err := os.ReadFile(filepath.Join(e.work, "pg.log")); err == nil {
			fmt.Fprintf(e.log, "[postgres log]\n%s[end of postgres log]\n", b)
			os.Remove(filepath.Join(e.work, "pg.log"))
		}
	}
	start := func(e *env) error {
		os.MkdirAll(sock(e), 0o777)
		os.Chmod(sock(e), 0o777)
		logf, err := os.OpenFile(filepath.Join(e.work, "pg.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
		if err != nil {
			return err
		}
		cmd := exec.Command("runuser", "-u", "postgres", "--", pgBin+"/postgres", "-D", data(e), "-p", strconv.Itoa(e.port),
			"-k", sock(e), "-c", "listen_addresses=", "-c", "fsync=on", "-c", "shared_buffers=16MB", "-c", "max_wal_size=64MB")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		logf.Close()
		mu.Lock()
		running[e] = cmd
		mu.Unlock()
		exited := make(chan struct{})
		go func() {
			// Reap only through stop; here just notice an early exit.
			for {
				if cmd.ProcessState != nil {
					close(exited)
					return
				}
				time.Sleep(50 * time.Millisecond)
				if err := cmd.Process.Signal(syscallZero); err != nil {
					close(exited)
					return
				}
			}
		}()
		for i := 0; i < 300; i++ {
			out, _, _ := run(e, "", pgBin+"/pg_isready", "-q", "-h", sock(e), "-p", strconv.Itoa(e.port))
			_ = out
			if exec.Command(pgBin+"/pg_isready", "-q", "-h", sock(e), "-p", strconv.Itoa(e.port)).Run() == nil {
				return nil
			}
			select {
			case <-exited:
				stop(e)
				return errors.New("postgres exited during startup (see its log)")
			case <-time.After(100 * time.Millisecond):
			}
		}
		stop(e)
		return errors.New("postgres did not become ready")
	}
	get := func(e *env, key string) read {
		out, stderr, err := psql(e, fmt.Sprintf("SELECT coalesce((SELECT v FROM kv WHERE k='%s'), '<notfound>')", key))
		if err != nil {
			return read{err: strings.TrimSpace(stderr + " " + err.Error())}
		}
		v := strings.TrimSpace(out)
		if v == "<notfound>" {
			return read{}
		}
		return read{val: v, found: true}
	}
	return &subject{
		name:   "postgresql",
		about:  "PostgreSQL 15 from Debian, fsync=on, default wal_sync_method (fdatasync), buffered I/O; stopped with pg_ctl -m immediate (no shutdown checkpoint)",
		target: "0000000*", // WAL segments in pg_wal
		paper:  "PostgreSQL crashes (PANIC) on a failed fsync and recovers from its WAL (takeaway #7); recovery can read WAL from the page cache and turn the failure into a false failure (takeaway #8; talk: \"recovers wrong data from page cache — Example: PostgreSQL\"); on updates it can lose both new and old data (§1); with direct I/O it may best handle fsync failures (not run here).",
		need:   []string{"runuser", pgBin + "/postgres", pgBin + "/initdb", pgBin + "/psql"},
		setup: func(e *env) error {
			tmpl, err := pgInitTemplate(e.work)
			if err != nil {
				return err
			}
			for _, d := range []string{filepath.Dir(e.work), e.work} {
				os.Chmod(d, 0o755)
			}
			if out, err := exec.Command("cp", "-a", tmpl, data(e)).CombinedOutput(); err != nil {
				return fmt.Errorf("cp: %v %s", err, out)
			}
			if err := start(e); err != nil {
				return err
			}
			defer stop(e)
			_, stderr, err := psql(e, fmt.Sprintf("CREATE TABLE kv(k text PRIMARY KEY, v text); INSERT INTO kv VALUES('%s','%s'); CHECKPOINT;", keyUpdate, oldValue))
			if err != nil {
				return fmt.Errorf("psql: %v %s", err, stderr)
			}
			return nil
		},
		op: func(e *env, key, value string) (bool, read, string) {
			if err := start(e); err != nil {
				return false, read{err: err.Error()}, err.Error()
			}
			sql := fmt.Sprintf("INSERT INTO kv VALUES('%s','%s')", key, value)
			if key == keyUpdate {
				sql = fmt.Sprintf("UPDATE kv SET v='%s' WHERE k='%s'", value, key)
			}
			e.arm()
			out, stderr, err := psql(e, sql)
			time.Sleep(300 * time.Millisecond) // a PANIC takes the server down
			return err == nil, get(e, key), strings.TrimSpace(out + " " + stderr)
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
