package httpapi

import (
	"bytes"
	"net/http"
	"path"
	"strings"
	"syscall"
	"testing"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// TestFailStop: a failed log sync makes the write's outcome unknown, stops
// the dataspace (fail_stop, /readyz 503 with the reason), and a reopen
// through the API recovers it from the device; a retry with the same
// Idempotency-Key then applies the write at most once.
func TestFailStop(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	const k = "/v1/dataspaces/d/keys/k"
	h.status(h.do("PUT", k, "durable"), http.StatusOK)
	h.status(h.do("GET", "/readyz", ""), http.StatusOK)

	h.fsys.SetInjector(faultfs.OnIndex(faultfs.Kinds(faultfs.OpSync, faultfs.OpSyncData), 1, syscall.EIO))
	e := h.wantError(h.do("PUT", k, "maybe", "Idempotency-Key", "w1"), http.StatusServiceUnavailable, codeOutcomeUnknown)
	if !strings.Contains(e.Message, "Idempotency-Key") {
		t.Fatalf("outcome_unknown message %q does not say how to retry", e.Message)
	}
	h.fsys.SetInjector(nil)

	e = h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/other", "x"), http.StatusServiceUnavailable, codeFailStop)
	if !strings.Contains(e.Message, "reopen") {
		t.Fatalf("fail_stop message %q does not say how to recover", e.Message)
	}
	h.wantError(h.do("GET", k, ""), http.StatusServiceUnavailable, codeFailStop)
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys", ""), http.StatusServiceUnavailable, codeFailStop)

	rec := h.do("GET", "/readyz", "")
	h.status(rec, http.StatusServiceUnavailable)
	r := decode[readyJSON](t, rec)
	if r.Ready || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "dataspace d stopped") || !strings.Contains(r.Reasons[0], "I/O error") {
		t.Fatalf("readyz %+v", r)
	}
	list := decode[listJSON](t, h.do("GET", "/v1/dataspaces", ""))
	if s := list.Dataspaces[0]; s.Stopped == nil || s.FailStops != 1 {
		t.Fatalf("listed as %+v", s)
	}

	rec = h.do("POST", "/v1/dataspaces/d/reopen", "")
	h.status(rec, http.StatusOK)
	if d := decode[dataspaceJSON](t, rec); d.Stopped != nil {
		t.Fatalf("reopened but stopped: %+v", d)
	}
	h.status(h.do("GET", "/readyz", ""), http.StatusOK)
	got := h.do("GET", k, "").Body.String()
	if got != "durable" && got != "maybe" {
		t.Fatalf("after reopen the value is %q", got)
	}
	// Retrying with the same key applies the write once, whatever the
	// device kept: the value is "maybe" and a second retry changes nothing.
	s1 := decode[seqJSON](t, h.do("PUT", k, "maybe", "Idempotency-Key", "w1")).Seq
	s2 := decode[seqJSON](t, h.do("PUT", k, "maybe", "Idempotency-Key", "w1")).Seq
	if s1 != s2 || h.do("GET", k, "").Body.String() != "maybe" {
		t.Fatalf("retries after reopen: seqs %d %d", s1, s2)
	}
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/other", "x"), http.StatusOK)
}

// TestCorrupt: a bit flipped in a stored value is reported as corrupt
// (500) when the value is read from the device, never served, and makes
// /readyz fail. The engine's value cache is off: with it, the value just
// written would be served from memory, where it is intact and verified.
func TestCorrupt(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{ValueCacheBytes: -1}).withDataspace()
	value := bytes.Repeat([]byte("holdfast-corruption-marker/"), 10) // longer than the inline limit: read from the log
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/big", string(value)), http.StatusOK)

	walDir := "/data/dataspaces/d/wal"
	names, err := h.fsys.List(walDir)
	if err != nil {
		t.Fatal(err)
	}
	flipped := false
	for _, n := range names {
		p := path.Join(walDir, n)
		data, err := h.fsys.DurableContent(p)
		if err != nil {
			continue
		}
		if i := bytes.Index(data, value); i >= 0 {
			if err := h.fsys.FlipBit(p, int64(i+len(value)/2), 3); err != nil {
				t.Fatal(err)
			}
			flipped = true
		}
	}
	if !flipped {
		t.Fatalf("value not found in the log segments %v", names)
	}
	if err := h.fsys.EvictCleanPages(""); err != nil {
		t.Fatal(err)
	}
	rec := h.do("GET", "/v1/dataspaces/d/keys/big", "")
	h.wantError(rec, http.StatusInternalServerError, codeCorrupt)
	if bytes.Contains(rec.Body.Bytes(), value[:20]) {
		t.Fatal("a corrupt value was served")
	}
	rec = h.do("GET", "/readyz", "")
	h.status(rec, http.StatusServiceUnavailable)
	if r := decode[readyJSON](t, rec); len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "corrupt") {
		t.Fatalf("readyz %+v", r)
	}
}
