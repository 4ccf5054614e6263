package faultfs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
)

// errnoNames are the errors a specification may name. The set is small on
// purpose: each is an error a real file system returns from I/O or
// namespace calls and that a storage engine must handle (EIO from a failed
// write-back, ENOSPC/EDQUOT from a full disk or quota, EROFS after ext4
// remounts read-only on error, EFBIG past the file-size limit, ENOMEM and
// EINTR/EAGAIN from the kernel under pressure, EACCES/EPERM from
// permissions, ENOENT/EEXIST from racing namespace changes).
var errnoNames = []struct {
	name  string
	errno syscall.Errno
}{
	{"EIO", syscall.EIO},
	{"ENOSPC", syscall.ENOSPC},
	{"EDQUOT", syscall.EDQUOT},
	{"EROFS", syscall.EROFS},
	{"EFBIG", syscall.EFBIG},
	{"ENOMEM", syscall.ENOMEM},
	{"EINTR", syscall.EINTR},
	{"EAGAIN", syscall.EAGAIN},
	{"EACCES", syscall.EACCES},
	{"EPERM", syscall.EPERM},
	{"ENOENT", syscall.ENOENT},
	{"EEXIST", syscall.EEXIST},
}

// Errno returns the syscall.Errno named name ("EIO", "ENOSPC", "EDQUOT",
// "EROFS", "EFBIG", "ENOMEM", "EINTR", "EAGAIN", "EACCES", "EPERM",
// "ENOENT" or "EEXIST"; upper or lower case). The first result is the
// error to inject; the second reports an unknown name. The Errno is
// returned bare, not wrapped, so the FS can hand it on as the operating
// system would and callers can test it with errors.Is.
func Errno(name string) (error, error) {
	for _, e := range errnoNames {
		if strings.EqualFold(e.name, name) {
			return e.errno, nil
		}
	}
	return nil, fmt.Errorf("faultfs: unknown errno %q; known: %s", name, errnoList())
}

func errnoList() string {
	names := make([]string, len(errnoNames))
	for i, e := range errnoNames {
		names[i] = e.name
	}
	return strings.Join(names, ", ")
}

// specError is Errno plus the two crash actions, "crash-before" and
// "crash-after" (ErrCrashBefore, ErrCrashAfter), which LazyFS's
// crash::timing=before|after commands need.
func specError(name string) (error, error) {
	switch strings.ToLower(name) {
	case "crash-before":
		return ErrCrashBefore, nil
	case "crash-after":
		return ErrCrashAfter, nil
	}
	return Errno(name)
}

// errnoName is the inverse of specError, for printing a parsed
// specification.
func errnoName(err error) string {
	switch err {
	case ErrCrashBefore:
		return "crash-before"
	case ErrCrashAfter:
		return "crash-after"
	}
	for _, e := range errnoNames {
		if errors.Is(err, e.errno) {
			return e.name
		}
	}
	return fmt.Sprint(err)
}

// ParseInjector parses the text form of an injector, used by command-line
// flags and fuzzed. A specification is one or more rules separated by ';'
// (empty rules are skipped, so a trailing ';' is fine). A rule is a list of
// operation kinds, then space-separated terms:
//
//	sync,syncdata path=*.log nth=3 err=EIO
//	syncdata path=/db/wal/* seq=xxwW
//	write prob=0.01 seed=7 err=ENOSPC
//	devwrite path=/data/f offset=8192 len=4096 seq=xW
//	* path=~^/db/.*\.tmp$ always
//
// The operation list is comma-separated kind names (OpKind.String: open,
// create, read, write, sync, syncdata, ..., devwrite, devread) or "*" for
// every kind. The terms are:
//
//	path=GLOB     PathGlob; a pattern without '/' matches the base name
//	path=~REGEXP  PathRegexp (unanchored)
//	offset=N      with len=, Overlaps(N, len); bytes, decimal
//	len=N         default 1 when offset= is given; offset defaults to 0
//	nth=N         OnIndex: fail only the N-th (1-based) matching operation
//	seq=SEQ       Sequence, per target (see ParseSeq)
//	prob=P        Probability P in [0, 1], with
//	seed=N        its seed (default 0)
//	always        Always
//	err=NAME      the error to inject (see Errno), or crash-before /
//	              crash-after to crash the FS there; default EIO
//
// Each rule needs exactly one of nth=, seq=, prob= and always. Unknown
// keys, repeated keys, bad numbers, prob outside [0, 1] and nth < 1 are
// errors that name the rule. Since terms are split at white space and rules
// at ';', a regexp that needs either must write it as \s or \x3b.
//
// The result consults every rule for every operation (see Any) and prints,
// with %v or String, as a canonical specification that parses back to the
// same injector.
func ParseInjector(spec string) (Injector, error) {
	var rules []*rule
	for i, text := range strings.Split(spec, ";") {
		if strings.TrimSpace(text) == "" {
			continue
		}
		r, err := parseRule(text)
		if err != nil {
			return nil, fmt.Errorf("faultfs: injector rule %d %q: %w", i+1, strings.TrimSpace(text), err)
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return nil, errors.New("faultfs: empty injector specification; want rules such as \"sync nth=1 err=EIO\"")
	}
	injs := make([]Injector, len(rules))
	for i, r := range rules {
		injs[i] = r.inj
	}
	return &specInjector{rules: rules, Injector: Any(injs...)}, nil
}

// specInjector is what ParseInjector returns: the combined injector plus
// the parsed rules, kept to print the specification back.
type specInjector struct {
	Injector
	rules []*rule
}

// String returns the canonical specification: rules joined by "; ", each
// with every term spelled out (err= included) in a fixed order.
func (s *specInjector) String() string {
	parts := make([]string, len(s.rules))
	for i, r := range s.rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; ")
}

type ruleMode uint8

const (
	modeNone ruleMode = iota
	modeAlways
	modeNth
	modeSeq
	modeProb
)

// rule is one parsed rule of a specification.
type rule struct {
	kinds []OpKind // nil means every kind ("*")

	path     string // glob, or regexp if pathIsRE; "" for any path
	pathIsRE bool

	hasRange       bool
	offset, length int64

	mode ruleMode
	nth  int
	seq  Seq
	prob float64
	seed uint64

	err error

	inj Injector
}

// specKeys are the keys a rule may use.
var specKeys = map[string]bool{
	"path": true, "offset": true, "len": true, "nth": true, "seq": true,
	"prob": true, "seed": true, "always": true, "err": true,
}

func parseRule(text string) (*rule, error) {
	fields := strings.Fields(text)
	r := &rule{err: syscall.EIO}
	if strings.Contains(fields[0], "=") || fields[0] == "always" {
		return nil, fmt.Errorf("rule must start with an operation list such as \"sync,syncdata\" or \"*\", not %q", fields[0])
	}
	if err := r.parseKinds(fields[0]); err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	var hasOffset, hasLen, hasSeed bool
	for _, term := range fields[1:] {
		key, value, hasValue := strings.Cut(term, "=")
		if !specKeys[key] {
			return nil, fmt.Errorf("unknown key %q; known: path, offset, len, nth, seq, prob, seed, always, err", key)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s given twice", key)
		}
		seen[key] = true
		if key == "always" {
			if hasValue {
				return nil, fmt.Errorf("always takes no value, got %q", term)
			}
			if err := r.setMode(modeAlways, key); err != nil {
				return nil, err
			}
			continue
		}
		if !hasValue {
			return nil, fmt.Errorf("term %q is not key=value or always", term)
		}
		if value == "" {
			return nil, fmt.Errorf("%s= has an empty value", key)
		}
		var err error
		switch key {
		case "path":
			r.path = value
			if re, ok := strings.CutPrefix(value, "~"); ok {
				r.path, r.pathIsRE = re, true
				if re == "" {
					err = errors.New("path=~ has an empty regexp")
				}
			}
		case "offset":
			hasOffset = true
			r.offset, err = strconv.ParseInt(value, 10, 64)
			if err == nil && r.offset < 0 {
				err = fmt.Errorf("offset=%d is negative", r.offset)
			}
		case "len":
			hasLen = true
			r.length, err = strconv.ParseInt(value, 10, 64)
			if err == nil && r.length < 1 {
				err = fmt.Errorf("len=%d is less than 1", r.length)
			}
		case "nth":
			if err = r.setMode(modeNth, key); err == nil {
				r.nth, err = strconv.Atoi(value)
				if err == nil && r.nth < 1 {
					err = fmt.Errorf("nth=%d is less than 1; operations are counted from 1", r.nth)
				}
			}
		case "seq":
			if err = r.setMode(modeSeq, key); err == nil {
				r.seq, err = ParseSeq(value)
			}
		case "prob":
			if err = r.setMode(modeProb, key); err == nil {
				r.prob, err = strconv.ParseFloat(value, 64)
				if err == nil && !(r.prob >= 0 && r.prob <= 1) { // also rejects NaN
					err = fmt.Errorf("prob=%s is outside [0, 1]", value)
				}
			}
		case "seed":
			hasSeed = true
			r.seed, err = strconv.ParseUint(value, 10, 64)
		case "err":
			r.err, err = specError(value)
		default:
			panic("faultfs: key in specKeys without a case: " + key)
		}
		if err != nil {
			var numErr *strconv.NumError
			if errors.As(err, &numErr) {
				// strconv's own message repeats the function name; say which
				// key was bad instead.
				err = fmt.Errorf("%s=%s: %w", key, value, numErr.Err)
			}
			return nil, err
		}
	}
	if r.mode == modeNone {
		return nil, errors.New("rule needs one of nth=, seq=, prob= or always")
	}
	if hasSeed && r.mode != modeProb {
		return nil, errors.New("seed= is only meaningful with prob=")
	}
	if hasOffset || hasLen {
		r.hasRange = true
		if !hasLen {
			r.length = 1
		}
		if r.offset > math.MaxInt64-r.length {
			return nil, fmt.Errorf("offset=%d plus len=%d overflows", r.offset, r.length)
		}
	}
	if err := r.build(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rule) parseKinds(list string) error {
	if list == "*" {
		return nil
	}
	for _, name := range strings.Split(list, ",") {
		if name == "*" {
			return errors.New("\"*\" must stand alone in the operation list")
		}
		k, err := ParseOpKind(name)
		if err != nil {
			return fmt.Errorf("operation list %q: unknown operation kind %q", list, name)
		}
		for _, prev := range r.kinds {
			if prev == k {
				return fmt.Errorf("operation list %q: %s given twice", list, k)
			}
		}
		r.kinds = append(r.kinds, k)
	}
	return nil
}

// setMode records the rule's one decision mode, rejecting a second.
func (r *rule) setMode(m ruleMode, key string) error {
	if r.mode != modeNone {
		return fmt.Errorf("%s conflicts with an earlier nth=, seq=, prob= or always; give exactly one", key)
	}
	r.mode = m
	return nil
}

// build makes the rule's injector from its parsed fields.
func (r *rule) build() error {
	var ms []Matcher
	if r.kinds != nil {
		ms = append(ms, Kinds(r.kinds...))
	}
	if r.path != "" {
		var m Matcher
		var err error
		if r.pathIsRE {
			m, err = PathRegexp(r.path)
		} else {
			m, err = PathGlob(r.path)
		}
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	if r.hasRange {
		ms = append(ms, Overlaps(r.offset, r.length))
	}
	m := All(ms...)
	switch r.mode {
	case modeAlways:
		r.inj = Always(m, r.err)
	case modeNth:
		r.inj = OnIndex(m, r.nth, r.err)
	case modeSeq:
		r.inj = newSequence(m, r.seq, r.err)
	case modeProb:
		r.inj = Probability(m, r.prob, r.seed, r.err)
	default:
		panic("faultfs: rule without a mode") // parseRule checks this
	}
	return nil
}

// String prints the rule in canonical form.
func (r *rule) String() string {
	var b strings.Builder
	if r.kinds == nil {
		b.WriteString("*")
	}
	for i, k := range r.kinds {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.String())
	}
	if r.path != "" {
		b.WriteString(" path=")
		if r.pathIsRE {
			b.WriteByte('~')
		}
		b.WriteString(r.path)
	}
	if r.hasRange {
		fmt.Fprintf(&b, " offset=%d len=%d", r.offset, r.length)
	}
	switch r.mode {
	case modeAlways:
		b.WriteString(" always")
	case modeNth:
		fmt.Fprintf(&b, " nth=%d", r.nth)
	case modeSeq:
		b.WriteString(" seq=" + r.seq.String())
	case modeProb:
		fmt.Fprintf(&b, " prob=%s seed=%d", strconv.FormatFloat(r.prob, 'g', -1, 64), r.seed)
	}
	b.WriteString(" err=" + errnoName(r.err))
	return b.String()
}
