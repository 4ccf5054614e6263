package faultfs

import (
	"errors"
	"math"
	"strings"
	"syscall"
	"testing"

	"github.com/holdfast-db/holdfast/vfs"
)

// run feeds ops to inj in order and returns, per op, whether it failed.
// It also checks that a failure is exactly want, so injectors cannot
// wrap or replace the caller's error.
func run(t *testing.T, inj Injector, want error, ops ...Op) []bool {
	t.Helper()
	got := make([]bool, len(ops))
	for i, op := range ops {
		err := inj.Inject(op)
		if err != nil && err != want {
			t.Fatalf("op %d (%v): error %v, want %v or nil", i, op, err, want)
		}
		got[i] = err != nil
	}
	return got
}

// fails renders a run as "x" and "." so table expectations stay readable.
func fails(b []bool) string {
	var s strings.Builder
	for _, f := range b {
		if f {
			s.WriteByte('x')
		} else {
			s.WriteByte('.')
		}
	}
	return s.String()
}

// mustMatcher unwraps a (Matcher, error) result: mustMatcher(t)(PathGlob(p)).
func mustMatcher(t *testing.T) func(Matcher, error) Matcher {
	return func(m Matcher, err error) Matcher {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func TestMatcherKinds(t *testing.T) {
	m := Kinds(OpSync, OpSyncData)
	for k := OpKind(0); k < opKindCount; k++ {
		want := k == OpSync || k == OpSyncData
		if got := m(Op{Kind: k}); got != want {
			t.Errorf("Kinds(sync, syncdata)(%v) = %v, want %v", k, got, want)
		}
	}
	// Kinds outside the defined range must not alias defined ones.
	if Kinds(OpKind(255))(Op{Kind: OpKind(255 % 64)}) {
		t.Error("Kinds(255) matches kind 63")
	}
	if !Kinds(OpKind(255))(Op{Kind: OpKind(255)}) {
		t.Error("Kinds(255) does not match kind 255")
	}
	if Kinds()(Op{Kind: OpSync}) {
		t.Error("Kinds() matches something")
	}
}

func TestMatcherPathGlob(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"*.log", "/db/wal/000001.log", true}, // no '/': base name
		{"*.log", "000001.log", true},
		{"*.log", "/db/wal/000001.log.tmp", false},
		{"*.log", "/db/x.log/data", false},
		{"/db/wal/*", "/db/wal/000001.log", true}, // '/': full path
		{"/db/wal/*", "/db/wal/sub/000001.log", false},
		{"/db/wal/*", "/db/other/000001.log", false},
		{"/db/wal/*", "/db/wal/../wal/a", true}, // the op path is cleaned
		{"/db/wal/*", "/db//wal/a", true},
		{"CURRENT", "/db/CURRENT", true},
		{"CURRENT", "/db/CURRENT.tmp", false},
		{"db/*", "/db/a", false}, // a relative pattern does not match an absolute path
		{"db/*", "db/a", true},
		{"[0-9]*.sst", "/d/12.sst", true},
		{"[0-9]*.sst", "/d/a12.sst", false},
	}
	for _, tt := range tests {
		m := mustMatcher(t)(PathGlob(tt.pattern))
		if got := m(Op{Kind: OpWrite, Path: tt.path}); got != tt.want {
			t.Errorf("PathGlob(%q)(%q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
	for _, bad := range []string{"[", "a[", "*.log[", `x\`} {
		if _, err := PathGlob(bad); err == nil {
			t.Errorf("PathGlob(%q) accepted a malformed pattern", bad)
		}
	}
}

func TestMatcherPathRegexp(t *testing.T) {
	tests := []struct {
		expr string
		path string
		want bool
	}{
		{`\.tmp$`, "/db/CURRENT.tmp", true},
		{`\.tmp$`, "/db/CURRENT", false},
		{`wal`, "/db/wal/1.log", true}, // unanchored
		{`^wal`, "/db/wal/1.log", false},
		{`^/db/.*\.tmp$`, "/db/a/b.tmp", true},
		{`^/db/a$`, "/db/x/../a", true}, // cleaned
	}
	for _, tt := range tests {
		m := mustMatcher(t)(PathRegexp(tt.expr))
		if got := m(Op{Path: tt.path}); got != tt.want {
			t.Errorf("PathRegexp(%q)(%q) = %v, want %v", tt.expr, tt.path, got, tt.want)
		}
	}
	if _, err := PathRegexp("("); err == nil {
		t.Error("PathRegexp(\"(\") accepted a malformed expression")
	}
}

func TestMatcherOverlaps(t *testing.T) {
	tests := []struct {
		offset, length int64
		op             Op
		want           bool
	}{
		{8192, 4096, Op{Kind: OpDeviceWrite, Offset: 8192, Length: 4096}, true},
		{8192, 4096, Op{Kind: OpDeviceWrite, Offset: 4096, Length: 4096}, false}, // ends where the range starts
		{8192, 4096, Op{Kind: OpDeviceWrite, Offset: 12288, Length: 4096}, false},
		{8192, 1, Op{Kind: OpDeviceWrite, Offset: 8192, Length: 4096}, true},
		{8195, 1, Op{Kind: OpDeviceWrite, Offset: 8192, Length: 4096}, true},
		{12287, 1, Op{Kind: OpDeviceWrite, Offset: 8192, Length: 4096}, true},
		{100, 10, Op{Kind: OpWrite, Offset: 0, Length: 101}, true},
		{100, 10, Op{Kind: OpWrite, Offset: 0, Length: 100}, false},
		{100, 10, Op{Kind: OpWrite, Offset: 109, Length: 5}, true},
		{100, 10, Op{Kind: OpWrite, Offset: 110, Length: 5}, false},
		{0, 10, Op{Kind: OpSync}, false},                         // no range
		{0, 0, Op{Kind: OpWrite, Offset: 0, Length: 10}, false},  // empty range
		{0, -5, Op{Kind: OpWrite, Offset: 0, Length: 10}, false}, // negative range
		// Near the top of int64 the end saturates rather than wrapping.
		{math.MaxInt64 - 1, math.MaxInt64, Op{Kind: OpWrite, Offset: 0, Length: 10}, false},
		{0, 10, Op{Kind: OpWrite, Offset: math.MaxInt64 - 1, Length: math.MaxInt64}, false},
		{math.MaxInt64 - 10, 100, Op{Kind: OpWrite, Offset: math.MaxInt64 - 5, Length: 100}, true},
	}
	for _, tt := range tests {
		if got := Overlaps(tt.offset, tt.length)(tt.op); got != tt.want {
			t.Errorf("Overlaps(%d, %d)(%v) = %v, want %v", tt.offset, tt.length, tt.op, got, tt.want)
		}
	}
}

func TestMatcherCombinators(t *testing.T) {
	sync := Kinds(OpSync)
	log := mustMatcher(t)(PathGlob("*.log"))
	syncLog := Op{Kind: OpSync, Path: "/a.log"}
	syncDat := Op{Kind: OpSync, Path: "/a.dat"}
	writeLog := Op{Kind: OpWrite, Path: "/a.log"}
	writeDat := Op{Kind: OpWrite, Path: "/a.dat"}
	ops := []Op{syncLog, syncDat, writeLog, writeDat}
	tests := []struct {
		name string
		m    Matcher
		want string // per op in ops
	}{
		{"All()", All(), "xxxx"},
		{"All(sync)", All(sync), "xx.."},
		{"All(sync, log)", All(sync, log), "x..."},
		{"All(sync, nil)", All(sync, nil), "xx.."}, // nil matches everything
		{"AnyOf()", AnyOf(), "...."},
		{"AnyOf(sync, log)", AnyOf(sync, log), "xxx."},
		{"AnyOf(nil)", AnyOf(nil), "xxxx"},
		{"Not(sync)", Not(sync), "..xx"},
		{"Not(nil)", Not(nil), "...."},
		{"Not(All(sync, log))", Not(All(sync, log)), ".xxx"},
		{"All(Not(sync), log)", All(Not(sync), log), "..x."},
	}
	for _, tt := range tests {
		got := make([]bool, len(ops))
		for i, op := range ops {
			got[i] = tt.m(op)
		}
		if fails(got) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, fails(got), tt.want)
		}
	}

	// All and AnyOf copy their arguments: changing the caller's slice later
	// must not change the matcher.
	ms := []Matcher{sync}
	m := All(ms...)
	ms[0] = log
	if !m(syncDat) {
		t.Error("All kept a reference to the caller's slice")
	}
}

func TestInjectAlways(t *testing.T) {
	inj := Always(Kinds(OpSync), syscall.EIO)
	got := run(t, inj, syscall.EIO,
		Op{Kind: OpSync, Path: "/a"}, Op{Kind: OpWrite, Path: "/a"}, Op{Kind: OpSync, Path: "/b"})
	if fails(got) != "x.x" {
		t.Errorf("Always(sync): %s, want x.x", fails(got))
	}
	if err := Always(nil, syscall.ENOSPC).Inject(Op{Kind: OpWrite}); err != syscall.ENOSPC {
		t.Errorf("Always(nil, ENOSPC) = %v, want ENOSPC", err)
	}
}

func TestInjectOnIndex(t *testing.T) {
	sync := Op{Kind: OpSync, Path: "/db/currentEpoch.tmp"}
	other := Op{Kind: OpSync, Path: "/db/other"}
	write := Op{Kind: OpWrite, Path: "/db/currentEpoch.tmp"}
	m := All(Kinds(OpSync), mustMatcher(t)(PathGlob("currentEpoch.tmp")))
	tests := []struct {
		n    int
		ops  []Op
		want string
	}{
		{3, []Op{sync, write, other, sync, sync, sync, sync}, "....x.."}, // ZOOKEEPER-4311: the 3rd fsync
		{1, []Op{write, sync, sync}, ".x."},
		{2, []Op{sync}, "."},
		{0, []Op{sync, sync}, ".."},  // n < 1 never fails
		{-1, []Op{sync, sync}, ".."}, // n < 1 never fails
	}
	for _, tt := range tests {
		got := run(t, OnIndex(m, tt.n, syscall.EIO), syscall.EIO, tt.ops...)
		if fails(got) != tt.want {
			t.Errorf("OnIndex(n=%d): %s, want %s", tt.n, fails(got), tt.want)
		}
	}

	// Counting is over all targets, not per path.
	inj := OnIndex(Kinds(OpSync), 2, syscall.EIO)
	got := run(t, inj, syscall.EIO, Op{Kind: OpSync, Path: "/a"}, Op{Kind: OpSync, Path: "/b"}, Op{Kind: OpSync, Path: "/a"})
	if fails(got) != ".x." {
		t.Errorf("OnIndex over two paths: %s, want .x.", fails(got))
	}
}

func TestInjectSequence(t *testing.T) {
	sd := func(p string) Op { return Op{Kind: OpSyncData, Path: p} }
	tests := []struct {
		seq  string
		n    int
		want string
	}{
		{"xxwW", 6, "xx...."},
		{"wwX", 6, "..xxxx"},
		{"xwx", 6, "x.x..."}, // lower case only: pass after the end
		{"X", 3, "xxx"},
		{"W", 3, "..."},
		{"wxW", 4, ".x.."},
	}
	for _, tt := range tests {
		inj, err := Sequence(Kinds(OpSyncData), tt.seq, syscall.EIO)
		if err != nil {
			t.Fatal(err)
		}
		ops := make([]Op, tt.n)
		for i := range ops {
			ops[i] = sd("/db/wal/1.log")
		}
		if got := fails(run(t, inj, syscall.EIO, ops...)); got != tt.want {
			t.Errorf("Sequence(%q): %s, want %s", tt.seq, got, tt.want)
		}
	}
	if _, err := Sequence(nil, "xQ", syscall.EIO); err == nil {
		t.Error("Sequence accepted a bad sequence")
	}
}

func TestInjectSequencePerTarget(t *testing.T) {
	inj, err := Sequence(Kinds(OpSync), "wxW", syscall.EIO)
	if err != nil {
		t.Fatal(err)
	}
	a, b := Op{Kind: OpSync, Path: "/a"}, Op{Kind: OpSync, Path: "/b"}
	write := Op{Kind: OpWrite, Path: "/a"}
	// Each path keeps its own position: a's second sync fails, and so does
	// b's, however they interleave; non-matching ops do not advance it.
	got := run(t, inj, syscall.EIO, a, b, write, write, b, a, a, b, Op{Kind: OpSync, Path: "/x/../a"})
	if want := "....xx..."; fails(got) != want {
		t.Errorf("Sequence per target: %s, want %s", fails(got), want)
	}
}

func TestInjectSequenceDeviceOffset(t *testing.T) {
	// CuttleFS-style: one bad block of one file. The rule matches every
	// device write of /data/f; the sequence keeps one position per page,
	// so page 8192 fails its first write and page 4096 its first too, each
	// independently, while the file-level sync has a separate position.
	inj, err := Sequence(All(Kinds(OpDeviceWrite, OpSync), mustMatcher(t)(PathGlob("/data/f"))), "xW", syscall.EIO)
	if err != nil {
		t.Fatal(err)
	}
	page := func(off int64) Op { return Op{Kind: OpDeviceWrite, Path: "/data/f", Offset: off, Length: 4096} }
	sync := Op{Kind: OpSync, Path: "/data/f"}
	got := run(t, inj, syscall.EIO, page(8192), page(8192), page(4096), sync, page(0), sync, page(4096), page(8192))
	if want := "x.xxx..."; fails(got) != want {
		t.Errorf("device sequence: %s, want %s", fails(got), want)
	}

	// With Overlaps, only one block of the file is targeted at all.
	inj, err = Sequence(All(Kinds(OpDeviceWrite), Overlaps(8192, 4096)), "wX", syscall.EIO)
	if err != nil {
		t.Fatal(err)
	}
	got = run(t, inj, syscall.EIO, page(0), page(8192), page(4096), page(8192), page(0), page(8192))
	if want := "...x.x"; fails(got) != want {
		t.Errorf("device sequence with Overlaps: %s, want %s", fails(got), want)
	}

	// Device reads are targeted the same way, and separately per path.
	inj, err = Sequence(Kinds(OpDeviceRead), "xW", syscall.EIO)
	if err != nil {
		t.Fatal(err)
	}
	rd := func(p string, off int64) Op { return Op{Kind: OpDeviceRead, Path: p, Offset: off, Length: 4096} }
	got = run(t, inj, syscall.EIO, rd("/a", 0), rd("/b", 0), rd("/a", 4096), rd("/a", 0))
	if want := "xxx."; fails(got) != want {
		t.Errorf("device read sequence: %s, want %s", fails(got), want)
	}
}

func TestInjectProbability(t *testing.T) {
	const n = 2000
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = Op{Kind: OpWrite, Path: "/f", Offset: int64(i)}
	}
	a := fails(run(t, Probability(nil, 0.1, 7, syscall.ENOSPC), syscall.ENOSPC, ops...))
	b := fails(run(t, Probability(nil, 0.1, 7, syscall.ENOSPC), syscall.ENOSPC, ops...))
	c := fails(run(t, Probability(nil, 0.1, 8, syscall.ENOSPC), syscall.ENOSPC, ops...))
	if a != b {
		t.Error("Probability with the same seed gave different faults")
	}
	if a == c {
		t.Error("Probability with seeds 7 and 8 gave the same faults")
	}
	// A loose bound: the rate is 10%, so 2000 draws give about 200.
	if k := strings.Count(a, "x"); k < 120 || k > 280 {
		t.Errorf("Probability(0.1) failed %d of %d ops", k, n)
	}

	// Non-matching ops do not draw, so interleaving them changes nothing.
	m := Kinds(OpWrite)
	inj := Probability(m, 0.5, 3, syscall.EIO)
	var mixed []bool
	for _, op := range ops[:200] {
		mixed = append(mixed, inj.Inject(op) != nil)
		if inj.Inject(Op{Kind: OpSync, Path: "/f"}) != nil {
			t.Fatal("Probability failed a non-matching op")
		}
	}
	plain := run(t, Probability(m, 0.5, 3, syscall.EIO), syscall.EIO, ops[:200]...)
	if fails(mixed) != fails(plain) {
		t.Error("non-matching ops advanced the random stream")
	}

	edges := []struct {
		p    float64
		want string
	}{
		{0, strings.Repeat(".", 50)},
		{-1, strings.Repeat(".", 50)},
		{math.NaN(), strings.Repeat(".", 50)},
		{1, strings.Repeat("x", 50)},
		{2, strings.Repeat("x", 50)},
	}
	for _, e := range edges {
		if got := fails(run(t, Probability(nil, e.p, 1, syscall.EIO), syscall.EIO, ops[:50]...)); got != e.want {
			t.Errorf("Probability(%v): %s, want %s", e.p, got, e.want)
		}
	}
}

func TestInjectAnyConsultsAll(t *testing.T) {
	// Both injectors count syncs. Any must show every op to both, even when
	// the first fails it, so the second still fails the 2nd sync.
	first := OnIndex(Kinds(OpSync), 1, syscall.EIO)
	second := OnIndex(Kinds(OpSync), 2, syscall.ENOSPC)
	var calls int
	counter := InjectorFunc(func(Op) error { calls++; return nil })
	inj := Any(first, nil, counter, second)
	sync := Op{Kind: OpSync, Path: "/f"}
	if err := inj.Inject(sync); err != syscall.EIO {
		t.Errorf("1st sync: %v, want EIO", err)
	}
	if err := inj.Inject(sync); err != syscall.ENOSPC {
		t.Errorf("2nd sync: %v, want ENOSPC", err)
	}
	if err := inj.Inject(sync); err != nil {
		t.Errorf("3rd sync: %v, want nil", err)
	}
	if calls != 3 {
		t.Errorf("the third injector was consulted %d times, want 3", calls)
	}

	// When several fail the same op, the first in order wins.
	both := Any(Always(nil, syscall.EROFS), Always(nil, syscall.EIO))
	if err := both.Inject(sync); err != syscall.EROFS {
		t.Errorf("Any of two failures: %v, want the first (EROFS)", err)
	}
	if err := Any().Inject(sync); err != nil {
		t.Errorf("Any(): %v, want nil", err)
	}
}

func TestInjectErrorsNotWrapped(t *testing.T) {
	// Callers test injected errors with errors.Is and the FS may compare
	// them with ==; a custom error must come back untouched.
	custom := errors.New("custom")
	seq, err := Sequence(nil, "X", custom)
	if err != nil {
		t.Fatal(err)
	}
	for _, inj := range []Injector{
		Always(nil, custom), OnIndex(nil, 1, custom), seq, Probability(nil, 1, 0, custom), Any(Always(nil, custom)),
	} {
		if got := inj.Inject(Op{Kind: OpWrite}); got != custom {
			t.Errorf("%T returned %v, want the given error", inj, got)
		}
	}
}

func TestInjectConcurrent(t *testing.T) {
	// The FS serialises calls, but the injectors lock their own state so a
	// shared one is still race-free (run with -race). Which goroutine gets
	// a fault depends on scheduling; how many faults there are in total
	// does not, for any of the stateful injectors, so that is checked.
	const goroutines, each = 8, 100
	newSeq := func() Injector {
		inj, err := Sequence(nil, "xxxW", syscall.EIO)
		if err != nil {
			t.Fatal(err)
		}
		return inj
	}
	serial := func(inj Injector) int {
		n := 0
		for i := 0; i < goroutines*each; i++ {
			if inj.Inject(Op{Kind: OpWrite, Path: "/f"}) != nil {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		make func() Injector
	}{
		{"OnIndex", func() Injector { return OnIndex(nil, 5, syscall.EIO) }},
		{"Sequence", newSeq},
		{"Probability", func() Injector { return Probability(nil, 0.5, 1, syscall.EIO) }},
	}
	for _, tt := range tests {
		want := serial(tt.make())
		inj := tt.make()
		done := make(chan int)
		for g := 0; g < goroutines; g++ {
			go func() {
				n := 0
				for i := 0; i < each; i++ {
					if inj.Inject(Op{Kind: OpWrite, Path: "/f"}) != nil {
						n++
					}
				}
				done <- n
			}()
		}
		got := 0
		for g := 0; g < goroutines; g++ {
			got += <-done
		}
		if got != want {
			t.Errorf("%s: %d faults from concurrent callers, %d serially", tt.name, got, want)
		}
	}
}

func TestInjectThroughFS(t *testing.T) {
	// End to end with the core: a text rule that fails the first device
	// write of one page of /f makes the fsync of /f report EIO and leaves
	// /g, written and synced the same way, alone.
	inj, err := ParseInjector("devwrite path=/f offset=4096 seq=x")
	if err != nil {
		t.Fatal(err)
	}
	fsys := New(Options{Injector: inj})
	for _, name := range []string{"/g", "/f"} {
		f, err := vfs.Create(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(make([]byte, 3*PageSizeBytes)); err != nil {
			t.Fatal(err)
		}
		err = f.Sync()
		if want := name == "/f"; errors.Is(err, syscall.EIO) != want || (err != nil) != want {
			t.Errorf("Sync(%s) = %v, want EIO: %v", name, err, want)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
