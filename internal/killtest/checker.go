package killtest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The model. Keys are of two sorts, told apart by prefix:
//
//   - registers ("r/…") are written by put, del and batch, and every value
//     ever written is unique, so a value read back names the one request
//     that wrote it;
//   - counters ("c/…") are written only by incr, with positive deltas.
//
// The checker keeps, per key, the state observed (and checked) after the
// previous cycle: the base. A cycle's requests run on top of it; the
// database's sequence numbers order them (every write, or batch, gets a
// number above the base's last sequence number, and the log is replayed
// in that order). After the kill the parent reads every key, with the
// sequence number of the write that made its value, and Check decides
// whether an engine that keeps I1 and I3 could show that state.
//
// Registers. Let L be the acknowledged request of this cycle with the
// highest sequence number that wrote the key (if any). Then:
//
//   - a value read must have been written to this key, by a request that
//     is acknowledged or maybe, never by a failed one (I3), and never by
//     a request of an earlier cycle unless it is the base value itself
//     (nothing comes back from the dead);
//   - its sequence number must be the one its request was acknowledged
//     with; a maybe request's must be above the base's last sequence
//     number;
//   - no loss (I1): the sequence number read is at least L's; the base
//     value may be read only if the cycle has no L;
//   - the key may be absent only if the last known state (L, or the base
//     when there is no L) is absent, or a maybe delete of the key exists;
//   - batches are all or nothing: if a maybe batch's value is read at one
//     of its keys, with sequence number s, every other key of the batch
//     shows that batch's effect or something newer than s.
//
// Counters. With base value b, acknowledged increments a_1…a_n in
// sequence order (delta d_i, returned value v_i) and maybe increments
// with deltas m_j, an engine applies each increment at most once, in
// sequence order, so:
//
//	v_i = b + d_1 + … + d_i + X_i,   final = b + d_1 + … + d_n + X
//
// where X_i is the sum of the maybe increments applied before a_i and X
// the sum of those applied at all: 0 ≤ X_1 ≤ … ≤ X_n ≤ X ≤ Σm_j, each a
// subset sum of the m_j. The final sequence number equals a_n's when
// X = X_n and is above it when X > X_n.
//
// Across cycles: every acknowledged sequence number is above the base's
// last sequence number (a recovered database never reuses a number it
// acknowledged) and at most the last sequence number after reopen.

// KV is a key's state as read back: its value and the sequence number of
// the write that made it.
type KV struct {
	Value string
	Seq   uint64
}

// Snapshot is what the parent read after reopening.
type Snapshot struct {
	// Exists: the dataspace exists (the child may die before creating it).
	Exists  bool
	Keys    map[string]KV
	LastSeq uint64
}

// Violation is one broken rule.
type Violation struct {
	Cycle int
	Key   string // "" for a rule about a request or the whole dataspace
	Msg   string
}

func (v Violation) String() string {
	if v.Key == "" {
		return fmt.Sprintf("cycle %d: %s", v.Cycle, v.Msg)
	}
	return fmt.Sprintf("cycle %d: key %s: %s", v.Cycle, v.Key, v.Msg)
}

// Key prefixes.
const (
	RegisterPrefix = "r/"
	CounterPrefix  = "c/"
)

// origin is the request that wrote a register value.
type origin struct {
	cycle int
	req   *Request
	key   string
}

// Checker checks cycles one after another; its state accumulates.
type Checker struct {
	cycle   int
	base    map[string]KV
	baseSeq uint64
	exists  bool
	origins map[string]origin // register value → its writer
	// everAcked: some request was acknowledged, so the dataspace exists.
	everAcked bool
	// MaybeSeen counts register reads whose value a request of unknown
	// outcome wrote: applied, though never answered.
	MaybeSeen int
}

// NewChecker returns a checker for an empty data directory.
func NewChecker() *Checker {
	return &Checker{base: make(map[string]KV), origins: make(map[string]origin)}
}

// Cycle returns the number of cycles checked.
func (c *Checker) Cycle() int { return c.cycle }

// keyWrite is one request's operation on one key.
type keyWrite struct {
	req *Request
	op  Op
}

// Check checks the state read after one cycle against the cycle's
// requests, then makes that state the base of the next cycle.
func (c *Checker) Check(reqs []*Request, got Snapshot) []Violation {
	c.cycle++
	var vs []Violation
	bad := func(key, format string, args ...any) {
		vs = append(vs, Violation{Cycle: c.cycle, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if got.Keys == nil {
		got.Keys = map[string]KV{}
	}

	// Index the cycle: register values, writes per key, and the rules on
	// acknowledged sequence numbers.
	byKey := make(map[string][]keyWrite)
	seqOwner := make(map[uint64]*Request)
	for _, r := range reqs {
		for _, op := range r.Ops {
			switch {
			case strings.HasPrefix(op.Key, CounterPrefix) && r.Kind != KindIncr,
				strings.HasPrefix(op.Key, RegisterPrefix) && r.Kind == KindIncr,
				!strings.HasPrefix(op.Key, CounterPrefix) && !strings.HasPrefix(op.Key, RegisterPrefix):
				bad(op.Key, "harness: %s writes a key of the wrong sort", r)
				continue
			}
			byKey[op.Key] = append(byKey[op.Key], keyWrite{r, op})
			if r.Kind != KindIncr && !op.Delete {
				if o, dup := c.origins[op.Value]; dup {
					bad(op.Key, "harness: value %s written twice (%s in cycle %d, and %s)", short(op.Value), o.req, o.cycle, r)
				}
				c.origins[op.Value] = origin{cycle: c.cycle, req: r, key: op.Key}
			}
		}
		if r.Status != Acked {
			continue
		}
		c.everAcked = true
		if r.Seq == 0 {
			if r.Kind != KindDel || r.Existed {
				bad("", "%s acknowledged without a sequence number", r)
			}
			continue
		}
		if r.Seq <= c.baseSeq {
			bad("", "%s acknowledged with sequence number %d, not above %d, the last one recovered before the cycle (a number reused)", r, r.Seq, c.baseSeq)
		}
		if got.Exists && r.Seq > got.LastSeq {
			bad("", "%s acknowledged with sequence number %d, above the last sequence number %d after reopen (I1: lost)", r, r.Seq, got.LastSeq)
		}
		if o, dup := seqOwner[r.Seq]; dup {
			bad("", "%s and %s acknowledged with the same sequence number", o, r)
		}
		seqOwner[r.Seq] = r
	}

	if !got.Exists {
		if c.everAcked || c.exists {
			bad("", "the dataspace is missing after reopen, but it existed or writes to it were acknowledged (I1)")
		}
	} else {
		c.exists = true
	}

	keys := make(map[string]bool)
	for k := range c.base {
		keys[k] = true
	}
	for k := range byKey {
		keys[k] = true
	}
	for k := range got.Keys {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		b, inBase := c.base[k]
		g, present := got.Keys[k]
		switch {
		case strings.HasPrefix(k, RegisterPrefix):
			for _, m := range c.checkRegister(k, byKey[k], b, inBase, g, present, seqOwner) {
				bad(k, "%s", m)
			}
		case strings.HasPrefix(k, CounterPrefix):
			for _, m := range c.checkCounter(byKey[k], b, inBase, g, present) {
				bad(k, "%s", m)
			}
		default:
			bad(k, "a key nobody wrote is present: %s@%d", short(g.Value), g.Seq)
		}
	}
	for _, r := range reqs {
		if r.Kind == KindBatch && r.Status == Maybe {
			for _, m := range c.checkBatch(r, byKey, got) {
				bad("", "%s", m)
			}
		}
	}

	c.base = got.Keys
	c.baseSeq = got.LastSeq
	return vs
}

func (c *Checker) checkRegister(k string, writes []keyWrite, b KV, inBase bool, g KV, present bool, seqOwner map[uint64]*Request) []string {
	var out []string
	var last *keyWrite // L
	maybeDelete := false
	for i := range writes {
		w := &writes[i]
		switch w.req.Status {
		case Acked:
			if w.req.Seq != 0 && (last == nil || w.req.Seq > last.req.Seq) {
				last = w
			}
		case Maybe:
			if w.op.Delete {
				maybeDelete = true
			}
		}
	}
	if !present {
		switch {
		case last != nil && !last.op.Delete:
			if !maybeDelete {
				out = append(out, fmt.Sprintf("absent, but %s put %s and no later delete may have happened (I1: acknowledged write lost)", last.req, short(last.op.Value)))
			}
		case last == nil && inBase:
			if !maybeDelete {
				out = append(out, fmt.Sprintf("absent, but it held %s@%d before the cycle and no delete of it may have happened (lost)", short(b.Value), b.Seq))
			}
		}
		return out
	}

	o, known := c.origins[g.Value]
	switch {
	case !known:
		return append(out, fmt.Sprintf("holds %s@%d, a value never written to any key (invented)", short(g.Value), g.Seq))
	case o.key != k:
		return append(out, fmt.Sprintf("holds %s@%d, a value %s wrote to key %s", short(g.Value), g.Seq, o.req, o.key))
	case o.req.Status == Failed:
		return append(out, fmt.Sprintf("holds %s@%d, the value of %s (I3: a failed write is visible)", short(g.Value), g.Seq, o.req))
	case o.cycle < c.cycle:
		if !inBase || b.Value != g.Value || b.Seq != g.Seq {
			before := "absent"
			if inBase {
				before = fmt.Sprintf("%s@%d", short(b.Value), b.Seq)
			}
			return append(out, fmt.Sprintf("holds %s@%d, written by %s in cycle %d, but it was %s before this cycle (an old value came back)", short(g.Value), g.Seq, o.req, o.cycle, before))
		}
	case o.req.Status == Acked:
		if g.Seq != o.req.Seq {
			out = append(out, fmt.Sprintf("holds %s at sequence number %d, but %s wrote it", short(g.Value), g.Seq, o.req))
		}
	default: // maybe, this cycle
		c.MaybeSeen++
		if g.Seq <= c.baseSeq {
			out = append(out, fmt.Sprintf("holds %s@%d from %s, at a sequence number not above %d, the last before the cycle", short(g.Value), g.Seq, o.req, c.baseSeq))
		}
		if r, taken := seqOwner[g.Seq]; taken {
			out = append(out, fmt.Sprintf("holds %s@%d from %s, but %s was acknowledged with that sequence number", short(g.Value), g.Seq, o.req, r))
		}
	}
	if last != nil && g.Seq < last.req.Seq {
		what := fmt.Sprintf("put %s", short(last.op.Value))
		if last.op.Delete {
			what = "deleted it"
		}
		out = append(out, fmt.Sprintf("holds %s@%d, older than %s which %s (I1: acknowledged write lost)", short(g.Value), g.Seq, last.req, what))
	}
	return out
}

// checkBatch checks that a maybe batch is all or nothing.
func (c *Checker) checkBatch(r *Request, byKey map[string][]keyWrite, got Snapshot) []string {
	var out []string
	var seen []string
	seq := uint64(0)
	for _, op := range r.Ops {
		if g, ok := got.Keys[op.Key]; ok && !op.Delete && g.Value == op.Value {
			seen = append(seen, op.Key)
			if seq != 0 && g.Seq != seq {
				out = append(out, fmt.Sprintf("%s: its values are at sequence numbers %d and %d", r, seq, g.Seq))
			}
			seq = g.Seq
		}
	}
	if len(seen) == 0 {
		return out // not applied, or applied and overwritten everywhere: no evidence
	}
	for _, op := range r.Ops {
		g, present := got.Keys[op.Key]
		switch {
		case present && !op.Delete && g.Value == op.Value:
		case present && g.Seq <= seq:
			out = append(out, fmt.Sprintf("%s is partly applied: key %s shows it (seq %d), key %s holds %s@%d, older (batches are all or nothing)",
				r, seen[0], seq, op.Key, short(g.Value), g.Seq))
		case !present && !op.Delete:
			later := false
			for _, w := range byKey[op.Key] {
				if w.req != r && w.op.Delete && (w.req.Status == Maybe || (w.req.Status == Acked && w.req.Seq > seq)) {
					later = true
				}
			}
			if !later {
				out = append(out, fmt.Sprintf("%s is partly applied: key %s shows it (seq %d), key %s is absent and no later delete may have happened (batches are all or nothing)",
					r, seen[0], seq, op.Key))
			}
		}
	}
	return out
}

func (c *Checker) checkCounter(writes []keyWrite, b KV, inBase bool, g KV, present bool) []string {
	var out []string
	base := int64(0)
	if inBase {
		n, err := strconv.ParseInt(b.Value, 10, 64)
		if err != nil {
			return []string{fmt.Sprintf("base value %s is not an integer", short(b.Value))}
		}
		base = n
	}
	var acked []*Request
	var maybe []int64
	for _, w := range writes {
		switch w.req.Status {
		case Acked:
			acked = append(acked, w.req)
		case Maybe:
			maybe = append(maybe, w.req.Delta)
		}
		if w.req.Delta <= 0 {
			out = append(out, fmt.Sprintf("harness: %s has delta %d; the model needs positive deltas", w.req, w.req.Delta))
		}
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].Seq < acked[j].Seq })
	sums := subsetSums(maybe)
	maxX := int64(len(sums) - 1)

	final, finalSeq := int64(0), uint64(0)
	if present {
		n, err := strconv.ParseInt(g.Value, 10, 64)
		if err != nil {
			return append(out, fmt.Sprintf("holds %s@%d, not an integer", short(g.Value), g.Seq))
		}
		final, finalSeq = n, g.Seq
	} else if inBase || len(acked) > 0 {
		return append(out, fmt.Sprintf("absent, but it was %d before the cycle and %d increments were acknowledged (I1: lost)", base, len(acked)))
	}

	prefix := base
	prevX := int64(0)
	for _, a := range acked {
		prefix += a.Delta
		x := a.Result - prefix
		switch {
		case x < prevX:
			out = append(out, fmt.Sprintf("%s returned %d, but base %d plus the acknowledged deltas up to it, plus at least %d of earlier increments, is more (an increment lost)", a, a.Result, prefix, prevX))
		case x > maxX || !sums[x]:
			out = append(out, fmt.Sprintf("%s returned %d: %d more than base %d plus the acknowledged deltas up to it, which no set of unanswered increments (deltas %v) adds up to", a, a.Result, x, base, maybe))
		}
		prevX = max(prevX, x)
	}
	if !present {
		return out
	}
	x := final - prefix
	switch {
	case x < prevX:
		out = append(out, fmt.Sprintf("holds %d@%d, less than base %d plus the %d acknowledged deltas (%d) plus %d seen by them (I1: an acknowledged increment lost)", final, finalSeq, base, len(acked), prefix-base, prevX))
	case x > maxX || !sums[x]:
		out = append(out, fmt.Sprintf("holds %d@%d: %d above base %d plus the acknowledged deltas, which no set of unanswered increments (deltas %v) adds up to (I3: invented or applied twice)", final, finalSeq, x, base, maybe))
	}
	if len(acked) > 0 {
		last := acked[len(acked)-1]
		switch {
		case finalSeq < last.Seq:
			out = append(out, fmt.Sprintf("holds %d@%d, older than %s (I1: lost)", final, finalSeq, last))
		case finalSeq == last.Seq && final != last.Result:
			out = append(out, fmt.Sprintf("holds %d at the sequence number of %s, which returned %d", final, last, last.Result))
		case finalSeq > last.Seq && x == prevX:
			out = append(out, fmt.Sprintf("holds %d@%d, newer than %s, but no unanswered increment is counted after it", final, finalSeq, last))
		}
	} else {
		switch {
		case x == 0 && !inBase:
			out = append(out, fmt.Sprintf("holds %d@%d, but no increment of it may have been applied (invented)", final, finalSeq))
		case x == 0 && finalSeq != b.Seq:
			out = append(out, fmt.Sprintf("holds the base value %d at sequence number %d, but it was written at %d", final, finalSeq, b.Seq))
		case x > 0 && finalSeq <= c.baseSeq:
			out = append(out, fmt.Sprintf("holds %d@%d, changed by this cycle's increments at a sequence number not above %d", final, finalSeq, c.baseSeq))
		}
	}
	return out
}

// subsetSums returns which totals some subset of ds adds up to (ds > 0).
func subsetSums(ds []int64) []bool {
	total := int64(0)
	for _, d := range ds {
		total += max(d, 0)
	}
	can := make([]bool, total+1)
	can[0] = true
	for _, d := range ds {
		if d <= 0 {
			continue
		}
		for s := total; s >= d; s-- {
			if can[s-d] {
				can[s] = true
			}
		}
	}
	return can
}

// short abbreviates a value for messages: the unique part before the
// padding.
func short(v string) string {
	if i := strings.IndexByte(v, '~'); i >= 0 {
		return strconv.Quote(v[:i]) + fmt.Sprintf("(%dB)", len(v))
	}
	return strconv.Quote(v)
}
