package httpapi

import (
	"net/http"
)

// codeRecovering: the server is still opening the database (recovery).
const codeRecovering = "recovering"

func init() { codeStatus[codeRecovering] = http.StatusServiceUnavailable }

// Starting returns the handler a server runs while the database is
// opening (replaying logs, syncing recovered files): /livez answers ok,
// /readyz answers 503 with reason, and every other path 503 recovering.
// So an orchestrator sees a live process that is not ready yet, instead of
// a refused connection it cannot tell from a dead one.
func Starting(reason string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/livez":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			writeJSON(w, http.StatusServiceUnavailable, readyJSON{Ready: false, Reasons: []string{reason}})
		default:
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: codeRecovering,
				Message: reason + "; retry when /readyz says ready"}})
		}
	})
}
