package crashtest

import (
	"context"
	"errors"
	"time"

	"github.com/holdfast-db/holdfast"
)

// Quiesce and resume in the workload (issue 5). While quiesced, writes
// must fail with ErrQuiesced and change nothing (I3), reads go on, and
// once Quiesce has answered every acknowledged write, under either sync
// policy, is durable, and so is snapshot.json (I6): any later crash
// state must hold the root snapshot.json of that quiesce, and restore
// verification at open must pass. A crash in the middle of a quiesce may
// leave some snapshot.json files or none, but never an empty or
// half-written one, and whatever is there must verify.

// quiesceModel is what the workload knows about quiesces.
type quiesceModel struct {
	// active is the id of an acknowledged quiesce not yet resumed; writes
	// must fail while it is set.
	active string
	// mustFind: a crash state must hold this quiesce's snapshot.json.
	mustFind string
	// lastID is the id the last quiesce call returned (kept off the op,
	// whose text must not vary between runs of one seed).
	lastID string
	// lenient: a quiesce or resume failed on an I/O error, so a stale
	// snapshot.json may be left over; a state may then fail restore
	// verification for a dataspace dropped since.
	lenient bool
}

// quiesceAutoResume is far beyond any run's length: the workload resumes.
const quiesceAutoResume = 10 * time.Minute

// genQuiesce picks a quiesce or a resume for an admin round, or nil.
func (r *runner) genQuiesce() *opRec {
	if r.quiesce.active != "" {
		return r.newOp(kResume, "")
	}
	if r.rng.IntN(100) < 20 {
		return r.newOp(kQuiesce, "")
	}
	return nil
}

// resumeBeforeAdmin resumes an active quiesce before a round that needs
// the database writable (reopening stopped dataspaces).
func (r *runner) resumeBeforeAdmin() {
	if r.quiesce.active != "" && !r.crashed {
		r.execRound([]*opRec{r.newOp(kResume, "")})
	}
}

func (r *runner) execQuiesce(o *opRec) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch o.kind {
	case kQuiesce:
		info, err := r.db.Quiesce(ctx, holdfast.QuiesceOptions{AutoResumeAfter: quiesceAutoResume})
		o.err, r.quiesce.lastID = err, info.ID
	case kResume:
		o.err = r.db.Resume(r.quiesce.active)
	}
}

func (r *runner) judgeQuiesce(o *opRec) {
	q := &r.quiesce
	switch o.kind {
	case kQuiesce:
		if o.down {
			return // the answer never reached anyone; nothing is promised
		}
		if o.err != nil {
			q.lenient = true
			r.markStoppedSpaces()
			return
		}
		if q.active != "" && q.lastID != q.active {
			r.violate("quiesce: %s: a second quiesce while quiesced returned a new id %s (active %s)", o, q.lastID, q.active)
		}
		q.active, q.mustFind = q.lastID, q.lastID
		// Everything acknowledged is now durable, interval policy
		// included: raise every key's floor to its last acknowledged
		// write, as a clean stop does.
		for _, name := range r.order {
			sp := r.spaces[name]
			if sp.exist != exYes || sp.stopped || sp.weak {
				continue
			}
			for _, k := range sp.sortedKeys() {
				km := sp.keys[k]
				if i := km.lastAcked(); i >= 0 {
					km.raiseFloor(i, "quiesce")
				}
			}
		}
	case kResume:
		// Resume may have removed snapshot.json, even if its answer was
		// lost in a crash.
		q.mustFind = ""
		if o.down {
			return
		}
		if o.err != nil {
			q.lenient = true
		}
		q.active = ""
	}
}

// judgeQuiescedWrite checks a write against the quiesce state; it returns
// true when the write was refused for the quiesce (and so is judged).
func (r *runner) judgeQuiescedWrite(o *opRec) bool {
	quiesced := errors.Is(o.err, holdfast.ErrQuiesced)
	switch {
	case o.down:
		return quiesced
	case r.quiesce.active != "" && o.err == nil:
		r.violate("I3: %s: a write was applied while quiesced (%s)", o, r.quiesce.active)
	case r.quiesce.active == "" && quiesced:
		r.violate("quiesce: %s: a write failed with ErrQuiesced while not quiesced", o)
	}
	return quiesced
}

// checkSnapshotMeta checks the restore verification of a restarted
// database against the quiesce model.
func (r *runner) checkSnapshotMeta(db *holdfast.DB, when string) {
	rs := db.RestoreStatus()
	q := &r.quiesce
	if q.mustFind != "" && (!rs.Checked || rs.QuiesceID != q.mustFind) {
		r.violate("I6: %s: quiesce %s was acknowledged and not resumed, but restore verification found %+v", when, q.mustFind, rs)
		return
	}
	// A log damaged on purpose (injectDamage) stops its dataspace with
	// ErrCorrupt, which checkRestart judges; verification against it
	// then rightly fails.
	if rs.Checked && !rs.OK && !q.lenient && r.damage == nil {
		r.violate("I6: %s: restore verification against snapshot.json failed: %v", when, rs.Problems)
	}
}

func (k opKind) isQuiesce() bool { return k == kQuiesce || k == kResume }

// markStoppedSpaces records as stopped every dataspace that a failed
// quiesce fail-stopped: the quiesce's error told the client (its sync of
// that log failed), so what that log had not synced is no longer promised
// (I7's window), exactly as when a write reports the stop.
func (r *runner) markStoppedSpaces() {
	for name, ds := range r.handles {
		if sp := r.spaces[name]; sp != nil && ds != nil && errors.Is(ds.Err(), holdfast.ErrFailStop) {
			sp.stopped = true
		}
	}
}
