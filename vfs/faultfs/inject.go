package faultfs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"regexp"
	"strings"
	"sync"
)

// Injector decides, before an operation runs, whether it fails. A nil error
// lets it run; a non-nil error is returned to the caller as it is, so pass
// the error the operating system would give (syscall.EIO, syscall.ENOSPC,
// ...; see Errno).
//
// Injectors may be stateful (counters, sequence positions, a random
// source). The FS calls Inject under its own lock, in operation order,
// exactly once per operation, so a given seed and workload give the same
// faults every run. The injectors in this package also lock their own
// state, so they are safe to share, but their decisions are only
// reproducible if the calls are made in a reproducible order.
type Injector interface {
	Inject(op Op) error
}

// InjectorFunc adapts a function to the Injector interface.
type InjectorFunc func(Op) error

// Inject calls f(op).
func (f InjectorFunc) Inject(op Op) error { return f(op) }

// Matcher selects operations. Every injector in this package takes one; a
// nil Matcher matches every operation, as All() does.
type Matcher func(Op) bool

// matches treats a nil Matcher as "everything" so callers can leave the
// matcher out without building All().
func (m Matcher) matches(op Op) bool { return m == nil || m(op) }

// Kinds matches operations of any of the given kinds. Kinds() matches
// nothing.
func Kinds(kinds ...OpKind) Matcher {
	// A bit set rather than a slice scan: matchers run on every operation.
	// OpKind is a uint8, so four words cover every possible value, even
	// ones this package does not define.
	var set [4]uint64
	for _, k := range kinds {
		set[k/64] |= 1 << (k % 64)
	}
	return func(op Op) bool { return set[op.Kind/64]&(1<<(op.Kind%64)) != 0 }
}

// PathGlob matches operations whose cleaned Path matches pattern, with the
// syntax of path.Match. A pattern that contains no '/' is matched against
// the base name only, so "*.log" selects every log file in any directory
// while "/db/wal/*" selects the entries of one directory. Only Path is
// matched: a Rename is selected by its old name, not NewPath.
func PathGlob(pattern string) (Matcher, error) {
	// path.Match checks the whole pattern for syntax errors whatever the
	// name, so matching against "" validates it up front instead of
	// failing silently on every operation later.
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("faultfs: bad path glob %q: %w", pattern, err)
	}
	base := !strings.Contains(pattern, "/")
	return func(op Op) bool {
		name := path.Clean(op.Path)
		if base {
			name = path.Base(name)
		}
		ok, _ := path.Match(pattern, name)
		return ok
	}, nil
}

// PathRegexp matches operations whose cleaned Path contains a match for the
// regular expression expr (RE2 syntax, unanchored, as unreliablefs's
// path_regexp; anchor it with ^ and $ to match the whole path). Only Path
// is matched, as for PathGlob.
func PathRegexp(expr string) (Matcher, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("faultfs: bad path regexp %q: %w", expr, err)
	}
	return func(op Op) bool { return re.MatchString(path.Clean(op.Path)) }, nil
}

// Overlaps matches operations whose byte range [Offset, Offset+Length)
// shares at least one byte with [offset, offset+length). Operations with no
// range (Length 0: opens, syncs, renames, truncates, ...) never match, nor
// does anything if length is not positive. OpDeviceWrite and OpDeviceRead
// carry the range of their page, so Overlaps(8192, 1) selects the device
// page at 8192 and Overlaps(0, 512) the first sector's page.
func Overlaps(offset, length int64) Matcher {
	if length <= 0 {
		return func(Op) bool { return false }
	}
	end := rangeEnd(offset, length)
	return func(op Op) bool {
		if op.Length <= 0 {
			return false
		}
		return op.Offset < end && offset < rangeEnd(op.Offset, op.Length)
	}
}

// rangeEnd is offset+length saturated at math.MaxInt64, so a range near the
// top of the int64 space cannot wrap round and overlap everything.
func rangeEnd(offset, length int64) int64 {
	if offset > math.MaxInt64-length {
		return math.MaxInt64
	}
	return offset + length
}

// All matches an operation that every m matches. All() matches everything.
func All(ms ...Matcher) Matcher {
	ms = append([]Matcher(nil), ms...) // the caller may reuse its slice
	return func(op Op) bool {
		for _, m := range ms {
			if !m.matches(op) {
				return false
			}
		}
		return true
	}
}

// AnyOf matches an operation that at least one m matches. AnyOf() matches
// nothing.
func AnyOf(ms ...Matcher) Matcher {
	ms = append([]Matcher(nil), ms...)
	return func(op Op) bool {
		for _, m := range ms {
			if m.matches(op) {
				return true
			}
		}
		return false
	}
}

// Not matches the operations m does not match. Not(nil) matches nothing.
func Not(m Matcher) Matcher {
	return func(op Op) bool { return !m.matches(op) }
}

// Always fails every operation m matches with err.
func Always(m Matcher, err error) Injector {
	return InjectorFunc(func(op Op) error {
		if m.matches(op) {
			return err
		}
		return nil
	})
}

// OnIndex fails only the n-th (1-based) operation m matches, counted over
// all targets, with err; every other operation runs. With n < 1 nothing
// fails. This is the "fail the 3rd fsync of currentEpoch.tmp" fault of the
// ZOOKEEPER-4311 reproduction.
func OnIndex(m Matcher, n int, err error) Injector {
	return &onIndex{m: m, n: n, err: err}
}

type onIndex struct {
	m   Matcher
	n   int
	err error

	mu   sync.Mutex
	seen int // matching operations so far, capped at n
}

func (o *onIndex) Inject(op Op) error {
	if !o.m.matches(op) {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// Stop counting once past n so a long run cannot overflow the counter
	// into a second hit.
	if o.seen >= o.n {
		return nil
	}
	o.seen++
	if o.seen == o.n {
		return o.err
	}
	return nil
}

// Sequence fails the operations m matches as the sequence string seq says
// (see ParseSeq), keeping one position per target: two files each start at
// the first letter. The target of an operation is its Path, except for
// OpDeviceWrite and OpDeviceRead, where it is Path plus the page offset
// (Offset), so that a sequence can hit one block of a file as CuttleFS and
// dm-loki do. Targets are keyed by name, not by file identity, so a file
// that is renamed starts again at the first letter under its new name, as
// in CuttleFS.
func Sequence(m Matcher, seq string, err error) (Injector, error) {
	s, perr := ParseSeq(seq)
	if perr != nil {
		return nil, perr
	}
	return newSequence(m, s, err), nil
}

func newSequence(m Matcher, s Seq, err error) *sequence {
	return &sequence{m: m, seq: s, err: err, pos: make(map[seqTarget]int)}
}

// seqTarget is what a Sequence keeps a position for. device separates a
// file's page targets from its whole-file target, so "devwrite" and "sync"
// rules on one path never share a position even at offset 0.
type seqTarget struct {
	path   string
	device bool
	offset int64
}

func targetOf(op Op) seqTarget {
	t := seqTarget{path: path.Clean(op.Path)}
	if op.Kind == OpDeviceWrite || op.Kind == OpDeviceRead {
		t.device = true
		t.offset = op.Offset
	}
	return t
}

type sequence struct {
	m   Matcher
	seq Seq
	err error

	mu  sync.Mutex
	pos map[seqTarget]int // next 0-based index per target
}

func (s *sequence) Inject(op Op) error {
	if !s.m.matches(op) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := targetOf(op)
	n := s.pos[t]
	// Past the explicit letters every index behaves alike, so the position
	// stops there rather than counting (and eventually overflowing).
	if n < len(s.seq.steps) {
		s.pos[t] = n + 1
	}
	if s.seq.Fails(n) {
		return s.err
	}
	return nil
}

// Probability fails each operation m matches with probability p, drawn
// from a PCG generator (math/rand/v2) seeded with seed, so a seed and a
// workload give the same faults every run. One number is drawn per
// matching operation, so operations m does not match do not disturb the
// sequence. p <= 0 (or NaN) never fails and p >= 1 always does;
// ParseInjector rejects values outside [0, 1].
func Probability(m Matcher, p float64, seed uint64, err error) Injector {
	return &probability{
		m:   m,
		p:   p,
		err: err,
		// The second PCG word is a fixed constant: seed alone must pick the
		// stream, and seeds 0 and 1 must not be trivially related.
		rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
	}
}

type probability struct {
	m   Matcher
	p   float64
	err error

	mu  sync.Mutex
	rng *rand.Rand
}

func (q *probability) Inject(op Op) error {
	if !q.m.matches(op) {
		return nil
	}
	q.mu.Lock()
	x := q.rng.Float64() // in [0, 1): p == 1 always fails, p == 0 never
	q.mu.Unlock()
	if x < q.p {
		return q.err
	}
	return nil
}

// Any consults every injector for every operation, in order, and returns
// the first non-nil error. It does not stop at the first failure so that
// each injector's counters and random stream advance the same way whatever
// the others decide; otherwise adding a rule would shift the faults of the
// rules after it. Nil injectors are skipped.
func Any(injs ...Injector) Injector {
	injs = append([]Injector(nil), injs...)
	return InjectorFunc(func(op Op) error {
		var first error
		for _, inj := range injs {
			if inj == nil {
				continue
			}
			if err := inj.Inject(op); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}
