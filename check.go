package holdfast

import (
	"errors"
	"fmt"
	"path"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/holdfast-db/holdfast/internal/wal"
	"github.com/holdfast-db/holdfast/vfs"
)

// Check verifies a data directory offline, without changing it: it opens
// no file for writing, takes no lock, cuts no torn tail and syncs nothing
// (so it is safe on a restored volume, a read-only mount or a copy). For
// every dataspace it reads the manifest, the checkpoint and the whole log
// from the device, replays it, and reports keys, bytes, the last sequence
// number, the content hash, and every problem with its file and offset;
// then it verifies snapshot.json files as Open does.
//
// It never panics on any content of the directory; an error is returned
// only when the directory cannot be read at all. A report whose OK is
// false lists what is wrong.

// CheckOptions configure Check.
type CheckOptions struct {
	// FS is the file system; nil means vfs.Default().
	FS vfs.FS
	// SkipSnapshot skips the snapshot.json verification.
	SkipSnapshot bool
}

// Problem is one thing Check found wrong.
type Problem struct {
	// File is the file the problem is in ("" for the directory).
	File string `json:"file"`
	// Offset is the byte offset in File, or -1 when it does not apply.
	Offset  int64  `json:"offset"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Offset < 0:
		return p.File + ": " + p.Message
	}
	return fmt.Sprintf("%s at offset %d: %s", p.File, p.Offset, p.Message)
}

// DataspaceReport is what Check found in one dataspace.
type DataspaceReport struct {
	Name string `json:"name"`
	// Keys and Bytes (keys and values) of the live keys after replaying
	// the log up to LastSeq.
	Keys        int    `json:"keys"`
	Bytes       int64  `json:"bytes"`
	LastSeq     uint64 `json:"last_seq"`
	ContentHash string `json:"content_hash"`
	Sync        string `json:"sync"`
	// LogBytes is the size of the log's segment files; Segments their
	// number; Records the records replayed.
	LogBytes   int64  `json:"log_bytes"`
	Segments   int    `json:"segments"`
	Records    int    `json:"records"`
	Checkpoint string `json:"checkpoint"`
	// Problems make the report fail; Notes do not (a torn tail an open
	// would cut, a checkpoint an open would ignore).
	Problems []Problem `json:"problems"`
	Notes    []string  `json:"notes"`
}

// Report is the result of Check.
type Report struct {
	Dir        string            `json:"dir"`
	OK         bool              `json:"ok"`
	Dataspaces []DataspaceReport `json:"dataspaces"`
	// Snapshot is the snapshot.json verification (Checked false when
	// there is none).
	Snapshot RestoreStatus `json:"snapshot"`
	Problems []Problem     `json:"problems"`
	Notes    []string      `json:"notes"`
}

// checkInlineMaxBytes: values up to this size are kept in memory during
// the replay; larger ones are read back from the log when hashing.
const checkInlineMaxBytes = 256

// Check verifies the data directory dir; see the comment above.
func Check(dir string, opts CheckOptions) (rep Report, err error) {
	if opts.FS == nil {
		opts.FS = vfs.Default()
	}
	rep = Report{Dir: dir, Dataspaces: []DataspaceReport{}, Problems: []Problem{}, Notes: []string{}}
	defer func() {
		// A panic here is a bug in holdfast, not a property of the data;
		// report it as one rather than crash the operator's shell script.
		if r := recover(); r != nil {
			rep.Problems = append(rep.Problems, Problem{Offset: -1, Message: fmt.Sprintf("internal error in holdfast check (please report): %v\n%s", r, debug.Stack())})
			rep.OK, err = false, nil
		}
	}()
	fsys := opts.FS
	fi, err := fsys.Stat(dir)
	if err != nil {
		return rep, fmt.Errorf("holdfast: check %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return rep, fmt.Errorf("holdfast: check %s: not a directory", dir)
	}
	if fsys == vfs.Default() && lockHeld(dir) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s: a running process (a server) holds this directory's lock: it may change files while check reads them, so a problem found may be a moving target; check a copy, a snapshot, or a stopped server's directory", dir))
	}
	spaces := path.Join(dir, spacesDirName)
	names, err := fsys.List(spaces)
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{File: spaces, Offset: -1, Message: fmt.Sprintf("cannot list dataspaces: %v; is this a holdfast data directory?", err)})
		rep.OK = false
		return rep, nil
	}
	states := map[string]snapshotState{}
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, tmpDirPrefix) || strings.HasPrefix(name, dropDirPrefix):
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: left by an interrupted dataspace create or drop; an open removes it", path.Join(spaces, name)))
			continue
		case ValidName(name) != nil:
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: not a dataspace name; ignored", path.Join(spaces, name)))
			continue
		}
		dr, st := checkDataspace(fsys, path.Join(spaces, name), name)
		rep.Dataspaces = append(rep.Dataspaces, dr)
		if st != nil {
			states[name] = *st
		}
	}
	if !opts.SkipSnapshot {
		rep.Snapshot = verifySnapshots(fsys, dir, func(name string) (snapshotState, error) {
			st, ok := states[name]
			if !ok {
				if slices.ContainsFunc(rep.Dataspaces, func(d DataspaceReport) bool { return d.Name == name }) {
					return st, errors.New("the dataspace has problems (see above)")
				}
				return st, fmt.Errorf("%w: %q", ErrNoDataspace, name)
			}
			return st, nil
		})
		for _, p := range rep.Snapshot.Problems {
			rep.Problems = append(rep.Problems, Problem{File: "snapshot.json", Offset: -1, Message: p})
		}
	}
	rep.OK = len(rep.Problems) == 0
	for _, d := range rep.Dataspaces {
		if len(d.Problems) > 0 {
			rep.OK = false
		}
	}
	return rep, nil
}

// checkValue is a live key during the offline replay.
type checkValue struct {
	inline []byte
	pos    wal.RecordPos
	op     int
	size   int
	isInl  bool
}

// checkDataspace checks one dataspace; the state is nil when the log could
// not be read to its end (then the report has problems).
func checkDataspace(fsys vfs.FS, dir, name string) (DataspaceReport, *snapshotState) {
	dr := DataspaceReport{Name: name, Problems: []Problem{}, Notes: []string{}}
	problem := func(file string, off int64, format string, args ...any) {
		dr.Problems = append(dr.Problems, Problem{File: file, Offset: off, Message: fmt.Sprintf(format, args...)})
	}
	mname := path.Join(dir, manifestFileName)
	var m manifest
	if err := vfs.ReadMetaFile(fsys, mname, manifestKind, &m); err != nil {
		problem(mname, -1, "%v", err)
	} else if m.FormatVersion != formatVersion || m.Name != name {
		problem(mname, -1, "format %d name %q, want format %d name %q", m.FormatVersion, m.Name, formatVersion, name)
	} else if _, err := ParseSyncPolicy(m.Sync); err != nil {
		problem(mname, -1, "%v", err)
	} else {
		dr.Sync = m.Sync
	}
	if names, err := fsys.List(dir); err == nil {
		for _, n := range names {
			if vfs.IsTempFile(n) {
				dr.Notes = append(dr.Notes, fmt.Sprintf("%s: temporary file of an interrupted write; an open removes it", path.Join(dir, n)))
			}
		}
	}
	// The checkpoint is an optimisation: damage is a note (an open
	// ignores it and replays the whole log), not a problem.
	cname := path.Join(dir, checkpointFileName)
	switch data, err := vfs.ReadFile(fsys, cname); {
	case err != nil:
		if ok, _ := vfs.Exists(fsys, cname); ok {
			dr.Checkpoint = "unreadable: " + err.Error()
			dr.Notes = append(dr.Notes, fmt.Sprintf("%s: unreadable (%v); an open replays the whole log", cname, err))
		} else {
			dr.Checkpoint = "none"
		}
	default:
		c, _, err := decodeCheckpoint(data, 1<<30)
		if err != nil {
			dr.Checkpoint = "damaged: " + err.Error()
			dr.Notes = append(dr.Notes, fmt.Sprintf("%s: damaged (%v); an open ignores it and replays the whole log", cname, err))
		} else {
			dr.Checkpoint = fmt.Sprintf("ok at sequence number %d (segment %d offset %d)", c.lastSeq, c.pos.Segment, c.pos.Offset)
		}
	}

	walDir := path.Join(dir, walDirName)
	live := map[string]checkValue{}
	var lastSeq uint64
	var replayErr error
	info, err := wal.Scan(fsys, walDir, wal.Options{}, func(rec wal.Record, pos wal.RecordPos) error {
		p, err := decodeRecord(rec.Payload, rec.Seq)
		if err != nil {
			replayErr = &wal.CorruptError{Path: path.Join(walDir, fmt.Sprintf("%016x.seg", pos.Segment)), Offset: pos.GroupOffset, Reason: fmt.Sprintf("record %d: %v", rec.Seq, err)}
			return replayErr
		}
		for i, o := range p.ops {
			if o.kind == opDelete {
				delete(live, string(o.key))
				continue
			}
			v := checkValue{pos: pos, op: i, size: len(o.value)}
			if len(o.value) <= checkInlineMaxBytes {
				v.inline, v.isInl = slices.Clone(o.value), true
			}
			live[string(o.key)] = v
		}
		lastSeq = rec.Seq
		return nil
	})
	for _, s := range info.Segments {
		dr.LogBytes += s.SizeBytes
	}
	dr.Segments, dr.Records, dr.LastSeq = len(info.Segments), info.Records, lastSeq
	for _, o := range info.Orphans {
		dr.Notes = append(dr.Notes, fmt.Sprintf("%s: unfinished segment file; an open removes it", path.Join(walDir, o)))
	}
	if info.TornBytes > 0 {
		dr.Notes = append(dr.Notes, fmt.Sprintf("%s at offset %d: torn tail of %d bytes that was never acknowledged; an open cuts it (keeping a copy in a .broken file)",
			info.TornFile, info.TornAt, info.TornBytes))
	}
	if err != nil {
		var ce *wal.CorruptError
		if errors.As(err, &ce) {
			problem(ce.Path, ce.Offset, "%s; an open stops this dataspace; restore it from a snapshot (acknowledged data may be damaged)", ce.Reason)
		} else {
			problem(walDir, -1, "%v", err)
		}
		return dr, nil
	}

	// The content hash, in key order, reading large values back.
	keys := make([]string, 0, len(live))
	for k := range live {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	reader, err := wal.OpenReader(fsys, walDir, wal.Options{})
	if err != nil {
		problem(walDir, -1, "%v", err)
		return dr, nil
	}
	defer reader.Close()
	h := newContentHasher()
	for _, k := range keys {
		v := live[k]
		value := v.inline
		if !v.isInl {
			rec, err := reader.ReadRecord(v.pos)
			if err != nil {
				var ce *wal.CorruptError
				if errors.As(err, &ce) {
					problem(ce.Path, ce.Offset, "%s", ce.Reason)
				} else {
					problem(walDir, -1, "read key %q: %v", k, err)
				}
				return dr, nil
			}
			p, err := decodeRecord(rec.Payload, rec.Seq)
			if err != nil || v.op >= len(p.ops) || string(p.ops[v.op].key) != k {
				problem(path.Join(walDir, fmt.Sprintf("%016x.seg", v.pos.Segment)), v.pos.GroupOffset, "record does not hold key %q on a second read", k)
				return dr, nil
			}
			value = p.ops[v.op].value
		}
		h.Add([]byte(k), value)
	}
	dr.Keys, dr.Bytes, dr.ContentHash = h.Keys(), h.Bytes(), h.Sum()
	st := &snapshotState{dir: dir, lastSeq: lastSeq, content: func() (int, int64, string, error) {
		return dr.Keys, dr.Bytes, dr.ContentHash, nil
	}}
	if len(dr.Problems) > 0 {
		return dr, nil
	}
	return dr, st
}
