package crashtest

import (
	"fmt"
	"strings"
)

// opKind is what a recorded operation did.
type opKind uint8

const (
	kPut opKind = iota + 1
	kCAS
	kDelete
	kBatch
	kIncr
	kGet
	kScan
	kCreate
	kDrop
	kReopen
	kCompact
	kQuiesce // quiesce.go
	kResume
)

var opKindNames = [...]string{
	kPut: "put", kCAS: "cas", kDelete: "del", kBatch: "batch", kIncr: "incr",
	kGet: "get", kScan: "scan", kCreate: "create", kDrop: "drop", kReopen: "reopen",
	kCompact: "compact", kQuiesce: "quiesce", kResume: "resume",
}

func (k opKind) String() string { return opKindNames[k] }

func (k opKind) isWrite() bool {
	switch k {
	case kPut, kCAS, kDelete, kBatch, kIncr:
		return true
	}
	return false
}

// effect is one key's part of a write: a put of value, or a delete.
type effect struct {
	key   string
	del   bool
	value []byte
	// index of the write in the key's history (set by addWrite).
	index int
}

// opRec is one operation of the workload and what came back: the record
// the checker judges and a failure report replays.
type opRec struct {
	id, round int
	kind      opKind
	space     string
	effects   []*effect // writes
	keys      []string  // reads: the keys a get or scan covers
	reqID     string
	retryOf   *opRec
	// expectDup: a retry of a write known to be applied must return
	// the original's seq (dupSeq) and change nothing.
	expectDup bool
	expectSeq uint64
	// CAS: the expected version, and whether the model says it is
	// certainly right (casRight) or certainly wrong (casWrong).
	expect             uint64
	casRight, casWrong bool
	// incr
	delta, predicted int64
	interval         bool // create: the interval policy

	// What came back.
	status   status
	seq      uint64
	intValue int64
	dup      bool
	err      error
	// down: the file system had crashed when the call returned, so a
	// real client would never have seen the answer.
	down  bool
	reads map[string]version
	// stoppedBefore: the dataspace had reported a fail-stop before the
	// round (I5: the op must fail).
	stoppedBefore bool

	// Set at a rebaseline for retriable writes.
	resolved resolution
	dupSeq   uint64
}

func (o *opRec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "op%d(r%d %s %s", o.id, o.round, o.kind, o.space)
	switch o.kind {
	case kPut, kCAS, kDelete, kIncr, kBatch:
		for _, e := range o.effects {
			if e.del {
				fmt.Fprintf(&b, " -%s", e.key)
			} else {
				fmt.Fprintf(&b, " %s=%s", e.key, short(e.value))
			}
		}
		if o.kind == kCAS {
			fmt.Fprintf(&b, " if@%d", o.expect)
		}
		if o.kind == kIncr {
			fmt.Fprintf(&b, " %+d", o.delta)
		}
	case kGet:
		fmt.Fprintf(&b, " %s", strings.Join(o.keys, ","))
	}
	if o.reqID != "" {
		fmt.Fprintf(&b, " id=%s", o.reqID)
	}
	if o.retryOf != nil {
		fmt.Fprintf(&b, " retry-of=op%d", o.retryOf.id)
	}
	b.WriteString(" -> ")
	switch {
	case o.kind.isWrite() && o.err == nil:
		fmt.Fprintf(&b, "ok seq %d", o.seq)
		if o.dup {
			b.WriteString(" dup")
		}
	case o.err != nil:
		msg := o.err.Error()
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
		fmt.Fprintf(&b, "%s (%s)", o.status, msg)
	case o.kind == kGet:
		for _, k := range o.keys {
			b.WriteString(o.reads[k].String())
		}
	default:
		b.WriteString("ok")
	}
	if o.down {
		b.WriteString(" [after crash]")
	}
	b.WriteString(")")
	return b.String()
}
