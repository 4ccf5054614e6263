package httpapi

import (
	"errors"
	"net/http"

	"github.com/holdfast-db/holdfast"
)

// livez: GET /livez. The process is up and serving HTTP; nothing else is
// checked, so an orchestrator never restarts a server that is merely not
// ready (a restart would not fix a fail-stopped dataspace, a reopen does).
func (s *server) livez(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
	return nil
}

type readyJSON struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons"`
}

// readyz: GET /readyz. Not ready, with one reason each, while Config.Ready
// says so (recovering, quiesced) or while any dataspace is stopped
// (fail-stop, corruption): a load balancer then sends traffic elsewhere.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	out := readyJSON{Ready: true, Reasons: []string{}}
	if s.cfg.Ready != nil {
		if ok, reasons := s.cfg.Ready(); !ok {
			out.Ready = false
			if len(reasons) == 0 {
				reasons = []string{"server not ready"}
			}
			out.Reasons = append(out.Reasons, reasons...)
		}
	}
	if ok, reasons := s.db.Ready(); !ok { // quiesced, restore verification failed
		out.Ready = false
		out.Reasons = append(out.Reasons, reasons...)
	}
	for _, name := range s.db.Dataspaces() {
		ds, err := s.db.Dataspace(name)
		if errorsIsNoDataspace(err) {
			continue // dropped since the listing
		}
		if err == nil {
			err = ds.Err()
		}
		if err != nil {
			out.Ready = false
			out.Reasons = append(out.Reasons, "dataspace "+name+" stopped: "+err.Error())
		}
	}
	status := http.StatusOK
	if !out.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
	return nil
}

func errorsIsNoDataspace(err error) bool { return errors.Is(err, holdfast.ErrNoDataspace) }
