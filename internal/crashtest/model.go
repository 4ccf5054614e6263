package crashtest

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The model is what the checker knows: for every dataspace, per key, the
// value at the last baseline and the ordered list of writes issued since,
// each with its outcome. Rounds touch disjoint keys, so the writes of one
// key are totally ordered by round, and the set of final values a correct
// engine may show is a suffix of that list starting at the key's floor.
//
// The floor is the oldest write whose effect must still be visible:
//   - I1: a write acknowledged under sync=always raises it;
//   - I2: a read under sync=always raises it to the write it observed;
//   - I7: a barrier (a reopen, which recovers from the device and syncs)
//     resets the baseline for either policy.
//
// Pure: nothing here touches the engine, so the checker's rules are
// tested on hand-built histories (model_test.go).

// status is a write's outcome as the client saw it.
type status uint8

const (
	stAcked   status = iota + 1 // nil error: acknowledged
	stFailed                    // a definite error: must never become visible (I3)
	stUnknown                   // ErrOutcomeUnknown, or the process died first
)

func (s status) String() string {
	switch s {
	case stAcked:
		return "acked"
	case stFailed:
		return "failed"
	case stUnknown:
		return "unknown"
	}
	return "pending"
}

// version is a key's state: absent, or a value with the sequence number
// of the write that made it.
type version struct {
	found bool
	value []byte
	seq   uint64
}

func (v version) String() string {
	if !v.found {
		return "absent"
	}
	return fmt.Sprintf("%s@%d", short(v.value), v.seq)
}

func short(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '~'); i >= 0 {
		s = s[:i] + fmt.Sprintf("~(%dB)", len(b))
	}
	return strconv.Quote(s)
}

// write is one key's part of a client write.
type write struct {
	op    *opRec
	del   bool
	value []byte
}

func (w *write) status() status { return w.op.status }

// possible reports whether the write may have been applied.
func (w *write) possible() bool { return w.op.status == stAcked || w.op.status == stUnknown }

// matches reports whether the observed version is this write's effect.
func (w *write) matches(v version) bool {
	if w.del {
		return !v.found
	}
	if !v.found || !bytes.Equal(v.value, w.value) {
		return false
	}
	// An acknowledged write's seq is known; a retry deduplicated to it
	// would show the same seq, a second application a new one.
	return w.op.status != stAcked || w.op.seq == v.seq
}

// keyModel is one key's history since the last baseline.
type keyModel struct {
	base   version
	writes []*write
	// floor: the final value must come from writes[floor:] (-1 admits
	// the base). floorWhy says which invariant raised it.
	floor    int
	floorWhy string
	// written holds every value ever written to the key (I4).
	written map[string]bool
}

func newKeyModel() *keyModel { return &keyModel{floor: -1, written: make(map[string]bool)} }

// candidate i is the base for i == -1, else writes[i].
func (k *keyModel) candMatches(i int, v version) bool {
	if i < 0 {
		if !k.base.found {
			return !v.found
		}
		return v.found && bytes.Equal(v.value, k.base.value) && v.seq == k.base.seq
	}
	return k.writes[i].matches(v)
}

func (k *keyModel) candPossible(i int) bool { return i < 0 || k.writes[i].possible() }

// lastAcked returns the index of the newest acknowledged write, or -1.
func (k *keyModel) lastAcked() int {
	for i := len(k.writes) - 1; i >= 0; i-- {
		if k.writes[i].status() == stAcked {
			return i
		}
	}
	return -1
}

// current returns the key's state as far as the client knows it, and
// whether it is certain (no write of unknown outcome after it).
func (k *keyModel) current() (version, bool) {
	i := k.lastAcked()
	certain := true
	for j := i + 1; j < len(k.writes); j++ {
		if k.writes[j].status() == stUnknown {
			certain = false
		}
	}
	if i < 0 {
		return k.base, certain
	}
	w := k.writes[i]
	if w.del {
		return version{}, certain
	}
	return version{found: true, value: w.value, seq: w.op.seq}, certain
}

// matchSet returns the indices >= from (and >= -1) that are possible and
// match v.
func (k *keyModel) matchSet(from int, v version) []int {
	var out []int
	for i := max(from, -1); i < len(k.writes); i++ {
		if k.candPossible(i) && k.candMatches(i, v) {
			out = append(out, i)
		}
	}
	return out
}

func (k *keyModel) raiseFloor(i int, why string) {
	if i > k.floor {
		k.floor, k.floorWhy = i, why
	}
}

// explain says why v is not an acceptable value for the key: the
// invariant it breaks, and what was expected.
func (k *keyModel) explain(key string, v version, when string) string {
	want := k.acceptable()
	if v.found && !k.written[string(v.value)] && !(k.base.found && bytes.Equal(v.value, k.base.value)) {
		return fmt.Sprintf("I4: %s key %q holds %s, a value never written to it (acceptable: %s)", when, key, v, want)
	}
	for i := len(k.writes) - 1; i >= 0; i-- {
		w := k.writes[i]
		if w.status() == stFailed && w.matches(v) && v.found {
			return fmt.Sprintf("I3: %s key %q shows %s, written by %s which failed with a definite error (acceptable: %s)", when, key, v, w.op, want)
		}
	}
	for i := len(k.writes) - 1; i >= 0; i-- {
		w := k.writes[i]
		if i >= k.floor && w.possible() && v.found && !w.del && bytes.Equal(v.value, w.value) {
			return fmt.Sprintf("I3: %s key %q shows %s with seq %d: %s was acknowledged with seq %d (applied twice?) (acceptable: %s)", when, key, v, v.seq, w.op, w.op.seq, want)
		}
	}
	why := k.floorWhy
	if why == "" {
		why = "I1"
	}
	return fmt.Sprintf("%s: %s key %q shows %s, older than what must survive (acceptable: %s)", why, when, key, v, want)
}

// acceptable renders the acceptable final versions.
func (k *keyModel) acceptable() string {
	var parts []string
	for i := max(k.floor, -1); i < len(k.writes); i++ {
		if !k.candPossible(i) {
			continue
		}
		if i < 0 {
			parts = append(parts, "base "+k.base.String())
			continue
		}
		w := k.writes[i]
		s := fmt.Sprintf("op%d", w.op.id)
		if w.del {
			s += " absent"
		} else {
			s += " " + short(w.value)
		}
		if w.status() == stAcked {
			s += fmt.Sprintf("@%d", w.op.seq)
		} else {
			s += "@" + w.status().String()
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " | ")
}

// existence of a dataspace as the client knows it.
type existence uint8

const (
	exNo existence = iota
	exYes
	exMaybe // a create or drop whose outcome is unknown
)

// spaceModel is one dataspace's history.
type spaceModel struct {
	name string
	// strict: apply the sync=always rules (I1, I2). Off for
	// sync=interval, on for AckBeforeSync's interval dataspaces.
	strict   bool
	interval bool
	exist    existence
	// created: the create was issued in this run (exNo before).
	keys map[string]*keyModel
	// stopped: an operation reported fail-stop or an unknown outcome;
	// every later operation must fail until a reopen (I5).
	stopped bool
	// reportedStop: a wrong stop error was reported for this stop.
	reportedStop bool
	// weak: a sync of this dataspace's log was failed under a profile
	// that reports the failure late (ext4 data=journal), so writes
	// acknowledged from then on are not required to survive.
	weak bool
	// lied: such a sync happened at some point; the log may then hold a
	// hole the file system never reported, and ErrCorrupt is the honest
	// answer after a crash.
	lied bool
	// reqs are writes carrying a request id, for retries.
	reqs []*opRec
	// baseSeq is the last sequence number at the baseline.
	baseSeq uint64
	// damaged: a bit was flipped in this dataspace's log before the
	// reopen; ErrCorrupt is then an acceptable answer.
	damaged string
}

func newSpaceModel(name string, strict, interval bool) *spaceModel {
	return &spaceModel{name: name, strict: strict, interval: interval, keys: make(map[string]*keyModel)}
}

func (s *spaceModel) key(k string) *keyModel {
	km, ok := s.keys[k]
	if !ok {
		km = newKeyModel()
		s.keys[k] = km
	}
	return km
}

func (s *spaceModel) sortedKeys() []string {
	ks := make([]string, 0, len(s.keys))
	for k := range s.keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// addWrite records a write's effects on its keys (before its outcome is
// known: the op's status is filled in later by settle).
func (s *spaceModel) addWrite(o *opRec) {
	for _, e := range o.effects {
		km := s.key(e.key)
		km.writes = append(km.writes, &write{op: o, del: e.del, value: e.value})
		if !e.del {
			km.written[string(e.value)] = true
		}
		e.index = len(km.writes) - 1
	}
	if o.reqID != "" {
		s.reqs = append(s.reqs, o)
	}
}

// settle applies the floor rules once a write's outcome is known.
func (s *spaceModel) settle(o *opRec) {
	if o.status != stAcked || !s.strict || s.weak {
		return
	}
	for _, e := range o.effects {
		s.key(e.key).raiseFloor(e.index, "I1")
	}
}

// observe checks a read made while the dataspace served: it must return
// the client's current state, or a write of unknown outcome after it.
// Under the strict rules the observed write becomes the floor (I2).
func (s *spaceModel) observe(key string, v version) string {
	km := s.key(key)
	from := km.lastAcked()
	if km.floor > from {
		from = km.floor
	}
	m := km.matchSet(from, v)
	if len(m) == 0 {
		return km.explain(key, v, "a read of")
	}
	if s.strict && !s.weak {
		km.raiseFloor(m[0], "I2")
	}
	return ""
}

// recovered is what a reopened or restarted dataspace shows.
type recovered struct {
	values  map[string]version
	lastSeq uint64
}

// keyResult is the checker's verdict on one key.
type keyResult struct {
	matches []int
}

// check compares a recovered dataspace with the model. It returns the
// violations and, per key, the indices of the writes the recovered value
// may be (for rebaseline and retries).
func (s *spaceModel) check(r recovered, when string) ([]string, map[string][]int) {
	var out []string
	res := make(map[string][]int)
	for k, v := range r.values {
		if _, ok := s.keys[k]; !ok && v.found {
			out = append(out, fmt.Sprintf("I4: %s dataspace %q holds key %q = %s, a key never written", when, s.name, k, v))
		}
	}
	for _, k := range s.sortedKeys() {
		km := s.keys[k]
		v := r.values[k]
		m := km.matchSet(km.floor, v)
		if len(m) == 0 {
			out = append(out, fmt.Sprintf("dataspace %q: %s", s.name, km.explain(k, v, when)))
			continue
		}
		res[k] = m
	}
	// Atomicity (I3): a batch of unknown outcome is applied on all its
	// keys or on none.
	seen := make(map[*opRec]bool)
	for _, k := range s.sortedKeys() {
		for _, w := range s.keys[k].writes {
			o := w.op
			if seen[o] || len(o.effects) < 2 || !w.possible() {
				continue
			}
			seen[o] = true
			all, none := true, true
			for _, e := range o.effects {
				m, ok := res[e.key]
				if !ok {
					// Already reported for that key.
					all, none = true, true
					break
				}
				if m[len(m)-1] < e.index {
					all = false
				}
				if m[0] >= e.index {
					none = false
				}
			}
			if !all && !none {
				out = append(out, fmt.Sprintf("I3: %s dataspace %q: batch %s is applied on some keys only", when, s.name, o))
			}
		}
	}
	// The log is a prefix: an acknowledged write whose seq is at or below
	// the recovered last seq cannot be missing (a hole).
	seen = make(map[*opRec]bool)
	for _, k := range s.sortedKeys() {
		for _, w := range s.keys[k].writes {
			o := w.op
			if seen[o] || o.status != stAcked || o.seq == 0 || o.seq > r.lastSeq || o.dup {
				continue
			}
			seen[o] = true
			for _, e := range o.effects {
				m, ok := res[e.key]
				if ok && m[len(m)-1] < e.index {
					out = append(out, fmt.Sprintf("I1/I7: %s dataspace %q: %s (seq %d) is lost although the log recovered up to seq %d", when, s.name, o, o.seq, r.lastSeq))
					break
				}
			}
		}
	}
	return out, res
}

// rebaseline makes a checked recovered state the new base: everything a
// reopen recovered is durable (it synced before serving, I2), so the
// floor is the base for both policies. Writes of a retriable op are
// resolved: applied or not, when the recovered state says so clearly.
func (s *spaceModel) rebaseline(r recovered, res map[string][]int) {
	for _, o := range s.reqs {
		o.resolved = resolveOp(o, s, r, res)
	}
	keys := s.sortedKeys()
	for k := range r.values {
		if _, ok := s.keys[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		km := s.key(k)
		km.base = r.values[k]
		km.writes = nil
		km.floor, km.floorWhy = -1, "I2"
	}
	s.baseSeq = r.lastSeq
	s.stopped = false
	s.reportedStop = false
	s.weak = false
	s.damaged = ""
}

// resolution of a retriable op at a rebaseline.
type resolution uint8

const (
	resNone       resolution = iota // not resolved (no rebaseline yet)
	resApplied                      // applied: a retry must be deduplicated
	resNotApplied                   // not applied: a retry applies it
	resAmbiguous                    // cannot tell: do not retry
)

func resolveOp(o *opRec, s *spaceModel, r recovered, res map[string][]int) resolution {
	if o.resolved != resNone {
		return o.resolved // settled at an earlier baseline, durable since
	}
	if o.status == stFailed {
		return resNotApplied
	}
	if len(o.effects) == 0 {
		return resAmbiguous
	}
	applied, notApplied := true, true
	for _, e := range o.effects {
		m, ok := res[e.key]
		if !ok {
			return resAmbiguous
		}
		if !(len(m) == 1 && m[0] == e.index) {
			applied = false
		}
		if !(len(m) == 1 && m[0] < e.index) {
			notApplied = false
		}
		if m[len(m)-1] > e.index {
			return resAmbiguous // overwritten since: its own seq is gone from view
		}
	}
	switch {
	case applied:
		o.dupSeq = r.values[o.effects[0].key].seq
		if o.effects[0].del {
			return resAmbiguous
		}
		return resApplied
	case notApplied:
		return resNotApplied
	}
	return resAmbiguous
}
