package crashtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// crashAndCheck ends the run with a power cut (unless the injected fault
// already caused one), kills the old process's database, restarts the file
// system, optionally damages a log, and checks what a new process opens.
func (r *runner) crashAndCheck() {
	if !r.fsys.Down() {
		// Crash through the injector so that the FS's own CrashOptions
		// apply, as they do for an injected crash.
		r.fsys.SetInjector(faultfs.InjectorFunc(func(faultfs.Op) error { return faultfs.ErrCrashBefore }))
		r.fsys.Stat("/")
	}
	if r.db != nil {
		// The process died: every call fails with ErrCrashed, nothing
		// it does now reaches the restarted file system.
		r.db.Close()
	}
	r.fsys.SetInjector(nil)
	r.fsys.Restart()
	if r.plan.damage {
		r.injectDamage()
	}
	before := len(r.violations)
	r.checkRestart(r.efs)
	r.states++
	r.tagNew(before, "after crash")
}

// checkClone checks the crash state of this instant without stopping the
// run.
func (r *runner) checkClone(rd int) {
	clone, err := r.fsys.CrashClone(r.plan.crash)
	if err != nil {
		r.violate("crashtest: CrashClone: %v", err)
		return
	}
	var efs vfs.FS = clone
	if r.plan.defects.needsWrapper() {
		var none *damageSpec
		efs = newDefectFS(clone, r.plan.defects, &none)
	}
	before := len(r.violations)
	r.checkRestart(efs)
	r.states++
	r.tagNew(before, fmt.Sprintf("crash clone before round %d", rd))
}

// damageSpec is a bit flipped in a log segment's durable bytes.
type damageSpec struct {
	path   string
	offset int64
}

// injectDamage flips one bit of a written sector of one log segment of
// one dataspace (I4: it must be detected, never served or dropped).
func (r *runner) injectDamage() {
	var segs []string
	for _, name := range r.order {
		if r.spaces[name].exist != exYes {
			continue
		}
		dir := path.Join(dbDir, "dataspaces", name, "wal")
		names, err := r.fsys.List(dir)
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".seg") {
				segs = append(segs, path.Join(dir, n))
			}
		}
	}
	r.rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
	for _, p := range segs {
		data, err := r.fsys.DurableContent(p)
		if err != nil {
			continue
		}
		// Damage only what was written past the header block: the
		// records, where acknowledged data lives.
		end := int64(len(bytes.TrimRight(data, "\x00")))
		const header = 4096
		if end <= header {
			continue
		}
		off := header + r.rng.Int64N(end-header)
		if err := r.fsys.FlipBit(p, off, uint(r.rng.IntN(8))); err != nil {
			continue
		}
		name, _ := spaceOf(p)
		r.spaces[name].damaged = p
		r.damage = &damageSpec{path: p, offset: off}
		return
	}
}

// checkRestart opens the data directory as a new process would and
// compares every dataspace with the model.
func (r *runner) checkRestart(efs vfs.FS) {
	db, err := holdfast.Open(dbDir, r.dbOptions(efs))
	if err != nil {
		r.violate("I4/I5: Open after restart failed: %v", err)
		return
	}
	defer db.Close()
	names := db.Dataspaces()
	for _, name := range r.order {
		sp := r.spaces[name]
		present := slices.Contains(names, name)
		switch {
		case sp.exist == exYes && !present:
			r.violate("I1: dataspace %q was created (acknowledged) and not dropped, but is missing", name)
		case sp.exist == exNo && present:
			r.violate("I3: dataspace %q is present, but its create failed or its drop was acknowledged", name)
		}
		if !present {
			continue
		}
		ds, err := db.Dataspace(name)
		if err != nil {
			r.violate("dataspace %q listed but not returned: %v", name, err)
			continue
		}
		if err := ds.Err(); err != nil {
			r.judgeStopped(sp, err, "open")
			continue
		}
		values, lastSeq, err := scanAll(ds)
		if err != nil {
			r.judgeStopped(sp, err, "scan")
			continue
		}
		for _, k := range sp.sortedKeys() {
			v, err := ds.Get(context.Background(), []byte(k))
			got := version{found: err == nil, value: v.Data, seq: v.Seq}
			if err != nil && !errors.Is(err, holdfast.ErrNotFound) {
				r.judgeStopped(sp, err, "get "+k)
				continue
			}
			if want := values[k]; got.found != want.found || !bytes.Equal(got.value, want.value) || got.seq != want.seq {
				r.violate("dataspace %q key %q: Get returns %s but Scan %s", name, k, got, want)
			}
		}
		v, _ := sp.check(recovered{values: values, lastSeq: lastSeq}, "after restart")
		r.violations = append(r.violations, v...)
	}
	for _, name := range names {
		if r.spaces[name] == nil {
			r.violate("I4: dataspace %q appeared without ever being created", name)
		}
	}
	r.checkSnapshotMeta(db, "restart") // quiesce.go
}

// judgeStopped decides whether a dataspace may refuse to serve after a
// restart: only when its log was damaged on purpose, and then the error
// must be ErrCorrupt and name the damaged file (I4).
func (r *runner) judgeStopped(sp *spaceModel, err error, what string) {
	if sp.damaged != "" && errors.Is(err, holdfast.ErrCorrupt) {
		// The damage may show as a gap before a later segment, so any
		// segment of the log will do, but the error must name one and
		// an offset.
		if msg := err.Error(); !strings.Contains(msg, path.Dir(sp.damaged)+"/") || !strings.Contains(msg, ".seg") || !strings.Contains(msg, "offset") {
			r.violate("I4: dataspace %q: corruption error does not name a log file and offset (damaged %s): %v", sp.name, path.Base(sp.damaged), err)
		}
		return
	}
	if sp.lied && errors.Is(err, holdfast.ErrCorrupt) {
		return // the file system lost synced data without saying so
	}
	if errors.Is(err, holdfast.ErrCorrupt) {
		r.violate("I4: dataspace %q reports corruption after a crash that damaged nothing (%s): %v", sp.name, what, err)
		return
	}
	r.violate("dataspace %q does not serve after restart (%s): %v", sp.name, what, err)
}
