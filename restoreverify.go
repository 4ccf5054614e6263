package holdfast

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/holdfast-db/holdfast/vfs"
)

// RestoreStatus is the result of the restore verification Open runs when
// a quiesce left snapshot.json files: whether every dataspace holds at
// least what they record.
type RestoreStatus struct {
	// Checked: snapshot.json files were found and verified.
	Checked bool `json:"checked"`
	// OK: every check passed. Meaningful only when Checked.
	OK        bool      `json:"ok"`
	QuiesceID string    `json:"quiesce_id,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	// Problems say what is wrong and what to do; Notes are informational
	// (a dataspace written since the snapshot, files compaction removed).
	Problems []string `json:"problems"`
	Notes    []string `json:"notes"`
}

// RestoreStatus returns the result of the restore verification at open.
func (db *DB) RestoreStatus() RestoreStatus {
	q := &db.quiesce
	q.restoreMu.Lock()
	defer q.restoreMu.Unlock()
	rs := q.restore
	rs.Problems = slices.Clone(rs.Problems)
	rs.Notes = slices.Clone(rs.Notes)
	return rs
}

// verifyRestore runs at the end of Open. It never fails the open: the
// data that is there is served, and the status (log, RestoreStatus,
// Ready) says what does not match.
func (db *DB) verifyRestore() {
	db.removeRootOrphans()
	rs := verifySnapshots(db.fsys, db.dir, func(name string) (snapshotState, error) {
		db.mu.Lock()
		ds, ok := db.spaces[name]
		db.mu.Unlock()
		if !ok {
			return snapshotState{}, fmt.Errorf("%w: %q", ErrNoDataspace, name)
		}
		if err := ds.err(); err != nil {
			return snapshotState{}, err
		}
		return snapshotState{dir: ds.dir, lastSeq: ds.LastSeq(), content: func() (int, int64, string, error) {
			ds.mu.Lock() // Copy marks the tree shared: one copier at a time
			idx := ds.index.Copy()
			ds.mu.Unlock()
			return ds.content(context.Background(), idx)
		}}, nil
	})
	db.quiesce.restoreMu.Lock()
	db.quiesce.restore = rs
	db.quiesce.restoreMu.Unlock()
	switch {
	case !rs.Checked:
	case rs.OK:
		db.log.Info("restore verification passed: every dataspace holds at least what snapshot.json records",
			"quiesce_id", rs.QuiesceID, "snapshot_time", rs.Time, "notes", rs.Notes)
	default:
		for _, p := range rs.Problems {
			db.log.Error("restore verification failed", "quiesce_id", rs.QuiesceID, "problem", p)
		}
	}
}

// removeRootOrphans removes temporary files an interrupted write of the
// root snapshot.json left.
func (db *DB) removeRootOrphans() {
	names, err := db.fsys.List(db.dir)
	if err != nil {
		return
	}
	removed := false
	for _, n := range names {
		if vfs.IsTempFile(n) {
			if err := db.fsys.Remove(path.Join(db.dir, n)); err == nil {
				removed = true
			}
		}
	}
	if removed {
		if err := vfs.SyncDir(db.fsys, db.dir); err != nil {
			db.log.Warn("sync after removing temporary files", "dir", db.dir, "err", err)
		}
	}
}

// verifySnapshots checks every snapshot.json under dir against what state
// reports of each dataspace. Open and Check share it.
func verifySnapshots(fsys vfs.FS, dir string, state func(name string) (snapshotState, error)) RestoreStatus {
	var rs RestoreStatus
	const todo = "restore the volume from a snapshot taken after quiesce returned, or run holdfast check for details"
	rootName := path.Join(dir, snapshotFileName)
	root, haveRoot, err := readSnapshotMeta(fsys, rootName)
	if haveRoot {
		rs.Checked = true
	}
	if err != nil {
		rs.Checked = true
		rs.Problems = append(rs.Problems, fmt.Sprintf("%v; %s", err, todo))
		haveRoot = false
	}
	if haveRoot && root.Kind != "root" {
		rs.Problems = append(rs.Problems, fmt.Sprintf("%s: holds a dataspace's snapshot.json, not the root one; %s", rootName, todo))
		haveRoot = false
	}
	type claim struct {
		rec  SnapshotDataspace
		file string
	}
	var claims []claim
	recorded := map[string]bool{}
	if haveRoot {
		rs.QuiesceID, rs.Time = root.QuiesceID, root.Time
		for _, rec := range root.Dataspaces {
			if ValidName(rec.Name) != nil || recorded[rec.Name] {
				rs.Problems = append(rs.Problems, fmt.Sprintf("%s: invalid or repeated dataspace name %q", rootName, rec.Name))
				continue
			}
			recorded[rec.Name] = true
			claims = append(claims, claim{rec, rootName})
		}
	}
	// Each dataspace's own snapshot.json: it must agree with the root
	// one; without a root (a quiesce that did not finish) it is checked
	// on its own.
	names, _ := fsys.List(path.Join(dir, spacesDirName))
	for _, name := range names {
		if ValidName(name) != nil {
			continue
		}
		file := path.Join(dir, spacesDirName, name, snapshotFileName)
		m, ok, err := readSnapshotMeta(fsys, file)
		switch {
		case err != nil:
			rs.Checked = true
			rs.Problems = append(rs.Problems, fmt.Sprintf("%v; %s", err, todo))
			continue
		case !ok:
			if recorded[name] {
				rs.Problems = append(rs.Problems, fmt.Sprintf("%s: missing, but %s records dataspace %q; %s", file, rootName, name, todo))
			}
			continue
		}
		rs.Checked = true
		if m.Kind != "dataspace" || m.Dataspaces[0].Name != name {
			rs.Problems = append(rs.Problems, fmt.Sprintf("%s: describes %s %q, not dataspace %q; %s", file, m.Kind, m.Dataspaces[0].Name, name, todo))
			continue
		}
		if haveRoot && m.QuiesceID == root.QuiesceID {
			i := slices.IndexFunc(claims, func(c claim) bool { return c.rec.Name == name })
			if i < 0 || !sameRecord(claims[i].rec, m.Dataspaces[0]) {
				rs.Problems = append(rs.Problems, fmt.Sprintf("%s: disagrees with %s for quiesce %s; %s", file, rootName, m.QuiesceID, todo))
			}
			continue
		}
		if haveRoot {
			rs.Notes = append(rs.Notes, fmt.Sprintf("%s: from quiesce %s, not the root's %s (a quiesce that did not finish); checked on its own", file, m.QuiesceID, root.QuiesceID))
		}
		if rs.QuiesceID == "" {
			rs.QuiesceID, rs.Time = m.QuiesceID, m.Time
		}
		claims = append(claims, claim{m.Dataspaces[0], file})
	}
	for _, c := range claims {
		st, err := state(c.rec.Name)
		if err != nil {
			rs.Problems = append(rs.Problems, fmt.Sprintf("dataspace %q recorded in %s: %v; %s", c.rec.Name, c.file, err, todo))
			continue
		}
		p, n := compareSnapshot(fsys, c.rec, st)
		rs.Problems = append(rs.Problems, p...)
		rs.Notes = append(rs.Notes, n...)
	}
	rs.OK = rs.Checked && len(rs.Problems) == 0
	return rs
}

func sameRecord(a, b SnapshotDataspace) bool {
	return a.Name == b.Name && a.LastSeq == b.LastSeq && a.Keys == b.Keys && a.Bytes == b.Bytes &&
		a.ContentHash == b.ContentHash && slices.Equal(a.Files, b.Files)
}
