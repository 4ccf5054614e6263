package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/holdfast-db/holdfast"
)

// dataspace returns the dataspace of the request's {name}.
func (s *server) dataspace(r *http.Request) (*holdfast.Dataspace, error) {
	name := r.PathValue("name")
	if err := holdfast.ValidName(name); err != nil {
		return nil, err
	}
	return s.db.Dataspace(name)
}

// etag is the entity tag of a value: its sequence number, quoted.
func etag(seq uint64) string { return `"` + strconv.FormatUint(seq, 10) + `"` }

// setVersion sets the headers that carry a value's version.
func setVersion(w http.ResponseWriter, seq uint64) {
	w.Header().Set("ETag", etag(seq))
	w.Header().Set("X-Holdfast-Seq", strconv.FormatUint(seq, 10))
}

// wantsJSON reports whether the Accept header prefers application/json
// over raw bytes: the first of the two media types listed wins; neither
// means raw.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "application/octet-stream":
			return false
		}
	}
	return false
}

// writeOptions turns the precondition and idempotency headers into engine
// options. If-Match: "<seq>" is a compare-and-swap on the key's version;
// If-Match: * requires the key to exist; If-None-Match: * requires it not
// to. cond reports whether a precondition was given.
func writeOptions(r *http.Request) (opts []holdfast.WriteOption, cond bool, err error) {
	if id := r.Header.Get("Idempotency-Key"); id != "" {
		opts = append(opts, holdfast.WithRequestID(id))
	}
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case im != "" && inm != "":
		return nil, false, apiErrorf(codeBadRequest, "give If-Match or If-None-Match, not both")
	case strings.TrimSpace(im) == "*":
		opts = append(opts, holdfast.IfExists())
	case im != "":
		seq, err := parseETag(im)
		if err != nil {
			return nil, false, apiErrorf(codeBadRequest, "If-Match: %v", err)
		}
		opts = append(opts, holdfast.IfVersion(seq))
	case strings.TrimSpace(inm) == "*":
		opts = append(opts, holdfast.IfVersion(0)) // version 0: the key must not exist
	case inm != "":
		return nil, false, apiErrorf(codeBadRequest, `If-None-Match on a write: only "*" is supported`)
	default:
		return opts, false, nil
	}
	return opts, true, nil
}

// parseETag parses one strong entity tag "<seq>" with seq > 0.
func parseETag(h string) (uint64, error) {
	h = strings.TrimSpace(h)
	if len(h) < 2 || h[0] != '"' || h[len(h)-1] != '"' {
		return 0, errors.New(`want one strong entity tag "<seq>" (lists and weak tags are not supported)`)
	}
	seq, err := strconv.ParseUint(h[1:len(h)-1], 10, 64)
	if err != nil || seq == 0 {
		return 0, errors.New(`want "<seq>" with seq a positive decimal sequence number`)
	}
	return seq, nil
}

// preconditionFailed turns the engine's answer to a failed If-Match: * into
// a 412: the key it required is missing. Other errors pass unchanged.
func preconditionFailed(err error, cond bool) error {
	if cond && errors.Is(err, holdfast.ErrNotFound) {
		return apiErrorf(codeVersionMismatch, "precondition failed: %v", err)
	}
	return err
}

// keyJSON is a key with its value and version, in JSON mode and in scans.
type keyJSON struct {
	KeyB64   string `json:"key_b64"`
	ValueB64 string `json:"value_b64"`
	Seq      uint64 `json:"seq"`
}

// getKey: GET /v1/dataspaces/{name}/keys/{key...}
func (s *server) getKey(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	key, err := requestKey(r)
	if err != nil {
		return err
	}
	v, err := ds.Get(r.Context(), key)
	if err != nil {
		return err
	}
	setVersion(w, v.Seq)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			if t := strings.TrimSpace(tag); t == etag(v.Seq) || t == "W/"+etag(v.Seq) || t == "*" {
				w.WriteHeader(http.StatusNotModified)
				return nil
			}
		}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, keyJSON{KeyB64: b64(key), ValueB64: b64(v.Data), Seq: v.Seq})
		return nil
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(v.Data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(v.Data) // a failed write is a client gone away
	return nil
}

// seqJSON answers a write.
type seqJSON struct {
	Seq uint64 `json:"seq"`
}

// putKey: PUT /v1/dataspaces/{name}/keys/{key...}, body = the raw value.
func (s *server) putKey(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	key, err := requestKey(r)
	if err != nil {
		return err
	}
	opts, cond, err := writeOptions(r)
	if err != nil {
		return err
	}
	value, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return apiErrorf(codeBadRequest, "reading the value: %v", err)
	}
	seq, err := ds.Put(r.Context(), key, value, opts...)
	if err != nil {
		return preconditionFailed(err, cond)
	}
	setVersion(w, seq)
	writeJSON(w, http.StatusOK, seqJSON{Seq: seq})
	return nil
}

// deleteJSON answers a delete. Deleting a missing key writes nothing:
// deleted is false and seq is 0.
type deleteJSON struct {
	Deleted bool   `json:"deleted"`
	Seq     uint64 `json:"seq"`
}

// deleteKey: DELETE /v1/dataspaces/{name}/keys/{key...}
func (s *server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	key, err := requestKey(r)
	if err != nil {
		return err
	}
	opts, cond, err := writeOptions(r)
	if err != nil {
		return err
	}
	existed, seq, err := ds.Delete(r.Context(), key, opts...)
	if err != nil {
		return preconditionFailed(err, cond)
	}
	if seq != 0 {
		w.Header().Set("X-Holdfast-Seq", strconv.FormatUint(seq, 10))
	}
	writeJSON(w, http.StatusOK, deleteJSON{Deleted: existed, Seq: seq})
	return nil
}

// incrRequest is the body of an increment; an empty body means delta 1.
type incrRequest struct {
	Delta *int64 `json:"delta"`
}

type incrJSON struct {
	Value int64  `json:"value"`
	Seq   uint64 `json:"seq"`
}

// incr: POST /v1/dataspaces/{name}/incr/{key...} {"delta": n}
func (s *server) incr(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	key, err := requestKey(r)
	if err != nil {
		return err
	}
	var req incrRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	delta := int64(1)
	if req.Delta != nil {
		delta = *req.Delta
	}
	opts, cond, err := writeOptions(r)
	if err != nil {
		return err
	}
	if cond {
		return apiErrorf(codeBadRequest, "incr takes no If-Match or If-None-Match")
	}
	n, seq, err := ds.Incr(r.Context(), key, delta, opts...)
	if err != nil {
		return err
	}
	setVersion(w, seq)
	writeJSON(w, http.StatusOK, incrJSON{Value: n, Seq: seq})
	return nil
}

// batchRequest is an atomic batch of puts and deletes.
type batchRequest struct {
	Ops       []batchOp `json:"ops"`
	RequestID string    `json:"request_id"`
}

type batchOp struct {
	Op       string  `json:"op"`
	KeyB64   string  `json:"key_b64"`
	ValueB64 *string `json:"value_b64"`
}

// batch: POST /v1/dataspaces/{name}/batch
func (s *server) batch(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	var req batchRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if len(req.Ops) == 0 {
		return apiErrorf(codeBadRequest, "batch: ops is empty")
	}
	var b holdfast.Batch
	for i, o := range req.Ops {
		key, err := decodeB64Field("ops["+strconv.Itoa(i)+"].key_b64", o.KeyB64)
		if err != nil {
			return err
		}
		switch o.Op {
		case "put":
			if o.ValueB64 == nil {
				return apiErrorf(codeBadRequest, "ops[%d]: a put needs value_b64", i)
			}
			value, err := decodeB64Field("ops["+strconv.Itoa(i)+"].value_b64", *o.ValueB64)
			if err != nil {
				return err
			}
			b.Put(key, value)
		case "delete":
			if o.ValueB64 != nil {
				return apiErrorf(codeBadRequest, "ops[%d]: a delete takes no value_b64", i)
			}
			b.Delete(key)
		default:
			return apiErrorf(codeBadRequest, `ops[%d].op: %q, want "put" or "delete"`, i, o.Op)
		}
	}
	opts, cond, err := writeOptions(r)
	if err != nil {
		return err
	}
	if cond {
		return apiErrorf(codeBadRequest, "a batch takes no If-Match or If-None-Match")
	}
	if req.RequestID != "" {
		if h := r.Header.Get("Idempotency-Key"); h != "" && h != req.RequestID {
			return apiErrorf(codeBadRequest, "request_id and the Idempotency-Key header differ")
		}
		opts = append(opts, holdfast.WithRequestID(req.RequestID))
	}
	seq, err := ds.Apply(r.Context(), &b, opts...)
	if err != nil {
		return err
	}
	w.Header().Set("X-Holdfast-Seq", strconv.FormatUint(seq, 10))
	writeJSON(w, http.StatusOK, seqJSON{Seq: seq})
	return nil
}

// scanJSON is one page of a scan. Next, when not null, is the base64 of
// the last key returned: pass it as after_b64 for the following page.
type scanJSON struct {
	Items []keyJSON `json:"items"`
	Next  *string   `json:"next"`
}

// scanKeysJSON is a page of a scan with keys_only=true: no values.
type scanKeysJSON struct {
	Items []keyOnlyJSON `json:"items"`
	Next  *string       `json:"next"`
}

type keyOnlyJSON struct {
	KeyB64 string `json:"key_b64"`
	Seq    uint64 `json:"seq"`
}

// scan: GET /v1/dataspaces/{name}/keys?prefix=&start=&end=&after=&limit=&max_bytes=&keys_only=
func (s *server) scan(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.dataspace(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var opts holdfast.ScanOptions
	for _, p := range []struct {
		name string
		dst  *[]byte
	}{{"prefix", &opts.Prefix}, {"start", &opts.Start}, {"end", &opts.End}, {"after", &opts.After}} {
		b, ok, err := queryBytes(q, p.name)
		if err != nil {
			return err
		}
		if ok {
			if b == nil {
				b = []byte{} // present but empty: an empty bound, not "no bound"
			}
			*p.dst = b
		}
	}
	if len(opts.End) == 0 {
		opts.End = nil // an empty end bound would select nothing; treat as none
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > holdfast.MaxScanLimit {
			return apiErrorf(codeBadRequest, "limit: %q, want 1..%d", l, holdfast.MaxScanLimit)
		}
		opts.Limit = n
	}
	if m := q.Get("max_bytes"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > holdfast.DefaultScanMaxBytes {
			return apiErrorf(codeBadRequest, "max_bytes: %q, want 1..%d", m, holdfast.DefaultScanMaxBytes)
		}
		opts.MaxBytes = n
	}
	if k := q.Get("keys_only"); k != "" {
		b, err := strconv.ParseBool(k)
		if err != nil {
			return apiErrorf(codeBadRequest, "keys_only: %q, want true or false", k)
		}
		opts.KeysOnly = b
	}
	page, err := ds.Scan(r.Context(), opts)
	if err != nil {
		return err
	}
	var next *string
	if page.Next != nil {
		n := b64(page.Next)
		next = &n
	}
	if opts.KeysOnly {
		out := scanKeysJSON{Items: make([]keyOnlyJSON, 0, len(page.KVs)), Next: next}
		for _, kv := range page.KVs {
			out.Items = append(out.Items, keyOnlyJSON{KeyB64: b64(kv.Key), Seq: kv.Value.Seq})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	out := scanJSON{Items: make([]keyJSON, 0, len(page.KVs)), Next: next}
	for _, kv := range page.KVs {
		out.Items = append(out.Items, keyJSON{KeyB64: b64(kv.Key), ValueB64: b64(kv.Value.Data), Seq: kv.Value.Seq})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
