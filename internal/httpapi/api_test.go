package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/holdfast-db/holdfast"
)

func TestDataspaceEndpoints(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{})

	list := decode[listJSON](t, h.do("GET", "/v1/dataspaces", ""))
	if len(list.Dataspaces) != 0 {
		t.Fatalf("fresh database lists %+v", list.Dataspaces)
	}

	rec := h.do("POST", "/v1/dataspaces", `{"name":"fast","sync":"interval:10ms"}`)
	h.status(rec, http.StatusCreated)
	if loc := rec.Header().Get("Location"); loc != "/v1/dataspaces/fast" {
		t.Fatalf("Location %q", loc)
	}
	if d := decode[dataspaceJSON](t, rec); d.Name != "fast" || d.Sync != "interval:10ms" || d.Stopped != nil {
		t.Fatalf("created %+v", d)
	}
	h.status(h.do("POST", "/v1/dataspaces", `{"name":"slow"}`), http.StatusCreated)
	// Every counter is in the listing, zero or not.
	if body := h.do("GET", "/v1/dataspaces", "").Body.String(); !strings.Contains(body, `"compactions":0,"compaction_stalls":0`) {
		t.Fatalf("listing without the compaction counters: %s", body)
	}

	h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"fast"}`), http.StatusConflict, codeExists)
	msg := h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"../x"}`), http.StatusBadRequest, codeInvalidName)
	if !strings.Contains(msg.Message, holdfast.ValidName("../x").Error()) {
		t.Fatalf("invalid name message %q does not carry the engine's %q", msg.Message, holdfast.ValidName("../x"))
	}
	h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"Upper"}`), http.StatusBadRequest, codeInvalidName)
	h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"x","sync":"sometimes"}`), http.StatusBadRequest, codeBadRequest)
	h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"x","shards":3}`), http.StatusBadRequest, codeBadRequest)

	h.status(h.do("PUT", "/v1/dataspaces/slow/keys/a", "12345"), http.StatusOK)
	list = decode[listJSON](t, h.do("GET", "/v1/dataspaces", ""))
	if len(list.Dataspaces) != 2 || list.Dataspaces[0].Name != "fast" || list.Dataspaces[1].Name != "slow" {
		t.Fatalf("list %+v", list.Dataspaces)
	}
	if s := list.Dataspaces[1]; s.Sync != "always" || s.Keys != 1 || s.Bytes != 6 || s.LastSeq == 0 || s.Stopped != nil {
		t.Fatalf("slow %+v", s)
	}
	if d := decode[dataspaceJSON](t, h.do("GET", "/v1/dataspaces/slow", "")); d.Keys != 1 {
		t.Fatalf("get %+v", d)
	}
	h.wantError(h.do("GET", "/v1/dataspaces/nope", ""), http.StatusNotFound, codeNoDataspace)
	h.wantError(h.do("GET", "/v1/dataspaces/..%2Fx", ""), http.StatusBadRequest, codeInvalidName)
	h.wantError(h.do("GET", "/v1/dataspaces/..%2Fx/keys/a", ""), http.StatusBadRequest, codeInvalidName)

	rec = h.do("POST", "/v1/dataspaces/slow/compact", "")
	h.status(rec, http.StatusOK)
	decode[compactJSON](t, rec)
	rec = h.do("POST", "/v1/dataspaces/slow/reopen", "")
	h.status(rec, http.StatusOK)
	if d := decode[dataspaceJSON](t, rec); d.Keys != 1 || d.Stopped != nil {
		t.Fatalf("reopened %+v", d)
	}
	h.status(h.do("GET", "/v1/dataspaces/slow/keys/a", ""), http.StatusOK)

	h.status(h.do("DELETE", "/v1/dataspaces/slow", ""), http.StatusOK)
	h.wantError(h.do("DELETE", "/v1/dataspaces/slow", ""), http.StatusNotFound, codeNoDataspace)
	h.wantError(h.do("GET", "/v1/dataspaces/slow/keys/a", ""), http.StatusNotFound, codeNoDataspace)
	h.wantError(h.do("POST", "/v1/dataspaces/slow/reopen", ""), http.StatusNotFound, codeNoDataspace)
	list = decode[listJSON](t, h.do("GET", "/v1/dataspaces", ""))
	if len(list.Dataspaces) != 1 {
		t.Fatalf("after drop: %+v", list.Dataspaces)
	}
}

func TestKeyEndpoints(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()

	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/k", ""), http.StatusNotFound, codeNotFound)
	rec := h.do("PUT", "/v1/dataspaces/d/keys/k", "v1", "Content-Type", "application/octet-stream")
	h.status(rec, http.StatusOK)
	seq := decode[seqJSON](t, rec).Seq
	if seq == 0 || rec.Header().Get("ETag") != etag(seq) || rec.Header().Get("X-Holdfast-Seq") != strconv.FormatUint(seq, 10) {
		t.Fatalf("put: seq %d, headers %v", seq, rec.Header())
	}

	rec = h.do("GET", "/v1/dataspaces/d/keys/k", "")
	h.status(rec, http.StatusOK)
	if rec.Body.String() != "v1" || rec.Header().Get("ETag") != etag(seq) ||
		rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("get: %q %v", rec.Body.String(), rec.Header())
	}
	rec = h.do("GET", "/v1/dataspaces/d/keys/k", "", "Accept", "text/html, application/json;q=0.9")
	if kj := decode[keyJSON](t, rec); string(unb64(t, kj.KeyB64)) != "k" || string(unb64(t, kj.ValueB64)) != "v1" || kj.Seq != seq {
		t.Fatalf("get json: %+v", kj)
	}
	rec = h.do("GET", "/v1/dataspaces/d/keys/k", "", "If-None-Match", etag(seq))
	h.status(rec, http.StatusNotModified)
	if rec.Body.Len() != 0 {
		t.Fatalf("304 with a body %q", rec.Body.String())
	}
	h.status(h.do("HEAD", "/v1/dataspaces/d/keys/k", ""), http.StatusOK)

	// An empty value is a value.
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/empty", ""), http.StatusOK)
	rec = h.do("GET", "/v1/dataspaces/d/keys/empty", "")
	h.status(rec, http.StatusOK)
	if rec.Body.Len() != 0 {
		t.Fatalf("empty value read back as %q", rec.Body.String())
	}

	// Delete reports whether the key existed and the write's seq.
	rec = h.do("DELETE", "/v1/dataspaces/d/keys/k", "")
	if d := decode[deleteJSON](t, rec); !d.Deleted || d.Seq <= seq {
		t.Fatalf("delete: %+v", d)
	}
	if d := decode[deleteJSON](t, h.do("DELETE", "/v1/dataspaces/d/keys/k", "")); d.Deleted || d.Seq != 0 {
		t.Fatalf("second delete: %+v", d)
	}
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/k", ""), http.StatusNotFound, codeNotFound)

	// Empty key, bad escapes, both key forms.
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/", ""), http.StatusBadRequest, codeEmptyKey)
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/a?key_b64=YQ", ""), http.StatusBadRequest, codeBadRequest)
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/?key_b64=!!", ""), http.StatusBadRequest, codeBadRequest)
	if _, err := DecodeKeyPath("a%zz"); err == nil {
		t.Fatal("DecodeKeyPath accepted a bad escape")
	}

	// Method not allowed and no route are JSON errors too.
	rec = h.do("PATCH", "/v1/dataspaces/d/keys/k", "")
	h.wantError(rec, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	if !strings.Contains(rec.Header().Get("Allow"), "PUT") {
		t.Fatalf("Allow %q", rec.Header().Get("Allow"))
	}
	h.wantError(h.do("GET", "/v2/nothing", ""), http.StatusNotFound, codeNoRoute)
}

// TestBinaryKeys round-trips awkward keys and values through a real HTTP
// server and client: path encoding, key_b64, JSON mode and scan.
func TestBinaryKeys(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	srv := httptest.NewServer(h.h)
	defer srv.Close()

	keys := [][]byte{
		[]byte("a/b"), []byte("/lead"), []byte("trail/"), []byte("a//b"), []byte("%"), []byte("%2F"),
		{0}, {0xff}, {0, 0xff, '/', '%', 0x80}, []byte("."), []byte(".."), []byte("./x"), []byte("a b+c?d#e&f=g"),
		[]byte("ключ"), []byte("~_-."), bytes.Repeat([]byte{0xfe}, 300),
	}
	do := func(method, u string, body []byte, hdr ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	read := func(resp *http.Response) []byte {
		t.Helper()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	values := map[string][]byte{}
	for i, k := range keys {
		v := append([]byte{0, 0xff, byte(i)}, k...)
		values[string(k)] = v
		var u string
		if i%2 == 0 {
			u = srv.URL + "/v1/dataspaces/d/keys/" + EncodeKeyPath(k)
		} else {
			u = srv.URL + "/v1/dataspaces/d/keys/?key_b64=" + url.QueryEscape(std64(k))
		}
		if resp := do("PUT", u, v, "Content-Type", "application/octet-stream"); resp.StatusCode != http.StatusOK {
			t.Fatalf("put %q: %d %s", k, resp.StatusCode, read(resp))
		}
	}
	for i, k := range keys {
		// Read back each key the other way it was written.
		var u string
		if i%2 == 1 {
			u = srv.URL + "/v1/dataspaces/d/keys/" + EncodeKeyPath(k)
		} else {
			u = srv.URL + "/v1/dataspaces/d/keys/?key_b64=" + strings.TrimRight(base64URL(k), "=")
		}
		resp := do("GET", u, nil)
		if got := read(resp); resp.StatusCode != http.StatusOK || !bytes.Equal(got, values[string(k)]) {
			t.Fatalf("get %q: %d %q, want %q", k, resp.StatusCode, got, values[string(k)])
		}
		resp = do("GET", u, nil, "Accept", "application/json")
		var kj keyJSON
		if err := jsonUnmarshal(read(resp), &kj); err != nil || !bytes.Equal(unb64(t, kj.KeyB64), k) || !bytes.Equal(unb64(t, kj.ValueB64), values[string(k)]) {
			t.Fatalf("get json %q: %+v %v", k, kj, err)
		}
	}
	// A key whose '/' is sent literally is the same key as with %2F.
	resp := do("GET", srv.URL+"/v1/dataspaces/d/keys/a/b", nil)
	if got := read(resp); !bytes.Equal(got, values["a/b"]) {
		t.Fatalf("literal slash: %d %q", resp.StatusCode, got)
	}
	// Scan returns every key, in byte order, with its value.
	resp = do("GET", srv.URL+"/v1/dataspaces/d/keys?limit=1000", nil)
	var page scanJSON
	if err := jsonUnmarshal(read(resp), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(keys) || page.Next != nil {
		t.Fatalf("scan: %d items, next %v; want %d", len(page.Items), page.Next, len(keys))
	}
	var prev []byte
	for _, it := range page.Items {
		k := unb64(t, it.KeyB64)
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Fatalf("scan out of order: %q then %q", prev, k)
		}
		prev = k
		if !bytes.Equal(unb64(t, it.ValueB64), values[string(k)]) {
			t.Fatalf("scan %q: value %q", k, unb64(t, it.ValueB64))
		}
	}
}

func TestPreconditions(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	const k = "/v1/dataspaces/d/keys/k"

	// If-None-Match: * creates only.
	rec := h.do("PUT", k, "one", "If-None-Match", "*")
	h.status(rec, http.StatusOK)
	s1 := decode[seqJSON](t, rec).Seq
	h.wantError(h.do("PUT", k, "two", "If-None-Match", "*"), http.StatusPreconditionFailed, codeVersionMismatch)

	// If-Match: "<seq>" is a compare-and-swap.
	rec = h.do("PUT", k, "two", "If-Match", etag(s1))
	h.status(rec, http.StatusOK)
	s2 := decode[seqJSON](t, rec).Seq
	h.wantError(h.do("PUT", k, "three", "If-Match", etag(s1)), http.StatusPreconditionFailed, codeVersionMismatch)
	if got := h.do("GET", k, "").Body.String(); got != "two" {
		t.Fatalf("after a failed CAS the value is %q", got)
	}
	// If-Match: * requires the key to exist.
	h.status(h.do("PUT", k, "three", "If-Match", "*"), http.StatusOK)
	h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/missing", "x", "If-Match", "*"), http.StatusPreconditionFailed, codeVersionMismatch)
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/missing", ""), http.StatusNotFound, codeNotFound)

	// Conditional delete.
	h.wantError(h.do("DELETE", k, "", "If-Match", etag(s2)), http.StatusPreconditionFailed, codeVersionMismatch)
	cur := h.do("GET", k, "").Header().Get("ETag")
	if d := decode[deleteJSON](t, h.do("DELETE", k, "", "If-Match", cur)); !d.Deleted {
		t.Fatalf("conditional delete: %+v", d)
	}

	// Malformed precondition headers.
	for _, hv := range [][2]string{
		{"If-Match", "5"}, {"If-Match", `W/"5"`}, {"If-Match", `"1", "2"`}, {"If-Match", `"0"`}, {"If-Match", `"x"`},
		{"If-None-Match", `"5"`},
	} {
		h.wantError(h.do("PUT", k, "v", hv[0], hv[1]), http.StatusBadRequest, codeBadRequest)
	}
	h.wantError(h.do("PUT", k, "v", "If-Match", "*", "If-None-Match", "*"), http.StatusBadRequest, codeBadRequest)
	h.wantError(h.do("POST", "/v1/dataspaces/d/incr/n", "", "If-Match", `"1"`), http.StatusBadRequest, codeBadRequest)
}

// TestIdempotencyKey: a retried write with the same Idempotency-Key
// returns the first write's seq and is not applied again.
func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	const k = "/v1/dataspaces/d/keys/k"

	first := decode[seqJSON](t, h.do("PUT", k, "a", "Idempotency-Key", "req-1")).Seq
	later := decode[seqJSON](t, h.do("PUT", k, "b")).Seq
	retry := decode[seqJSON](t, h.do("PUT", k, "a", "Idempotency-Key", "req-1")).Seq
	if retry != first || later <= first {
		t.Fatalf("seqs: first %d, later %d, retry %d; the retry must return the first", first, later, retry)
	}
	if got := h.do("GET", k, "").Body.String(); got != "b" {
		t.Fatalf("the retry was applied again: value %q", got)
	}

	// Increments: the retry returns the first result.
	inc := func(id string) incrJSON {
		return decode[incrJSON](t, h.do("POST", "/v1/dataspaces/d/incr/n", `{"delta":5}`, "Idempotency-Key", id))
	}
	a, b, c := inc("i1"), inc("i1"), inc("i2")
	if a != b || a.Value != 5 || c.Value != 10 {
		t.Fatalf("incr: %+v %+v %+v", a, b, c)
	}

	// Batches: request_id in the body or the header.
	body := fmt.Sprintf(`{"ops":[{"op":"put","key_b64":%q,"value_b64":%q}],"request_id":"b1"}`, std64([]byte("bk")), std64([]byte("1")))
	s1 := decode[seqJSON](t, h.do("POST", "/v1/dataspaces/d/batch", body)).Seq
	h.do("PUT", "/v1/dataspaces/d/keys/bk", "2")
	s2 := decode[seqJSON](t, h.do("POST", "/v1/dataspaces/d/batch", body, "Idempotency-Key", "b1")).Seq
	if s1 != s2 || h.do("GET", "/v1/dataspaces/d/keys/bk", "").Body.String() != "2" {
		t.Fatalf("batch retry: %d then %d", s1, s2)
	}
	h.wantError(h.do("POST", "/v1/dataspaces/d/batch", body, "Idempotency-Key", "other"), http.StatusBadRequest, codeBadRequest)

	// Concurrent retries of one write apply it once.
	var wg sync.WaitGroup
	seqs := make([]uint64, 8)
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("POST", "/v1/dataspaces/d/incr/c", strings.NewReader(`{"delta":1}`))
			req.Header.Set("Idempotency-Key", "conc")
			rec := httptest.NewRecorder()
			h.h.ServeHTTP(rec, req)
			var r incrJSON
			if err := jsonUnmarshal(rec.Body.Bytes(), &r); err == nil {
				seqs[i] = r.Seq
			}
		}()
	}
	wg.Wait()
	for _, s := range seqs {
		if s == 0 || s != seqs[0] {
			t.Fatalf("concurrent retries got seqs %v", seqs)
		}
	}
	if got := h.do("GET", "/v1/dataspaces/d/keys/c", "").Body.String(); got != "1" {
		t.Fatalf("concurrent retries applied: value %q, want 1", got)
	}
}

func TestScan(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	for _, k := range []string{"a1", "a2", "a3", "b1", "b2", "c"} {
		h.status(h.do("PUT", "/v1/dataspaces/d/keys/"+k, "v"+k), http.StatusOK)
	}
	keysOf := func(p scanJSON) string {
		var ks []string
		for _, it := range p.Items {
			ks = append(ks, string(unb64(t, it.KeyB64)))
		}
		return strings.Join(ks, ",")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "a1,a2,a3,b1,b2,c"},
		{"prefix=a", "a1,a2,a3"},
		{"prefix_b64=Yg", "b1,b2"},
		{"prefix_b64=Yg==", "b1,b2"},
		{"start=a2&end=b2", "a2,a3,b1"},
		{"start_b64=YTI%3D&end_b64=YjI", "a2,a3,b1"},
		{"after=b1", "b2,c"},
		{"prefix=zz", ""},
		{"end=", "a1,a2,a3,b1,b2,c"},
	} {
		p := decode[scanJSON](t, h.do("GET", "/v1/dataspaces/d/keys?"+tc.query, ""))
		if got := keysOf(p); got != tc.want || p.Next != nil {
			t.Errorf("scan ?%s = %q (next %v), want %q", tc.query, got, p.Next, tc.want)
		}
	}
	// Pagination: follow next until it is null.
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		q := "/v1/dataspaces/d/keys?limit=4"
		if after != "" {
			q += "&after_b64=" + url.QueryEscape(after)
		}
		p := decode[scanJSON](t, h.do("GET", q, ""))
		if k := keysOf(p); k != "" {
			all = append(all, k)
		}
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if got := strings.Join(all, ","); got != "a1,a2,a3,b1,b2,c" {
		t.Fatalf("paginated scan %q", got)
	}
	// keys_only: keys and versions, no values; max_bytes bounds a page.
	ko := decode[scanKeysJSON](t, h.do("GET", "/v1/dataspaces/d/keys?keys_only=true&prefix=a", ""))
	if len(ko.Items) != 3 || string(unb64(t, ko.Items[0].KeyB64)) != "a1" || ko.Items[0].Seq == 0 || ko.Next != nil {
		t.Fatalf("keys_only scan: %+v", ko)
	}
	if body := h.do("GET", "/v1/dataspaces/d/keys?keys_only=1", "").Body.String(); strings.Contains(body, "value_b64") {
		t.Fatalf("keys_only scan carries values: %s", body)
	}
	small := decode[scanJSON](t, h.do("GET", "/v1/dataspaces/d/keys?max_bytes=10", ""))
	if keysOf(small) != "a1,a2" || small.Next == nil {
		t.Fatalf("max_bytes=10 (two keys of 2 bytes with values of 3 fit): %q, next %v", keysOf(small), small.Next)
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=x", "limit=100001", "prefix=a&prefix_b64=YQ", "after_b64=***",
		"keys_only=maybe", "max_bytes=0", "max_bytes=x", "max_bytes=999999999999"} {
		h.wantError(h.do("GET", "/v1/dataspaces/d/keys?"+q, ""), http.StatusBadRequest, codeBadRequest)
	}
}

func TestBatchAndIncr(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/old", "x"), http.StatusOK)
	body := fmt.Sprintf(`{"ops":[{"op":"put","key_b64":%q,"value_b64":%q},{"op":"put","key_b64":%q,"value_b64":""},{"op":"delete","key_b64":%q}]}`,
		std64([]byte{0, '/'}), std64([]byte{0xff}), std64([]byte("e")), std64([]byte("old")))
	rec := h.do("POST", "/v1/dataspaces/d/batch", body)
	h.status(rec, http.StatusOK)
	seq := decode[seqJSON](t, rec).Seq
	rec = h.do("GET", "/v1/dataspaces/d/keys/%00%2F", "")
	if !bytes.Equal(rec.Body.Bytes(), []byte{0xff}) || rec.Header().Get("ETag") != etag(seq) {
		t.Fatalf("batch put: %q %v", rec.Body.Bytes(), rec.Header())
	}
	h.status(h.do("GET", "/v1/dataspaces/d/keys/e", ""), http.StatusOK)
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/old", ""), http.StatusNotFound, codeNotFound)

	for _, bad := range []string{
		`{"ops":[]}`,
		`{}`,
		`{"ops":[{"op":"upsert","key_b64":"YQ=="}]}`,
		`{"ops":[{"op":"put","key_b64":"YQ=="}]}`,
		`{"ops":[{"op":"delete","key_b64":"YQ==","value_b64":"YQ=="}]}`,
		`{"ops":[{"op":"put","key_b64":"not base64","value_b64":""}]}`,
		`{"ops":[{"op":"put","key_b64":"YQ==","value_b64":"YQ=="}],"extra":1}`,
	} {
		h.wantError(h.do("POST", "/v1/dataspaces/d/batch", bad), http.StatusBadRequest, codeBadRequest)
	}
	h.wantError(h.do("POST", "/v1/dataspaces/d/batch", `{"ops":[{"op":"put","key_b64":"","value_b64":""}]}`), http.StatusBadRequest, codeEmptyKey)

	// Increments: empty body means 1; negative deltas; errors.
	if r := decode[incrJSON](t, h.do("POST", "/v1/dataspaces/d/incr/n", "")); r.Value != 1 || r.Seq == 0 {
		t.Fatalf("incr: %+v", r)
	}
	if r := decode[incrJSON](t, h.do("POST", "/v1/dataspaces/d/incr/n", `{"delta":-11}`)); r.Value != -10 {
		t.Fatalf("incr -11: %+v", r)
	}
	if got := h.do("GET", "/v1/dataspaces/d/keys/n", "").Body.String(); got != "-10" {
		t.Fatalf("incremented value %q", got)
	}
	h.wantError(h.do("POST", "/v1/dataspaces/d/incr/e", `{"delta":1}`), http.StatusConflict, codeNotInteger)
	h.wantError(h.do("POST", "/v1/dataspaces/d/incr/n", `{"delta":1.5}`), http.StatusBadRequest, codeBadRequest)
	h.wantError(h.do("POST", "/v1/dataspaces/d/incr/n", `{"delta":99999999999999999999}`), http.StatusBadRequest, codeBadRequest)
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/max", strconv.FormatInt(1<<63-1, 10)), http.StatusOK)
	h.wantError(h.do("POST", "/v1/dataspaces/d/incr/max", `{"delta":1}`), http.StatusConflict, codeNotInteger)
}

// TestMalformedJSON: every JSON body gets the decoder's message with 400,
// and nothing is written.
func TestMalformedJSON(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	for _, tc := range []struct{ target, body, wantMsg string }{
		{"/v1/dataspaces", `{"name":`, "unexpected EOF"},
		{"/v1/dataspaces", `{"name":"x"} {"name":"y"}`, "data after"},
		{"/v1/dataspaces", `{"name":"x"}garbage`, "data after"},
		{"/v1/dataspaces", `["x"]`, "cannot unmarshal array"},
		{"/v1/dataspaces", `{"name":5}`, "cannot unmarshal number"},
		{"/v1/dataspaces", `{"Name":"x","bogus":true}`, `unknown field "bogus"`},
		{"/v1/dataspaces", ``, "empty"},
		{"/v1/dataspaces/d/batch", `{"ops":{}}`, "cannot unmarshal object"},
		{"/v1/dataspaces/d/batch", "\x00\xff", "invalid character"},
		{"/v1/dataspaces/d/incr/n", `{"delta":"1"}`, "cannot unmarshal string"},
		{"/v1/dataspaces/d/incr/n", `{"detla":1}`, `unknown field "detla"`},
	} {
		e := h.wantError(h.do("POST", tc.target, tc.body), http.StatusBadRequest, codeBadRequest)
		if !strings.Contains(e.Message, tc.wantMsg) {
			t.Errorf("POST %s %q: message %q, want it to contain %q", tc.target, tc.body, e.Message, tc.wantMsg)
		}
	}
	list := decode[listJSON](t, h.do("GET", "/v1/dataspaces", ""))
	if len(list.Dataspaces) != 1 {
		t.Fatalf("a malformed request created a dataspace: %+v", list.Dataspaces)
	}
	if _, err := h.db.Dataspace("d"); err != nil {
		t.Fatal(err)
	}
	ds, _ := h.db.Dataspace("d")
	if ds.LastSeq() != 0 {
		t.Fatalf("a malformed request wrote: last seq %d", ds.LastSeq())
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, Config{Token: "s3cret"}, holdfast.Options{})
	srv := httptest.NewServer(h.h)
	defer srv.Close()
	get := func(path, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/v1/dataspaces", "", http.StatusUnauthorized},
		{"/v1/dataspaces", "Bearer wrong", http.StatusUnauthorized},
		{"/v1/dataspaces", "Bearer s3cre", http.StatusUnauthorized},
		{"/v1/dataspaces", "Bearer s3cret2", http.StatusUnauthorized},
		{"/v1/dataspaces", "Basic s3cret", http.StatusUnauthorized},
		{"/v1/dataspaces", "s3cret", http.StatusUnauthorized},
		{"/v1/no/such/route", "", http.StatusUnauthorized},
		{"/v1", "", http.StatusUnauthorized},
		{"/v1/dataspaces", "Bearer s3cret", http.StatusOK},
		{"/v1/dataspaces", "bearer s3cret", http.StatusOK},
		{"/livez", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
	} {
		resp := get(tc.path, tc.auth)
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	h.wantError(h.do("GET", "/v1/dataspaces", "", "Authorization", "Bearer nope"), http.StatusUnauthorized, codeUnauthorized)
}

func TestBodyLimits(t *testing.T) {
	h := newHarness(t, Config{MaxRequestBytes: 1024}, holdfast.Options{}).withDataspace()
	big := strings.Repeat("x", 1025)
	h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/k", big), http.StatusRequestEntityTooLarge, codeTooLarge)
	h.status(h.do("PUT", "/v1/dataspaces/d/keys/k", big[:1024]), http.StatusOK)
	batch := fmt.Sprintf(`{"ops":[{"op":"put","key_b64":"YQ==","value_b64":%q}]}`, std64([]byte(big)))
	h.wantError(h.do("POST", "/v1/dataspaces/d/batch", batch), http.StatusRequestEntityTooLarge, codeTooLarge)
	h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"x"}`+strings.Repeat(" ", 2000)), http.StatusRequestEntityTooLarge, codeTooLarge)
	if got := h.do("GET", "/v1/dataspaces/d/keys/k", "").Body.Len(); got != 1024 {
		t.Fatalf("value length %d after a rejected oversize put", got)
	}
}

func TestEngineLimits(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{Limits: holdfast.Limits{
		MaxKeySizeBytes: 16, MaxValueSizeBytes: 64, MaxBatchSizeBytes: 128}}).withDataspace()
	h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/"+strings.Repeat("k", 17), "v"), http.StatusRequestEntityTooLarge, codeKeyTooLarge)
	h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/k", strings.Repeat("v", 65)), http.StatusRequestEntityTooLarge, codeValueTooLarge)
	var ops []string
	for i := range 4 {
		ops = append(ops, fmt.Sprintf(`{"op":"put","key_b64":%q,"value_b64":%q}`, std64([]byte{byte('a' + i)}), std64(bytes.Repeat([]byte("v"), 60))))
	}
	h.wantError(h.do("POST", "/v1/dataspaces/d/batch", `{"ops":[`+strings.Join(ops, ",")+`]}`), http.StatusRequestEntityTooLarge, codeBatchTooLarge)
	h.wantError(h.do("PUT", "/v1/dataspaces/d/keys/k", "v", "Idempotency-Key", strings.Repeat("r", 300)), http.StatusBadRequest, codeBadRequest) // holdfast.ErrInvalidArgument
}

func TestClosed(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	if err := h.db.Close(); err != nil {
		t.Fatal(err)
	}
	h.wantError(h.do("GET", "/v1/dataspaces/d/keys/k", ""), http.StatusServiceUnavailable, codeClosed)
	h.wantError(h.do("POST", "/v1/dataspaces", `{"name":"e"}`), http.StatusServiceUnavailable, codeClosed)
	rec := h.do("GET", "/readyz", "")
	h.status(rec, http.StatusServiceUnavailable)
	h.status(h.do("GET", "/livez", ""), http.StatusOK)
}

func TestCanceledRequest(t *testing.T) {
	h := newHarness(t, Config{}, holdfast.Options{}).withDataspace()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("PUT", "/v1/dataspaces/d/keys/k", strings.NewReader("v")).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	// The engine checks the context only while handing the write over; a
	// canceled request either did not write (canceled) or wrote (200).
	if rec.Code != http.StatusOK {
		h.wantError(rec, http.StatusServiceUnavailable, codeCanceled)
		h.wantError(h.do("GET", "/v1/dataspaces/d/keys/k", ""), http.StatusNotFound, codeNotFound)
	}
}

func TestReadyzAndObserve(t *testing.T) {
	var mu sync.Mutex
	ready, reasons := true, []string(nil)
	var seen []RequestInfo
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "holdfast_up 1\n") })
	h := newHarness(t, Config{
		Ready: func() (bool, []string) { mu.Lock(); defer mu.Unlock(); return ready, reasons },
		Observe: func(ri RequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, ri)
		},
		Metrics: metrics,
	}, holdfast.Options{}).withDataspace()

	rec := h.do("GET", "/readyz", "")
	h.status(rec, http.StatusOK)
	if r := decode[readyJSON](t, rec); !r.Ready || len(r.Reasons) != 0 {
		t.Fatalf("readyz %+v", r)
	}
	mu.Lock()
	ready, reasons = false, []string{"quiesced for a volume snapshot"}
	mu.Unlock()
	rec = h.do("GET", "/readyz", "")
	h.status(rec, http.StatusServiceUnavailable)
	if r := decode[readyJSON](t, rec); r.Ready || len(r.Reasons) != 1 || r.Reasons[0] != "quiesced for a volume snapshot" {
		t.Fatalf("readyz %+v", r)
	}
	mu.Lock()
	reasons = nil
	mu.Unlock()
	if r := decode[readyJSON](t, h.do("GET", "/readyz", "")); r.Ready || len(r.Reasons) != 1 {
		t.Fatalf("not ready without reasons must still say why: %+v", r)
	}
	if rec := h.do("GET", "/livez", ""); rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Fatalf("livez %d %q", rec.Code, rec.Body.String())
	}
	if rec := h.do("GET", "/metrics", ""); rec.Body.String() != "holdfast_up 1\n" {
		t.Fatalf("metrics %q", rec.Body.String())
	}

	mu.Lock()
	seen = nil
	mu.Unlock()
	h.do("PUT", "/v1/dataspaces/d/keys/k", "12345")
	h.do("GET", "/v1/dataspaces/d/keys/missing", "")
	h.do("GET", "/nowhere", "")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("observed %d requests, want 3: %+v", len(seen), seen)
	}
	if s := seen[0]; s.Op != "key_put" || s.Dataspace != "d" || s.Status != 200 || s.Code != "" || s.RequestBytes != 5 || s.ResponseBytes == 0 {
		t.Fatalf("put observed as %+v", s)
	}
	if s := seen[1]; s.Op != "key_get" || s.Status != 404 || s.Code != codeNotFound {
		t.Fatalf("get observed as %+v", s)
	}
	if s := seen[2]; s.Op != "no_route" || s.Status != 404 || s.Code != codeNoRoute {
		t.Fatalf("no route observed as %+v", s)
	}
}

// base64URL is the URL-safe alphabet with padding, as some clients send.
func base64URL(b []byte) string {
	return strings.NewReplacer("+", "-", "/", "_").Replace(std64(b))
}

// While the database opens, /livez is ok, /readyz is 503 with the reason,
// and data requests are 503 recovering.
func TestStarting(t *testing.T) {
	h := Starting("recovering: opening the data directory")
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/livez", 200, "ok"},
		{"/readyz", 503, `{"ready":false,"reasons":["recovering: opening the data directory"]}`},
		{"/v1/dataspaces", 503, `"code":"recovering"`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("GET %s while starting: %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.status, tc.want)
		}
	}
}
