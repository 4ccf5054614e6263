package faultfs

// OpRecord is one entry of the operation log.
type OpRecord struct {
	// Seq numbers operations from 1 in the order the FS ran them.
	Seq uint64
	Op  Op
	// Err is the error the operation returned ("" for success).
	Err string
}

func (r OpRecord) String() string {
	s := r.Op.String()
	if r.Err != "" {
		s += ": " + r.Err
	}
	return s
}

// opLog keeps the last limit records in a ring.
type opLog struct {
	limit   int
	seq     uint64
	records []OpRecord
	next    int
}

func (l *opLog) add(op Op, err error) {
	l.seq++
	if l.limit <= 0 {
		return
	}
	r := OpRecord{Seq: l.seq, Op: op}
	if err != nil {
		r.Err = err.Error()
	}
	if len(l.records) < l.limit {
		l.records = append(l.records, r)
		return
	}
	l.records[l.next] = r
	l.next = (l.next + 1) % l.limit
}

func (l *opLog) snapshot() []OpRecord {
	out := make([]OpRecord, 0, len(l.records))
	out = append(out, l.records[l.next:]...)
	return append(out, l.records[:l.next]...)
}

// OpLog returns the logged operations, oldest first (Options.OpLogLimit
// of them at most). With the FS seed and injector seeds, it is what is
// needed to replay a failure.
func (fsys *FS) OpLog() []OpRecord {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.oplog.snapshot()
}

// OpCount is the number of operations run so far, logged or not.
func (fsys *FS) OpCount() uint64 {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.oplog.seq
}
