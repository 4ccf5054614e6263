// Package study runs the fsync-failure study of Rebello et al., "Can
// Applications Recover from fsync Failures?" (USENIX ATC 2020), again:
// real programs from Debian's packages, and holdfast, on a faultfs FUSE
// mount, under each failure profile. For every program, workload and
// profile it makes one fsync of the program's log or data file fail, reads
// the key back at the paper's four points (while running, after the
// program restarts, after clean-page eviction, after a crash of the mount)
// and classifies each read with the paper's outcome codes. Run writes
// docs/study.md and the raw log of every cell beside it.
//
// It needs root, /dev/fuse and the programs; it is run by `make study`
// (faultfs study), never by `make test`.
package study

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs/fusefs"
)

// Workloads: the paper's single-block update and multi-block append.
const (
	WorkloadUpdate = "update"
	WorkloadInsert = "insert"
	// WorkloadStartup is not the paper's: the first fsync of the target
	// fails while the program starts (its recovery), with nothing
	// written; the first read says whether it served anyway.
	WorkloadStartup = "startup"
)

// Workloads lists them in report order.
var Workloads = []string{WorkloadUpdate, WorkloadInsert, WorkloadStartup}

// The values the workloads write.
const (
	keyUpdate = "k"
	keyInsert = "k2"
	oldValue  = "old"
	newValue  = "new"
)

// Config says what to run and where to write.
type Config struct {
	// Out is the report (docs/study.md); raw logs go to a directory named
	// like it without ".md" (docs/study/).
	Out string
	// Subjects to run (nil: all whose programs are installed).
	Subjects []string
	// Profiles (nil: all).
	Profiles []faultfs.Profile
	// Work is a scratch directory ("" : a temporary one).
	Work string
	// Progress receives one line per cell.
	Progress io.Writer
}

// current is the mount of the cell that runs, for Abort.
var (
	currentMu sync.Mutex
	current   *fusefs.Server
)

// Abort unmounts the mount of the running cell, so that an interrupted
// study leaves nothing mounted. The command calls it on SIGINT and SIGTERM
// before exiting.
func Abort() {
	currentMu.Lock()
	defer currentMu.Unlock()
	if current != nil {
		if err := current.Unmount(); err != nil {
			exec.Command("umount", "-l", current.Mountpoint()).Run()
		}
		current.Close()
		current = nil
	}
}

// read is what one read of the key returned.
type read struct {
	val   string // the value, if found
	found bool
	err   string // the program could not read (or the data is damaged)
}

func (r read) String() string {
	switch {
	case r.err != "":
		return "error: " + r.err
	case !r.found:
		return "not found"
	}
	return fmt.Sprintf("%q", r.val)
}

// env is one cell's mount and scratch space.
type env struct {
	mnt  string // the mount point
	work string // scratch outside the mount (binaries, sockets)
	srv  *fusefs.Server
	log  io.Writer
	bins map[string]string // built helper programs
	port int
	// arm installs the fsync failure; a subject calls it right before the
	// write, after its program has started (startup syncs are not the
	// operation's).
	arm func()
}

// subject is one program under study.
type subject struct {
	name string
	// what the program is and how it is configured, for the report
	about string
	// target is the faultfs path glob of the file whose fsync fails
	target string
	// paper says what the ATC'20 paper (research notes §1.3) found.
	paper string
	need  []string
	// setup creates the store holding keyUpdate=oldValue, durably.
	setup func(e *env) error
	// op writes key=value and reads key back in the same process.
	op func(e *env, key, value string) (ok bool, running read, detail string)
	// get starts the program afresh and reads key.
	get func(e *env, key string) read
	// stop ends anything still running.
	stop func(e *env)
}

// cell is one subject × workload × profile.
type cell struct {
	subject, workload string
	profile           faultfs.Profile
	fired             bool // the injected fsync failure happened
	opOK              bool
	reads             [4]read
	codes             [4]string
	detail            string
	err               string // the cell could not be run
	// targetSyncs counts fsyncs of the target during the operation, the
	// failed one included: more than one after an error is a retry.
	targetSyncs int
}

// Points are the paper's four reads.
var points = [4]string{"running", "restart", "evicted", "crashed"}

func (c cell) summary() string {
	switch {
	case c.err != "":
		return "n/a"
	case !c.fired:
		return "no fault"
	}
	op := "E"
	if c.workload == WorkloadStartup {
		op = "R"
	} else if c.opOK {
		op = "S"
	}
	return op + ": " + strings.Join(c.codes[:], " ")
}

// classify names an outcome with the paper's codes: OV old value, FF false
// failure, KNF key not found, VC value corruption (the paper's KC, key
// corruption, is not distinguishable through a get); ok when the read is
// what the reported result promises; U when the program refuses to read
// (unavailable, not a loss).
func classify(workload string, opOK bool, r read) string {
	if r.err != "" {
		lower := strings.ToLower(r.err)
		for _, w := range []string{"corrupt", "malformed", "checksum", "crc", "bad", "invalid"} {
			if strings.Contains(lower, w) {
				return "VC"
			}
		}
		return "U"
	}
	var before read // what the store held before the operation
	if workload == WorkloadUpdate {
		before = read{val: oldValue, found: true}
	}
	switch {
	case r.found && r.val == newValue:
		if opOK {
			return "ok"
		}
		return "FF"
	case r == before:
		if opOK {
			if workload == WorkloadInsert {
				return "KNF"
			}
			return "OV"
		}
		return "ok"
	case !r.found:
		return "KNF"
	}
	return "VC"
}

// Run runs the study and writes the report.
func Run(cfg Config) error {
	if cfg.Out == "" {
		cfg.Out = "docs/study.md"
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	profiles := cfg.Profiles
	if profiles == nil {
		profiles = faultfs.Profiles
	}
	logDir := strings.TrimSuffix(cfg.Out, ".md")
	if err := os.RemoveAll(logDir); err != nil {
		return err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	work := cfg.Work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "faultfs-study-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	bins, buildLog := buildHelpers(work)
	var subjects []*subject
	var skipped []string
	for _, s := range allSubjects() {
		if cfg.Subjects != nil && !slices.Contains(cfg.Subjects, s.name) {
			continue
		}
		if missing := missingTools(s, bins); missing != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", s.name, missing))
			continue
		}
		subjects = append(subjects, s)
	}
	started := time.Now()
	var cells []cell
	for _, s := range subjects {
		for _, w := range Workloads {
			for _, p := range profiles {
				c := runCell(s, w, p, work, logDir, bins)
				fmt.Fprintf(cfg.Progress, "%-16s %-6s %-12s %s\n", s.name, w, p, c.summary())
				cells = append(cells, c)
			}
		}
	}
	report := writeReport(subjects, skipped, profiles, cells, started, buildLog)
	return os.WriteFile(cfg.Out, []byte(report), 0o644)
}

func missingTools(s *subject, bins map[string]string) string {
	var missing []string
	for _, n := range s.need {
		if _, ok := bins[n]; ok {
			continue
		}
		if strings.HasPrefix(n, "/") {
			if _, err := os.Stat(n); err != nil {
				missing = append(missing, n+" not found")
			}
			continue
		}
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n+" not found")
		}
	}
	return strings.Join(missing, ", ")
}

func runCell(s *subject, workload string, p faultfs.Profile, work, logDir string, bins map[string]string) (c cell) {
	c = cell{subject: s.name, workload: workload, profile: p}
	var logBuf bytes.Buffer
	defer func() {
		if r := recover(); r != nil {
			c.err = fmt.Sprint(r)
		}
		fmt.Fprintf(&logBuf, "\nresult: %s\n", c.summary())
		if c.err != "" {
			fmt.Fprintf(&logBuf, "cell error: %s\n", c.err)
		}
		os.WriteFile(filepath.Join(logDir, fmt.Sprintf("%s-%s-%s.log", s.name, workload, p)), logBuf.Bytes(), 0o644)
	}()
	dir, err := os.MkdirTemp(work, s.name+"-")
	if err != nil {
		c.err = err.Error()
		return c
	}
	defer os.RemoveAll(dir)
	backing, mnt := filepath.Join(dir, "backing"), filepath.Join(dir, "mnt")
	os.Mkdir(backing, 0o755)
	os.Mkdir(mnt, 0o777)
	fmt.Fprintf(&logBuf, "# %s, workload %s, profile %s\n# target of the fsync failure: %s\n\n", s.name, workload, p, s.target)
	// Namespace operations are durable at once, as under CuttleFS, which
	// passes directories through: the study is about data, not names.
	srv, err := fusefs.Mount(fusefs.Options{Backing: backing, Mountpoint: mnt, Profile: p, Dirs: faultfs.DirLazy, AllowOther: true, OnUnmount: fusefs.UnmountDiscard, Log: &logBuf})
	if err != nil {
		c.err = err.Error()
		return c
	}
	currentMu.Lock()
	current = srv
	currentMu.Unlock()
	defer func() {
		currentMu.Lock()
		current = nil
		currentMu.Unlock()
		srv.Unmount()
		srv.Close()
	}()
	e := &env{mnt: mnt, work: dir, srv: srv, log: &logBuf, bins: bins, port: 16400 + int(time.Now().UnixNano()%1000)}
	defer s.stop(e)
	command := func(line string) {
		out, err := srv.Command(line)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", line, err))
		}
		fmt.Fprintf(&logBuf, "[faultfs] %s -> %s\n", line, out)
	}
	if err := s.setup(e); err != nil {
		c.err = "setup: " + err.Error()
		return c
	}
	command("lazyfs::cache-checkpoint")
	command("faultfs::evict-clean-pages")
	before := srv.FS().Stats().FailedSyncs
	// Count the target's syncs after the failed one, while the operation
	// runs: the paper found that no program retries a failed fsync.
	match, err := faultfs.PathGlob(s.target)
	if err != nil {
		c.err = err.Error()
		return c
	}
	var targetSyncs int
	var retryMu sync.Mutex
	armed := false
	e.arm = func() {
		if armed {
			return
		}
		armed = true
		command("faultfs::inject::sync,syncdata path=" + s.target + " nth=1 err=EIO")
		srv.AddInjector("study: count target syncs", faultfs.InjectorFunc(func(op faultfs.Op) error {
			if (op.Kind == faultfs.OpSync || op.Kind == faultfs.OpSyncData) && match(op) {
				retryMu.Lock()
				targetSyncs++
				retryMu.Unlock()
			}
			return nil
		}))
	}
	key := keyUpdate
	if workload == WorkloadInsert {
		key = keyInsert
	}
	var ok bool
	var running read
	var detail string
	if workload == WorkloadStartup {
		e.arm()
		running = s.get(e, keyUpdate)
		detail = "start with the first fsync of the target failing, then read " + keyUpdate
	} else {
		ok, running, detail = s.op(e, key, newValue)
	}
	if !armed {
		c.err = "the subject never armed the fault"
		return c
	}
	c.opOK, c.detail = ok, detail
	c.fired = srv.FS().Stats().FailedSyncs > before
	retryMu.Lock()
	c.targetSyncs = targetSyncs
	retryMu.Unlock()
	command("faultfs::clear-faults")
	fmt.Fprintf(&logBuf, "[study] op %s=%s: ok=%t fault fired=%t; fsyncs of the target during the operation: %d; %s\n", key, newValue, ok, c.fired, c.targetSyncs, detail)
	c.reads[0] = running
	s.stop(e)
	c.reads[1] = s.get(e, key)
	command("faultfs::evict-clean-pages")
	c.reads[2] = s.get(e, key)
	command("faultfs::crash")
	c.reads[3] = s.get(e, key)
	for i, r := range c.reads {
		if workload == WorkloadStartup {
			c.codes[i] = classify(WorkloadUpdate, false, r) // nothing written: old is right
		} else {
			c.codes[i] = classify(workload, ok, r)
		}
		fmt.Fprintf(&logBuf, "[study] read %-8s %-24s -> %s\n", points[i], r, c.codes[i])
	}
	command("faultfs::status")
	return c
}

// run runs a program with a time limit, logging it; it returns stdout and
// stderr.
func run(e *env, stdin string, name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		err = fmt.Errorf("%s: timed out", name)
		<-done
	}
	fmt.Fprintf(e.log, "$ %s %s\n", name, strings.Join(args, " "))
	if stdin != "" {
		fmt.Fprintf(e.log, "  stdin: %s\n", strings.ReplaceAll(strings.TrimSpace(stdin), "\n", " | "))
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		fmt.Fprintf(e.log, "  stdout: %s\n", strings.ReplaceAll(s, "\n", " | "))
	}
	if s := strings.TrimSpace(errb.String()); s != "" {
		fmt.Fprintf(e.log, "  stderr: %s\n", strings.ReplaceAll(s, "\n", " | "))
	}
	if err != nil {
		fmt.Fprintf(e.log, "  exit: %v\n", err)
	}
	return out.String(), errb.String(), err
}

// buildHelpers compiles the C clients for LevelDB and LMDB; a helper that
// does not build is left out (its subject is skipped, saying why).
func buildHelpers(work string) (map[string]string, string) {
	bins := map[string]string{}
	var log strings.Builder
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "csrc")
	for _, h := range []struct{ name, lib string }{{"leveldb_kv", "-lleveldb"}, {"lmdb_kv", "-llmdb"}} {
		out := filepath.Join(work, h.name)
		cmd := exec.Command("gcc", "-O1", "-o", out, filepath.Join(src, h.name+".c"), h.lib)
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(&log, "building %s: %v: %s\n", h.name, err, b)
			continue
		}
		bins[h.name] = out
	}
	return bins, log.String()
}
