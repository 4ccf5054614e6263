//go:build linux

package killtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/vfstest"
)

// The parent and the child talk through these environment variables.
const (
	envChild = "HOLDFAST_KILLTEST_CHILD" // "1" in the child
	envDir   = "HOLDFAST_KILLTEST_DIR"
	envSeed  = "HOLDFAST_KILLTEST_SEED"
	envCycle = "HOLDFAST_KILLTEST_CYCLE"
	// envSegment is Options.SegmentSizeBytes; empty: the default.
	envSegment = "HOLDFAST_KILLTEST_SEGMENT_BYTES"
	// envCycles sets the number of cycles, like -killtest.cycles.
	envCycles = "HOLDFAST_KILLTEST_CYCLES"
)

var (
	flagCycles = flag.Int("killtest.cycles", 20, "kill -9 cycles per test (or "+envCycles+"); pass after the package: go test ./internal/killtest -args -killtest.cycles=200")
	flagSeed   = flag.Uint64("killtest.seed", 0, "seed of the kill schedule and the workload (0: from the clock)")
)

// The workload and the schedule.
const (
	dataspaceName     = "k"
	writers           = 16
	registerKeys      = 48 // r/00 … r/47, shared by all writers
	counterKeys       = 4  // c/0 … c/3
	maxBatchOps       = 4
	maxPaddingBytes   = 300 // values above 64 bytes are read from the log, not memory
	killAfterMinMs    = 50
	killAfterMaxMs    = 500
	earlyKillPercent  = 20 // cycles killed during start-up and recovery
	readyTimeout      = 60 * time.Second
	childLifetimeMax  = 2 * time.Minute // a child whose parent vanished ends itself
	stderrTailBytes   = 16 << 10
	maxViolationsShow = 30
)

// TestKill9RealDisk runs the kill -9 loop in a temporary directory on the
// machine's disk.
func TestKill9RealDisk(t *testing.T) {
	runKillLoop(t, filepath.Join(t.TempDir(), "data"), "real disk "+fsType(t.TempDir()), 0)
}

// TestKill9Ext4 runs it on a fresh ext4 file system in a loop device
// (root only; skipped, with the reason, otherwise).
func TestKill9Ext4(t *testing.T) {
	mnt := vfstest.MountExt4(t, 256)
	runKillLoop(t, filepath.Join(mnt, "data"), "loop-mounted ext4", 0)
}

// TestKill9Compaction is TestKill9RealDisk with log segments so small
// that compaction (relocating live values, then removing old segments)
// runs many times a cycle, so kills land inside it.
func TestKill9Compaction(t *testing.T) {
	runKillLoop(t, filepath.Join(t.TempDir(), "data"), "real disk "+fsType(t.TempDir())+" with 256 KiB segments", 256<<10)
}

// TestKillChild is the child: the test binary re-executed by runKillLoop.
// Run directly, it skips.
func TestKillChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("the child of the kill -9 tests; runs only when re-executed by them")
	}
	runChild()
}

// lineWriter writes whole lines to stdout, one write(2) each, so what
// the parent reads is exactly what the child had done when it was killed.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
	l.w.WriteByte('\n')
	if err := l.w.Flush(); err != nil {
		os.Exit(6) // the parent is gone
	}
}

func runChild() {
	out := &lineWriter{w: bufio.NewWriterSize(os.Stdout, 64<<10)}
	fatal := func(format string, args ...any) {
		out.printf("X "+format, args...)
		os.Exit(3)
	}
	dir := os.Getenv(envDir)
	seed, err := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
	if err != nil {
		fatal("bad %s: %v", envSeed, err)
	}
	cycle, err := strconv.Atoi(os.Getenv(envCycle))
	if err != nil {
		fatal("bad %s: %v", envCycle, err)
	}
	var opts holdfast.Options
	if s := os.Getenv(envSegment); s != "" {
		if opts.SegmentSizeBytes, err = strconv.ParseInt(s, 10, 64); err != nil {
			fatal("bad %s: %v", envSegment, err)
		}
	}
	db, err := holdfast.Open(dir, opts)
	if err != nil {
		fatal("open %s: %v", dir, err)
	}
	ds, err := db.Dataspace(dataspaceName)
	if errors.Is(err, holdfast.ErrNoDataspace) {
		ds, err = db.CreateDataspace(dataspaceName, holdfast.DataspaceOptions{})
	}
	if err != nil {
		fatal("dataspace %s: %v", dataspaceName, err)
	}
	if err := ds.Err(); err != nil {
		fatal("dataspace %s stopped: %v", dataspaceName, err)
	}
	out.printf("R")
	for g := 0; g < writers; g++ {
		go writer(ds, out, cycle, g, rand.New(rand.NewPCG(seed, uint64(g))))
	}
	time.Sleep(childLifetimeMax)
	fatal("not killed within %v", childLifetimeMax)
}

// writer issues requests until the process is killed. Every value is
// unique: it names the cycle, the writer, the request and the operation.
func writer(ds *holdfast.Dataspace, out *lineWriter, cycle, g int, rng *rand.Rand) {
	ctx := context.Background()
	value := func(id string, i int) string {
		return fmt.Sprintf("v.%s.%d~%s", id, i, strings.Repeat("x", rng.IntN(maxPaddingBytes)))
	}
	regKey := func() string { return fmt.Sprintf("%s%02d", RegisterPrefix, rng.IntN(registerKeys)) }
	for n := 0; ; n++ {
		id := fmt.Sprintf("c%d.g%d.n%d", cycle, g, n)
		opt := holdfast.WithRequestID(id)
		var err error
		switch p := rng.IntN(100); {
		case p < 40:
			k, v := regKey(), value(id, 0)
			out.printf("B %s put %s %s", id, k, v)
			var seq uint64
			if seq, err = ds.Put(ctx, []byte(k), []byte(v), opt); err == nil {
				out.printf("A %s ok %d", id, seq)
			}
		case p < 55:
			k := regKey()
			out.printf("B %s del %s", id, k)
			existed, seq, derr := ds.Delete(ctx, []byte(k), opt)
			if err = derr; err == nil {
				out.printf("A %s ok %d %d", id, seq, b2i(existed))
			}
		case p < 75:
			n := 2 + rng.IntN(maxBatchOps-1)
			var b holdfast.Batch
			line := fmt.Sprintf("B %s batch %d", id, n)
			for i, k := range rng.Perm(registerKeys)[:n] {
				key := fmt.Sprintf("%s%02d", RegisterPrefix, k)
				if rng.IntN(5) == 0 {
					b.Delete([]byte(key))
					line += " " + key + " -"
				} else {
					v := value(id, i)
					b.Put([]byte(key), []byte(v))
					line += " " + key + " " + v
				}
			}
			out.printf("%s", line)
			var seq uint64
			if seq, err = ds.Apply(ctx, &b, opt); err == nil {
				out.printf("A %s ok %d", id, seq)
			}
		default:
			k := fmt.Sprintf("%s%d", CounterPrefix, rng.IntN(counterKeys))
			delta := 1 + rng.Int64N(9)
			out.printf("B %s incr %s %d", id, k, delta)
			var nv int64
			var seq uint64
			if nv, seq, err = ds.Incr(ctx, []byte(k), delta, opt); err == nil {
				out.printf("A %s ok %d %d", id, seq, nv)
			}
		}
		if err != nil {
			class := ClassDefinite
			switch {
			case errors.Is(err, holdfast.ErrOutcomeUnknown):
				class = ClassUnknown
			case errors.Is(err, holdfast.ErrFailStop):
				class = ClassFailStop
			}
			out.printf("A %s err %s %s", id, class, strings.ReplaceAll(err.Error(), "\n", " "))
			time.Sleep(10 * time.Millisecond) // a stopped dataspace fails fast: do not spin
		}
	}
}

// cycles returns the number of cycles to run.
func cycles(t *testing.T) int {
	n := *flagCycles
	if s := os.Getenv(envCycles); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a positive number", envCycles, s)
		}
		n = v
	}
	return n
}

// totals sum a test's cycles.
type totals struct {
	cycles, ready, acked, maybe, failed, violations, tornTails int
	maxKeys                                                    int
	compactions, killedInCompaction                            int
	childTime, reopenTime                                      time.Duration
	// readyAfter is how long the last child took to open the database:
	// early kills fall in [0, 1.2 × readyAfter], so start-up and recovery.
	readyAfter time.Duration
}

// runKillLoop runs the cycles on dir. segmentBytes is the log segment
// size of the child and the parent (0: the default).
func runKillLoop(t *testing.T, dir, where string, segmentBytes int64) {
	if testing.Short() {
		t.Skip("kill -9 loop skipped in -short mode")
	}
	// The loops share nothing but the machine; a kill lands at a random
	// moment either way.
	t.Parallel()
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	n := cycles(t)
	t.Logf("kill -9 on %s, dir %s: %d cycles, seed %d (rerun with -killtest.seed=%d)", where, dir, n, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	checker := NewChecker()
	sum := totals{readyAfter: 500 * time.Millisecond}
	start := time.Now()
	for cycle := 1; cycle <= n; cycle++ {
		vs := runCycle(t, dir, segmentBytes, cycle, rng, checker, &sum)
		sum.violations += len(vs)
		for i, v := range vs {
			if i == maxViolationsShow {
				t.Errorf("… and %d more violations in cycle %d", len(vs)-i, cycle)
				break
			}
			t.Errorf("violation: %s", v)
		}
		if len(vs) > 0 {
			break // the next cycles would build on a state already wrong
		}
	}
	t.Logf("kill -9 summary on %s: %d cycles (%d reached the writes), %d writes acknowledged, %d outcome unknown (%d keys read back a value from one), %d failed, up to %d keys, %d torn tails cut, %d compactions (%d cut by the kill), %d violations; child time %v, reopen time %v, total %v, seed %d",
		where, sum.cycles, sum.ready, sum.acked, sum.maybe, checker.MaybeSeen, sum.failed, sum.maxKeys, sum.tornTails, sum.compactions, sum.killedInCompaction, sum.violations,
		sum.childTime.Round(time.Millisecond), sum.reopenTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), seed)
	if sum.acked == 0 && !t.Failed() {
		t.Errorf("no write was acknowledged in %d cycles: the test checked nothing", sum.cycles)
	}
}

// childOutput collects the child's stdout and notices its "R" line.
type childOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	ready   chan struct{}
	readyAt time.Time
	once    sync.Once
}

func (o *childOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if bytes.HasPrefix(o.buf.Bytes(), []byte("R\n")) {
		o.once.Do(func() {
			o.readyAt = time.Now()
			close(o.ready)
		})
	}
	return len(p), nil
}

func (o *childOutput) bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf.Bytes())
}

// tailBuffer keeps the last stderrTailBytes written to it, and counts
// the engine's compaction log events in complete lines.
type tailBuffer struct {
	mu                  sync.Mutex
	buf                 []byte
	partial             []byte
	compStart, compDone int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partial = append(b.partial, p...)
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		line := b.partial[:i]
		b.compStart += bytes.Count(line, []byte("compaction started"))
		b.compDone += bytes.Count(line, []byte("compaction done")) + bytes.Count(line, []byte("compaction failed"))
		b.partial = b.partial[i+1:]
	}
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - stderrTailBytes; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// runCycle starts a child, kills it, reopens the directory and checks it.
func runCycle(t *testing.T, dir string, segmentBytes int64, cycle int, rng *rand.Rand, checker *Checker, sum *totals) []Violation {
	t.Helper()
	childSeed := rng.Uint64()
	early := rng.IntN(100) < earlyKillPercent
	var delay time.Duration
	if early {
		delay = time.Duration(rng.Int64N(int64(sum.readyAfter) * 6 / 5))
	} else {
		delay = time.Duration(killAfterMinMs+rng.IntN(killAfterMaxMs-killAfterMinMs+1)) * time.Millisecond
	}

	stdout := &childOutput{ready: make(chan struct{})}
	stderr := &tailBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(),
		envChild+"=1", envDir+"="+dir,
		envSeed+"="+strconv.FormatUint(childSeed, 10), envCycle+"="+strconv.Itoa(cycle))
	if segmentBytes != 0 {
		cmd.Env = append(cmd.Env, envSegment+"="+strconv.FormatInt(segmentBytes, 10))
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// If the test process dies, so does the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("cycle %d: start child: %v", cycle, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	// However this function ends (t.Fatal included), no child outlives it.
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	if !early {
		select {
		case <-stdout.ready:
		case <-exited:
		case <-time.After(readyTimeout):
			t.Fatalf("cycle %d: the child did not open the database within %v; stderr:\n%s", cycle, readyTimeout, stderr)
		}
	}
	select {
	case <-time.After(delay):
	case <-exited:
	}
	cmd.Process.Kill()
	<-exited
	lived := time.Since(started)
	sum.childTime += lived
	// cmd.Wait has returned: the copy into stdout is finished.
	if !stdout.readyAt.IsZero() {
		sum.readyAfter = stdout.readyAt.Sub(started)
	}
	sum.compactions += stderr.compStart
	compactions := fmt.Sprint(stderr.compStart)
	if stderr.compStart > stderr.compDone {
		sum.killedInCompaction++
		compactions += " (killed during one)"
	}

	st, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Fatalf("cycle %d: the child ended by itself (%v) instead of by SIGKILL; stdout tail:\n%s\nstderr:\n%s",
			cycle, waitErr, tail(stdout.bytes(), 2048), stderr)
	}
	out := stdout.bytes()
	h, err := ParseHistory(out)
	if err != nil {
		t.Fatalf("cycle %d: child output: %v", cycle, err)
	}
	if h.Fatal != "" {
		t.Fatalf("cycle %d: the child gave up: %s\nstderr:\n%s", cycle, h.Fatal, stderr)
	}

	got, torn, reopen := reopenAndRead(t, dir, segmentBytes, cycle)
	vs := checker.Check(h.Requests, got)
	if len(vs) > 0 {
		saved := saveHistory(t, cycle, out, stderr.String())
		t.Logf("cycle %d: history saved to %s", cycle, saved)
	}

	acked, maybe, failed := h.Count()
	sum.cycles++
	if h.Ready {
		sum.ready++
	}
	sum.acked += acked
	sum.maybe += maybe
	sum.failed += failed
	sum.tornTails += torn
	sum.maxKeys = max(sum.maxKeys, len(got.Keys))
	sum.reopenTime += reopen
	mode := "after ready"
	if early {
		mode = "from start"
	}
	t.Logf("cycle %2d: killed %3d ms %-11s (lived %4d ms, ready %-5v): %4d acked, %3d maybe, %d failed, %2d keys, last seq %6d, compactions %s, torn tail %v, reopen %v",
		cycle, delay.Milliseconds(), mode, lived.Milliseconds(), h.Ready, acked, maybe, failed, len(got.Keys), got.LastSeq,
		compactions, torn > 0, reopen.Round(time.Millisecond))
	return vs
}

// reopenAndRead opens the data directory in this process, reads every key
// (by Scan, and each again by Get), and closes it.
func reopenAndRead(t *testing.T, dir string, segmentBytes int64, cycle int) (Snapshot, int, time.Duration) {
	t.Helper()
	var logs tailBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	db, err := holdfast.Open(dir, holdfast.Options{Logger: logger, SegmentSizeBytes: segmentBytes})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("cycle %d: reopen: %v", cycle, err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("cycle %d: close: %v", cycle, err)
		}
	}()
	torn := strings.Count(logs.String(), "torn")
	if s := logs.String(); s != "" && strings.Count(s, "\n") > torn {
		t.Logf("cycle %d: warnings at reopen:\n%s", cycle, s)
	}
	ds, err := db.Dataspace(dataspaceName)
	if errors.Is(err, holdfast.ErrNoDataspace) {
		return Snapshot{Exists: false}, torn, took
	}
	if err != nil {
		t.Fatalf("cycle %d: dataspace: %v", cycle, err)
	}
	if err := ds.Err(); err != nil {
		t.Fatalf("cycle %d: dataspace stopped after reopen: %v\nlog:\n%s", cycle, err, logs.String())
	}
	ctx := context.Background()
	got := Snapshot{Exists: true, Keys: make(map[string]KV), LastSeq: ds.LastSeq()}
	var after []byte
	for {
		page, err := ds.Scan(ctx, holdfast.ScanOptions{After: after, Limit: 1000})
		if err != nil {
			t.Fatalf("cycle %d: scan: %v", cycle, err)
		}
		for _, kv := range page.KVs {
			got.Keys[string(kv.Key)] = KV{Value: string(kv.Value.Data), Seq: kv.Value.Seq}
		}
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	for k, want := range got.Keys {
		v, err := ds.Get(ctx, []byte(k))
		if err != nil {
			t.Fatalf("cycle %d: get %s after scan returned it: %v", cycle, k, err)
		}
		if string(v.Data) != want.Value || v.Seq != want.Seq {
			t.Errorf("cycle %d: key %s: scan gave %s@%d, get %s@%d", cycle, k, short(want.Value), want.Seq, short(string(v.Data)), v.Seq)
		}
	}
	if n := ds.Len(); n != len(got.Keys) {
		t.Errorf("cycle %d: Len is %d, scan returned %d keys", cycle, n, len(got.Keys))
	}
	return got, torn, took
}

// saveHistory keeps a failing cycle's child output where it outlives the
// test, and returns the directory.
func saveHistory(t *testing.T, cycle int, stdout []byte, stderr string) string {
	dir, err := os.MkdirTemp("", fmt.Sprintf("holdfast-killtest-cycle%d-", cycle))
	if err != nil {
		t.Logf("saving the history: %v", err)
		return "(not saved)"
	}
	os.WriteFile(filepath.Join(dir, "stdout"), stdout, 0o644)
	os.WriteFile(filepath.Join(dir, "stderr"), []byte(stderr), 0o644)
	return dir
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// fsType names the file system holding dir, for the log.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "(unknown file system)"
	}
	switch st.Type {
	case 0xef53:
		return "(ext4)"
	case 0x58465342:
		return "(xfs)"
	case 0x9123683e:
		return "(btrfs)"
	case 0x01021994:
		return "(tmpfs)"
	}
	return fmt.Sprintf("(file system magic %#x)", st.Type)
}
