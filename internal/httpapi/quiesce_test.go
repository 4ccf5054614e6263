package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
)

func TestQuiesceResumeOverHTTP(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/a", "1"), http.StatusOK)

	rec := h.do("POST", "/v1/quiesce", `{"auto_resume":"30s"}`)
	h.status(rec, http.StatusOK)
	q := decode[quiesceJSON](t, rec)
	if !q.Quiesced || !strings.HasPrefix(q.ID, "q-") || len(q.Dataspaces) != 1 || q.Dataspaces[0].LastSeq != 1 || len(q.PhasesMS) != 4 {
		t.Fatalf("quiesce answered %+v", q)
	}
	again := decode[quiesceJSON](t, h.do("POST", "/v1/quiesce", ""))
	if again.ID != q.ID {
		t.Fatalf("second quiesce id %q, want %q", again.ID, q.ID)
	}
	h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/b", "2"), http.StatusServiceUnavailable, codeQuiesced)
	h.status(h.do("GET", "/v1/dataspaces/d/keys/a", ""), http.StatusOK)
	rec = h.do("GET", "/readyz", "")
	h.status(rec, http.StatusServiceUnavailable)
	if !strings.Contains(rec.Body.String(), "quiesced") {
		t.Fatalf("readyz while quiesced: %s", rec.Body.String())
	}
	if st := decode[quiesceJSON](t, h.do("GET", "/v1/quiesce", "")); st.ID != q.ID {
		t.Fatalf("status %+v", st)
	}
	h.wantError(h.do("POST", "/v1/resume", `{"quiesce_id":"q-other"}`), http.StatusBadRequest, codeBadRequest)
	r := decode[resumeJSON](t, h.do("POST", "/v1/resume", `{"quiesce_id":"`+q.ID+`"}`))
	if !r.Resumed || r.ID != q.ID {
		t.Fatalf("resume answered %+v", r)
	}
	if r := decode[resumeJSON](t, h.do("POST", "/v1/resume", "")); r.Resumed {
		t.Fatalf("second resume answered %+v, want resumed=false", r)
	}
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/b", "2"), http.StatusOK)
	h.status(h.do("GET", "/readyz", ""), http.StatusOK)
	h.wantError(h.do("POST", "/v1/quiesce", `{"auto_resume":"soon"}`), http.StatusBadRequest, codeBadRequest)
	h.wantError(h.do("POST", "/v1/quiesce", `{"auto_resume":"1000h"}`), http.StatusBadRequest, codeBadRequest)
	if st := decode[quiesceJSON](t, h.do("GET", "/v1/quiesce", "")); st.Quiesced {
		t.Fatalf("quiesced after rejected requests: %+v", st)
	}
}
