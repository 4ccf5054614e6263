package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/holdfast-db/holdfast"
)

// Quiesce and resume for volume snapshots (docs/snapshots.md):
//
//	POST /v1/quiesce   {"auto_resume":"60s","write_wait":"0s","fsfreeze":false,"timeout":"30s"} (all optional)
//	POST /v1/resume    {"quiesce_id":"q-..."} (optional)
//	GET  /v1/quiesce   the active quiesce, if any
//
// Quiesce answers only once every dataspace and snapshot.json is on stable
// storage; a second quiesce while quiesced answers the same id. Resume is
// idempotent. While quiesced, writes answer 503 quiesced (or wait up to
// write_wait) and /readyz reports "quiesced".

// codeQuiesced: the database is quiesced for a snapshot; nothing was
// written.
const codeQuiesced = "quiesced"

func init() { codeStatus[codeQuiesced] = http.StatusServiceUnavailable }

// DefaultQuiesceTimeout bounds a quiesce request that names no timeout.
const DefaultQuiesceTimeout = 30 * time.Second

func (s *server) quiesceRoutes() {
	s.handle("POST /v1/quiesce", "quiesce", s.quiesce)
	s.handle("POST /v1/resume", "resume", s.resume)
	s.handle("GET /v1/quiesce", "quiesce_status", s.quiesceStatus)
	s.handle("GET /v1/snapshot", "snapshot", s.snapshot) // snapshot.go
}

type quiesceRequest struct {
	AutoResume string `json:"auto_resume"`
	WriteWait  string `json:"write_wait"`
	FSFreeze   bool   `json:"fsfreeze"`
	Timeout    string `json:"timeout"`
}

type quiesceJSON struct {
	Quiesced   bool                         `json:"quiesced"`
	ID         string                       `json:"quiesce_id,omitempty"`
	Time       *time.Time                   `json:"time,omitempty"`
	ResumeBy   *time.Time                   `json:"resume_by,omitempty"`
	FSFreeze   bool                         `json:"fsfreeze"`
	DurationMS float64                      `json:"duration_ms,omitempty"`
	PhasesMS   map[string]float64           `json:"phases_ms,omitempty"`
	Dataspaces []holdfast.SnapshotDataspace `json:"dataspaces,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func quiesceBody(info holdfast.QuiesceInfo, ok bool) quiesceJSON {
	if !ok {
		return quiesceJSON{}
	}
	p := info.Phases
	return quiesceJSON{Quiesced: true, ID: info.ID, Time: &info.Time, ResumeBy: &info.ResumeBy, FSFreeze: info.Frozen,
		DurationMS: ms(info.Duration), Dataspaces: info.Dataspaces,
		PhasesMS: map[string]float64{"drain": ms(p.Drain), "dataspaces": ms(p.Dataspaces), "root": ms(p.Root), "syncfs": ms(p.SyncFS)}}
}

func parseDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, apiErrorf(codeBadRequest, "%s %q: want a non-negative Go duration such as \"60s\"", field, s)
	}
	return d, nil
}

func (s *server) quiesce(w http.ResponseWriter, r *http.Request) error {
	var req quiesceRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	var opts holdfast.QuiesceOptions
	var err error
	if opts.AutoResumeAfter, err = parseDuration("auto_resume", req.AutoResume, 0); err != nil {
		return err
	}
	if opts.WriteWait, err = parseDuration("write_wait", req.WriteWait, 0); err != nil {
		return err
	}
	timeout, err := parseDuration("timeout", req.Timeout, DefaultQuiesceTimeout)
	if err != nil {
		return err
	}
	opts.FSFreeze = req.FSFreeze
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	info, err := s.db.Quiesce(ctx, opts)
	if err != nil {
		return fmt.Errorf("%w; the database was not quiesced and stays writable", err)
	}
	writeJSON(w, http.StatusOK, quiesceBody(info, true))
	return nil
}

type resumeRequest struct {
	ID string `json:"quiesce_id"`
}

type resumeJSON struct {
	Resumed bool   `json:"resumed"` // false: nothing was quiesced
	ID      string `json:"quiesce_id,omitempty"`
}

func (s *server) resume(w http.ResponseWriter, r *http.Request) error {
	var req resumeRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	info, was := s.db.QuiesceStatus()
	if err := s.db.Resume(req.ID); err != nil {
		return err
	}
	out := resumeJSON{Resumed: was}
	if was {
		out.ID = info.ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) quiesceStatus(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, quiesceBody(s.db.QuiesceStatus()))
	return nil
}
