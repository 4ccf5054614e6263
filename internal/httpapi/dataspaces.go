package httpapi

import (
	"net/http"

	"github.com/holdfast-db/holdfast"
)

// dataspaceJSON describes one dataspace. Stopped is null while it serves,
// otherwise why it stopped (the engine's error text).
type dataspaceJSON struct {
	Name     string  `json:"name"`
	Sync     string  `json:"sync"`
	Keys     int     `json:"keys"`
	Bytes    int64   `json:"bytes"`
	LastSeq  uint64  `json:"last_seq"`
	Stopped  *string `json:"stopped"`
	LogBytes int64   `json:"log_bytes"`
	// Counters since the dataspace was opened.
	Groups      int64 `json:"groups"`
	Records     int64 `json:"records"`
	Syncs       int64 `json:"syncs"`
	FailStops   int64 `json:"fail_stops"`
	Compactions int64 `json:"compactions"`
	// CompactionStalls: compactions client writes had to wait for.
	CompactionStalls int64 `json:"compaction_stalls"`
}

func describe(name string, ds *holdfast.Dataspace) dataspaceJSON {
	st := ds.Stats()
	d := dataspaceJSON{Name: name, Sync: st.Sync, Keys: st.Keys, Bytes: st.Bytes, LastSeq: st.LastSeq,
		LogBytes: st.LogBytes, Groups: st.Groups, Records: st.Records, Syncs: st.Syncs,
		FailStops: st.FailStop, Compactions: st.Compactions, CompactionStalls: st.CompactionStalls}
	if st.Stopped != "" {
		d.Stopped = &st.Stopped
	}
	return d
}

type listJSON struct {
	Dataspaces []dataspaceJSON `json:"dataspaces"`
}

// listDataspaces: GET /v1/dataspaces
func (s *server) listDataspaces(w http.ResponseWriter, r *http.Request) error {
	out := listJSON{Dataspaces: []dataspaceJSON{}}
	for _, name := range s.db.Dataspaces() {
		ds, err := s.db.Dataspace(name)
		if err != nil {
			if errorsIsNoDataspace(err) {
				continue // dropped since the listing
			}
			return err
		}
		out.Dataspaces = append(out.Dataspaces, describe(name, ds))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createRequest is the body of POST /v1/dataspaces.
type createRequest struct {
	Name string `json:"name"`
	// Sync is "always" (the default when empty) or "interval:<duration>".
	Sync string `json:"sync"`
}

// createDataspace: POST /v1/dataspaces {"name":..,"sync":..}
func (s *server) createDataspace(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := holdfast.ValidName(req.Name); err != nil {
		return err
	}
	policy, err := holdfast.ParseSyncPolicy(req.Sync)
	if err != nil {
		return apiErrorf(codeBadRequest, "sync: %v", err)
	}
	ds, err := s.db.CreateDataspace(req.Name, holdfast.DataspaceOptions{Sync: policy})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/dataspaces/"+req.Name)
	writeJSON(w, http.StatusCreated, describe(req.Name, ds))
	return nil
}

// getDataspace: GET /v1/dataspaces/{name}
func (s *server) getDataspace(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, describe(r.PathValue("name"), ds))
	return nil
}

type dropJSON struct {
	Dropped string `json:"dropped"`
}

// dropDataspace: DELETE /v1/dataspaces/{name}
func (s *server) dropDataspace(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := holdfast.ValidName(name); err != nil {
		return err
	}
	if err := s.db.DropDataspace(name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dropJSON{Dropped: name})
	return nil
}

// reopenDataspace: POST /v1/dataspaces/{name}/reopen. The way out of a
// fail-stop: the dataspace is recovered from what the device holds. If it
// cannot be, the answer is the reason (fail_stop, corrupt).
func (s *server) reopenDataspace(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := holdfast.ValidName(name); err != nil {
		return err
	}
	ds, err := s.db.Reopen(name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, describe(name, ds))
	return nil
}

type compactJSON struct {
	Relocated       int   `json:"relocated"`
	RemovedSegments int   `json:"removed_segments"`
	LogBytesBefore  int64 `json:"log_bytes_before"`
	LogBytesAfter   int64 `json:"log_bytes_after"`
	DurationMS      int64 `json:"duration_ms"`
}

// compactDataspace: POST /v1/dataspaces/{name}/compact, waits for it.
func (s *server) compactDataspace(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	st, err := ds.Compact(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, compactJSON{Relocated: st.Relocated, RemovedSegments: st.RemovedSegments,
		LogBytesBefore: st.LogBytesBefore, LogBytesAfter: st.LogBytesAfter, DurationMS: st.Duration.Milliseconds()})
	return nil
}
