package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/snapshot"
)

// GET /v1/snapshot[?dataspace=NAME...] streams a logical snapshot
// (docs/format.md, "Logical snapshot") of the named dataspaces, or of all.
// Each dataspace is a consistent view at one sequence number; the views
// are all taken before the first byte is sent. If anything fails once the
// stream has begun, the connection is cut: the stream then has no trailer,
// and every reader rejects it.
func (s *server) snapshot(w http.ResponseWriter, r *http.Request) error {
	names := r.URL.Query()["dataspace"]
	if len(names) == 0 {
		names = s.db.Dataspaces()
	}
	type opened struct {
		name string
		ds   *holdfast.Dataspace
		view *holdfast.View
	}
	var views []opened
	defer func() {
		for _, v := range views {
			v.view.Close()
		}
	}()
	for _, name := range names {
		ds, err := s.db.Dataspace(name)
		if err != nil {
			return err
		}
		v, err := ds.View(r.Context())
		if err != nil {
			return err
		}
		views = append(views, opened{name, ds, v})
	}
	w.Header().Set("Content-Type", "application/vnd.holdfast.snapshot")
	w.Header().Set("Content-Disposition", `attachment; filename="holdfast.snapshot"`)
	w.WriteHeader(http.StatusOK)
	abort := func(err error) {
		s.log.Warn("snapshot stream aborted; the client gets a stream without a trailer", "err", err)
		panic(http.ErrAbortHandler)
	}
	sw, err := snapshot.NewWriter(w, snapshot.Header{Created: time.Now().UTC(), HoldfastVersion: holdfast.Version})
	if err != nil {
		abort(err)
	}
	for _, v := range views {
		if err := sw.BeginDataspace(snapshot.Dataspace{Name: v.name, Sync: v.ds.SyncPolicy().String(), LastSeq: v.view.LastSeq()}); err != nil {
			abort(err)
		}
		if err := v.view.Range(r.Context(), sw.Put); err != nil {
			abort(fmt.Errorf("dataspace %q: %w", v.name, err))
		}
		if _, err := sw.EndDataspace(); err != nil {
			abort(err)
		}
	}
	if _, err := sw.Close(); err != nil {
		abort(err)
	}
	return nil
}
